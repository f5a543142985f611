// A mocha root-hook plugin (.mocharc.json "require"; with --no-config: --require tests/dist/file-time-limit.js):
// each test file gets FILE_TIME_LIMIT_MS from its first test to its last `after` hook. A file over it fails the
// test (or hook) running at that moment with a message naming the file, instead of a CI run that ends in a
// time-out with no summary. Each test and hook keeps its own mocha timeout too (the `before` hooks that set a
// file up are bounded by theirs); this bounds a file whose many waits add up.
import type { Context, Suite } from 'mocha';
import { relative } from 'node:path';

/** The whole suite takes a few minutes on a laptop, the slowest file well under one; IMESH_TEST_FILE_LIMIT_S moves it. */
const FILE_TIME_LIMIT_MS = fileTimeLimitMs(process.env['IMESH_TEST_FILE_LIMIT_S']);

let currentFile: string | undefined;
let timer: NodeJS.Timeout | undefined;

export const mochaHooks = {
  beforeAll(this: Context): void {
    // The root suite's children are the files' top-level suites; the limit ends after the last one of each file.
    const lastSuiteOf = new Map<string, Suite>();
    for (const suite of this.test?.parent?.suites ?? []) if (suite.file !== undefined) lastSuiteOf.set(suite.file, suite);
    for (const suite of lastSuiteOf.values()) suite.afterAll('end of the file: its time limit is off', () => clearTimeout(timer));
  },
  beforeEach(this: Context): void {
    const file = this.currentTest?.file;
    if (file === undefined || file === currentFile) return;
    currentFile = file;
    clearTimeout(timer);
    timer = setTimeout(() => {
      // Thrown from a timer: mocha takes it as an uncaught error of whatever runs now and fails that, then
      // goes on (the file's `after` hooks stop what it started).
      throw new Error(`${relative(process.cwd(), file)} has run for over ${FILE_TIME_LIMIT_MS / 1000} s, its time limit: a test or hook in it hangs`);
    }, FILE_TIME_LIMIT_MS);
    // The limit never keeps the process alive by itself.
    timer.unref();
  },
  afterAll(): void {
    clearTimeout(timer);
  },
};

function fileTimeLimitMs(seconds: string | undefined): number {
  if (seconds === undefined) return 5 * 60_000;
  if (!/^[0-9]+$/.test(seconds) || Number(seconds) === 0) throw new Error(`IMESH_TEST_FILE_LIMIT_S=${JSON.stringify(seconds)}: expected a whole number of seconds, at least 1`);
  return Number(seconds) * 1000;
}
