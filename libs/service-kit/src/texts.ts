import { invalidArgument } from './errors';

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Decodes texts that travel as proto `bytes`, refusing invalid UTF-8 and empty items with INVALID_ARGUMENT
 * naming the field and index (protobufjs would silently replace bad bytes in a `string` field).
 */
export function decodeUtf8Texts(field: string, items: readonly Uint8Array[], maxItems: number): string[] {
  if (items.length === 0) throw invalidArgument(`${field} is empty: send at least one text`);
  if (items.length > maxItems) {
    throw invalidArgument(`${field} has ${items.length} items; at most ${maxItems} are accepted per call: split the batch`);
  }
  const texts = new Array<string>(items.length);
  for (let i = 0; i < items.length; i++) {
    const bytes = items[i]!;
    if (bytes.length === 0) throw invalidArgument(`${field}[${i}] is empty: every text needs at least one character`);
    try {
      texts[i] = strictUtf8.decode(bytes);
    } catch {
      throw invalidArgument(`${field}[${i}] is not valid UTF-8`);
    }
  }
  return texts;
}
