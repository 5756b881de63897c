import { describe, expect, it } from 'vitest';
import { InputError } from '../../sdk/cli/exit-codes.ts';
import { type LineOptions, recordFromLine } from '../../sdk/cli/record-input.ts';

const lines: LineOptions = {
  as: 'text',
  ndjson: false,
  keySeparator: undefined,
  partition: undefined,
  headers: [],
};
const utf8 = new TextEncoder();

describe('a line as a record', () => {
  it('is the value, as text, by default', () => {
    expect(recordFromLine('{"not": "parsed"}', 1, lines)).toEqual({ value: '{"not": "parsed"}' });
  });

  it('splits at the first key separator, and has no key without one', () => {
    const options = { ...lines, keySeparator: '::' };
    expect(recordFromLine('alice::buy::now', 1, options)).toEqual({
      key: 'alice',
      value: 'buy::now',
    });
    expect(recordFromLine('no key', 2, options)).toEqual({ value: 'no key' });
  });

  it('parses JSON, decodes base64, and names the line it cannot read', () => {
    expect(recordFromLine('{"a": 1}', 1, { ...lines, as: 'json' })).toEqual({ value: { a: 1 } });
    expect(recordFromLine('aw==:yv4=', 1, { ...lines, as: 'base64', keySeparator: ':' })).toEqual({
      key: new Uint8Array([0x6b]),
      value: new Uint8Array([0xca, 0xfe]),
    });
    expect(() => recordFromLine('nope', 7, { ...lines, as: 'json' })).toThrow(
      new InputError('line 7 is not JSON (--format json); use --format text for plain lines.'),
    );
    expect(() => recordFromLine('*', 3, { ...lines, as: 'base64' })).toThrow(
      /line 3 is not base64/,
    );
  });

  it('takes --partition and --header for every record', () => {
    const options = { ...lines, partition: 2, headers: [{ name: 'src', value: 'cli' }] };
    expect(recordFromLine('v', 1, options)).toEqual({
      value: 'v',
      partition: 2,
      headers: [{ name: 'src', value: utf8.encode('cli') }],
    });
  });
});

describe('an NDJSON line as a record', () => {
  const ndjson = { ...lines, as: 'json', ndjson: true } as const;

  it('carries key, value, headers, partition and timestamp', () => {
    const line =
      '{"key": "k", "value": {"x": 1}, "headers": [{"name": "h", "value": 2}], "partition": 1, "timestamp": 5}';
    expect(recordFromLine(line, 1, ndjson)).toEqual({
      key: 'k',
      value: { x: 1 },
      headers: [{ name: 'h', value: 2 }],
      partition: 1,
      timestamp: 5,
    });
    // --partition only fills in a record that names none.
    expect(recordFromLine('{"value": 1, "partition": 0}', 1, { ...ndjson, partition: 3 })).toEqual({
      value: 1,
      partition: 0,
    });
  });

  it('reads values as base64 or text when told', () => {
    expect(
      recordFromLine('{"key": "aw==", "value": "yv4="}', 1, { ...ndjson, as: 'base64' }),
    ).toEqual({
      key: new Uint8Array([0x6b]),
      value: new Uint8Array([0xca, 0xfe]),
    });
    expect(() => recordFromLine('{"value": 1}', 4, { ...ndjson, as: 'text' })).toThrow(
      /line 4: value must be a string with --format text/,
    );
  });

  it('refuses a typo rather than drop the field, and a record without a value', () => {
    expect(() => recordFromLine('{"vaule": 1}', 2, ndjson)).toThrow(
      /line 2 has an unknown field 'vaule' \(did you mean 'value'\?\)/,
    );
    expect(() => recordFromLine('{"valu": 1}', 2, ndjson)).toThrow(
      /unknown field 'valu' \(did you mean 'value'\?\)/,
    );
    expect(() => recordFromLine('{"value": 1, "colour": 2}', 2, ndjson)).toThrow(
      /unknown field 'colour'; a record has/,
    );
    expect(() => recordFromLine('{"key": "k"}', 3, ndjson)).toThrow(/line 3 has no value/);
    expect(() => recordFromLine('[1]', 4, ndjson)).toThrow(/line 4 is not a record object/);
  });
});
