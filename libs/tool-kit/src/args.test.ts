import { strict as assert } from 'node:assert';
import { definedOnly, optionalInteger, optionTable, parseStrict, positiveIntegerList, seconds, UsageError } from './args';

describe('tool-kit arguments', () => {
  it('builds an option table from names: values, flags, repeatable values and one-letter aliases', () => {
    const options = optionTable({ text: ['out'], flags: ['quick'], lists: ['file'], short: { out: 'o', file: 'f' } });
    assert.deepEqual(options, { out: { type: 'string', short: 'o' }, quick: { type: 'boolean' }, file: { type: 'string', multiple: true, short: 'f' } });
    const { values } = parseStrict(['--quick', '-o', 'dir', '-f', 'a.yaml', '--file', 'b.yaml'], options);
    const out: string | undefined = values.out;
    const files: string[] | undefined = values.file;
    assert.deepEqual([out, values.quick, files], ['dir', true, ['a.yaml', 'b.yaml']]);
  });

  it('parses options and positionals, and turns an unknown option into a UsageError', () => {
    const options = { quick: { type: 'boolean' }, out: { type: 'string', short: 'o' } } as const;
    const { values, positionals } = parseStrict(['mesh', '--quick', '-o', 'dir', '--out=other'], options);
    assert.deepEqual(positionals, ['mesh']);
    assert.equal(values.quick, true);
    assert.equal(values.out, 'other');
    assert.throws(() => parseStrict(['--fast'], options), (error: Error) => error instanceof UsageError && /--fast/.test(error.message) && !error.message.includes('\n'));
  });

  it('checks integers, integer lists and seconds, naming the option and the value in the message', () => {
    assert.equal(optionalInteger(undefined, '--n', 1), undefined);
    assert.equal(optionalInteger('12', '--n', 1), 12);
    assert.throws(() => optionalInteger('0', '--n', 1), /--n must be an integer >= 1, got "0"/);
    assert.throws(() => optionalInteger('1.5', '--n', 0), UsageError);
    assert.deepEqual(positiveIntegerList('1, 8,8,64', '--concurrency'), [1, 8, 64]);
    assert.throws(() => positiveIntegerList('1,,2', '--concurrency'), /--concurrency must be positive integers/);
    assert.equal(seconds('0.5', '--duration-s', 0.01), 0.5);
    assert.throws(() => seconds('soon', '--duration-s', 0), /--duration-s must be a number of seconds from 0 to 3600, got "soon"/);
    assert.deepEqual(definedOnly({ a: 1, b: undefined }), { a: 1 });
  });
});
