import { status } from '@grpc/grpc-js';
import { strict as assert } from 'node:assert';
import { EnvReader, isConfigError } from './env-config';
import { isServiceError } from './errors';
import { checkUtf8Texts, decodeUtf8Texts, readMaxBatchTexts } from './texts';

/** Asserts that checkUtf8Texts refuses `items` with INVALID_ARGUMENT and exactly `message`. */
function assertRefused(items: Uint8Array[], maxItems: number, message: string, why?: string): void {
  assert.throws(() => checkUtf8Texts('texts', items, maxItems), { name: 'ServiceError', code: status.INVALID_ARGUMENT, message }, why);
}

describe('checkUtf8Texts', () => {
  it('accepts valid UTF-8, multi-byte characters included, and leaves the bytes as they were', () => {
    const items = [Buffer.from('héllo'), Buffer.from('日本')];
    const before = items.map((item) => Buffer.from(item));
    checkUtf8Texts('texts', items, 2);
    assert.deepEqual(items, before);
  });

  it('names the first item that is empty or not UTF-8, in the order the items came', () => {
    assertRefused([Buffer.from('ok'), Buffer.from([0xed, 0xa0, 0x80])], 4, 'texts[1] is not valid UTF-8', 'an encoded surrogate');
    assertRefused([Buffer.from([0xc0, 0xaf]), Buffer.alloc(0)], 4, 'texts[0] is not valid UTF-8', 'an overlong encoding');
    assertRefused([Buffer.from('a'), Buffer.alloc(0), Buffer.from([0xff])], 4, 'texts[1] is empty: every text needs at least one character');
  });

  it('refuses an empty batch and a batch over the limit before reading any item', () => {
    assertRefused([], 4, 'texts is empty: send at least one text');
    assertRefused([Buffer.from([0xff]), Buffer.from('b')], 1, 'texts has 2 items; at most 1 are accepted per call: split the batch');
  });
});

describe('readMaxBatchTexts', () => {
  it('is 256 by default and takes IMESH_MAX_BATCH_TEXTS from 1 to 65536, refusing the rest by name', () => {
    assert.equal(readMaxBatchTexts(new EnvReader({})), 256);
    assert.equal(readMaxBatchTexts(new EnvReader({ IMESH_MAX_BATCH_TEXTS: '65536' })), 65_536);
    for (const value of ['0', '70000', 'many']) {
      const env = new EnvReader({ IMESH_MAX_BATCH_TEXTS: value });
      readMaxBatchTexts(env);
      assert.throws(() => env.done(), (error: unknown) => isConfigError(error) && error.message.includes(`IMESH_MAX_BATCH_TEXTS="${value}": expected an integer from 1 to 65536`));
    }
  });
});

describe('decodeUtf8Texts', () => {
  const code = (fn: () => unknown) => {
    try {
      fn();
    } catch (error) {
      assert.ok(isServiceError(error));
      return [error.code, error.message];
    }
    return assert.fail('expected an error');
  };

  it('decodes UTF-8, multi-byte characters included', () => {
    assert.deepEqual(decodeUtf8Texts('texts', [Buffer.from('héllo'), Buffer.from('日本')], 4), ['héllo', '日本']);
  });

  it('refuses invalid UTF-8, empty items, an empty batch and a batch over the limit with INVALID_ARGUMENT', () => {
    assert.deepEqual(code(() => decodeUtf8Texts('texts', [Buffer.from('ok'), Buffer.from([0xc3, 0x28])], 4)), [
      status.INVALID_ARGUMENT,
      'texts[1] is not valid UTF-8',
    ]);
    assert.deepEqual(code(() => decodeUtf8Texts('texts', [Buffer.alloc(0)], 4))[1], 'texts[0] is empty: every text needs at least one character');
    assert.deepEqual(code(() => decodeUtf8Texts('texts', [], 4))[1], 'texts is empty: send at least one text');
    assert.match(String(code(() => decodeUtf8Texts('texts', [Buffer.from('a'), Buffer.from('b')], 1))[1]), /texts has 2 items; at most 1/);
  });
});
