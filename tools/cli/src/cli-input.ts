import { once } from 'node:events';
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { Transform, type Readable } from 'node:stream';

// The input side of `imesh classify --file` and `imesh submit --file`: one text per line, strict UTF-8.

export interface InputLines {
  readonly lines: AsyncIterable<string>;
  /** `stdin` for "-", else the file name: for messages. */
  readonly name: string;
  close(): void;
}

/** FILE's lines ("-": stdin), read as they are consumed. */
export function openInputFile(file: string): InputLines {
  const name = file === '-' ? 'stdin' : file;
  return { ...openLines(file === '-' ? process.stdin : createReadStream(file), name), name };
}

/** Lines of `input`, read as they are consumed; bytes that are not UTF-8 fail the read instead of becoming U+FFFD. */
export function openLines(input: Readable, name: string): { readonly lines: AsyncIterable<string>; close(): void } {
  const decoded = strictUtf8(name);
  // pipe() does not carry a read error (a missing file, say) on: hand it to `decoded`, failing the line iterator.
  input.on('error', (error) => decoded.destroy(error));
  input.pipe(decoded);
  const lines = createInterface({ input: decoded, crlfDelay: Infinity });
  return {
    lines,
    close: () => {
      lines.close();
      input.unpipe(decoded);
      input.destroy();
    },
  };
}

function strictUtf8(name: string): Transform {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let offset = 0;
  return new Transform({
    readableObjectMode: true,
    transform(chunk: Buffer, _encoding, callback) {
      try {
        const text = decoder.decode(chunk, { stream: true });
        offset += chunk.length;
        callback(null, text === '' ? undefined : text);
      } catch {
        callback(new Error(`${name} is not valid UTF-8 (in bytes ${offset} to ${offset + chunk.length - 1})`));
      }
    },
    flush(callback) {
      try {
        const text = decoder.decode();
        callback(null, text === '' ? undefined : text);
      } catch {
        callback(new Error(`${name} is not valid UTF-8 (it ends inside a character)`));
      }
    },
  });
}

/** Waits when stdout's buffer is full, so a slow reader slows the classification rather than filling memory. */
export async function writeOut(text: string): Promise<void> {
  if (!process.stdout.write(text)) await once(process.stdout, 'drain');
}

/** The reader went away (`imesh ... | head`): nothing left to do, and nothing worth saying. */
export function exitOnStdoutError(): void {
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(0);
    process.stderr.write(`imesh: stdout: ${error.message}\n`);
    process.exit(1);
  });
}
