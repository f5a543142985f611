import { isUtf8 } from 'node:buffer';
import type { EnvReader } from './env-config';
import { invalidArgument } from './errors';

/**
 * IMESH_MAX_BATCH_TEXTS: texts (rows) one call may carry. One setting for the gateway, tokenizer and postprocess,
 * read the same way by each, so that no value starts one service and stops another.
 */
export function readMaxBatchTexts(env: EnvReader): number {
  return env.integer('IMESH_MAX_BATCH_TEXTS', 256, { min: 1, max: 65_536 });
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Refuses a batch of texts that travel as proto `bytes` (protobufjs would silently replace bad bytes in a
 * `string` field) with INVALID_ARGUMENT naming the field and index: no items, more than `maxItems`, an empty
 * item, or invalid UTF-8. Reads the bytes in place: nothing is copied or decoded.
 */
export function checkUtf8Texts(field: string, items: readonly Uint8Array[], maxItems: number): void {
  checkCount(field, items, maxItems);
  for (let i = 0; i < items.length; i++) {
    const bytes = items[i]!;
    if (bytes.length === 0) throw invalidArgument(`${field}[${i}] is empty: every text needs at least one character`);
    if (!isUtf8(bytes)) throw invalidArgument(`${field}[${i}] is not valid UTF-8`);
  }
}

/** The texts as strings, refused as checkUtf8Texts refuses them; one strict decode reads each text once. */
export function decodeUtf8Texts(field: string, items: readonly Uint8Array[], maxItems: number): string[] {
  checkCount(field, items, maxItems);
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

function checkCount(field: string, items: readonly Uint8Array[], maxItems: number): void {
  if (items.length === 0) throw invalidArgument(`${field} is empty: send at least one text`);
  if (items.length > maxItems) {
    throw invalidArgument(`${field} has ${items.length} items; at most ${maxItems} are accepted per call: split the batch`);
  }
}
