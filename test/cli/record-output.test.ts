import { describe, expect, it } from 'vitest';
import { UsageError } from '../../sdk/cli/args.ts';
import {
  compileTemplate,
  type ReadAs,
  type RecordOutput,
  renderRecords,
} from '../../sdk/cli/record-output.ts';
import type { ConsumedRecord } from '../../sdk/src/index.ts';

const utf8 = new TextEncoder();

function record(
  value: Uint8Array | string | null,
  extra: Partial<ConsumedRecord<'binary'>> = {},
): ConsumedRecord<'binary'> {
  return {
    topic: 'orders',
    partition: 2,
    offset: 7,
    timestamp: 1_700_000_000_000,
    key: utf8.encode('alice'),
    value: typeof value === 'string' ? utf8.encode(value) : value,
    headers: [{ name: 'trace', value: utf8.encode('abc') }],
    ...extra,
  };
}

const render = (
  values: (Uint8Array | string | null)[],
  as: ReadAs = 'auto',
  output: RecordOutput = { kind: 'value' },
) =>
  renderRecords(
    values.map((v) => record(v)),
    as,
    output,
  );

describe('the default output: one value per line', () => {
  it('prints a JSON string raw, other JSON compact, text as it is and a tombstone empty', () => {
    expect(render(['"hi"', '{ "a" : [1, 2] }', 'plain text', '42', 'null', '', null])).toBe(
      'hi\n{"a":[1,2]}\nplain text\n42\nnull\n\n\n',
    );
  });

  it('keeps the stored text with --format text, and the bytes with --format base64', () => {
    expect(render(['"hi"', '{ "a" : 1 }'], 'text')).toBe('"hi"\n{ "a" : 1 }\n');
    expect(render([new Uint8Array([0xca, 0xfe])], 'base64')).toBe('yv4=\n');
  });

  it('refuses bytes that are not UTF-8, and text that is not JSON with --format json', () => {
    expect(() => render([new Uint8Array([0xff])])).toThrow(/orders-2 at offset 7 is not UTF-8/);
    expect(() => render(['plain'], 'json')).toThrow(/is not JSON/);
  });
});

describe('--output json', () => {
  it('prints each record as one object, keys as text, values and headers decoded', () => {
    expect(JSON.parse(render(['{"amount":42}'], 'auto', { kind: 'json' }))).toEqual({
      topic: 'orders',
      partition: 2,
      offset: 7,
      timestamp: 1_700_000_000_000,
      key: 'alice',
      value: { amount: 42 },
      headers: [{ name: 'trace', value: 'abc' }],
    });
  });
});

describe('--format-string', () => {
  it('fills in every field, with escapes and %%', () => {
    const parts = compileTemplate('%t/%p@%o %T %k=%v [%h] 100%%\\t%s\\n');
    expect(render(['"v"'], 'auto', { kind: 'template', parts })).toBe(
      'orders/2@7 1700000000000 alice=v [trace=abc] 100%\tv\n',
    );
  });

  it('refuses an unknown field or escape, and a trailing lone %', () => {
    expect(() => compileTemplate('%x')).toThrow(UsageError);
    expect(() => compileTemplate('\\q')).toThrow(UsageError);
    expect(() => compileTemplate('%v%')).toThrow(/lone '%'/);
  });
});
