import { describe, expect, it } from 'vitest';
import { encodeKey, encodeValue, renderBytes } from '../../../functions/http/record-format.ts';
import { codeOf } from '../../support/errors.ts';

const bytes = (...b: number[]) => new Uint8Array(b);

describe('record formats (the wire contract)', () => {
  it('json: values as compact JSON text, keys as UTF-8 strings', () => {
    expect(encodeValue('json', { a: [1, 'é'] }, 'v', 0)).toEqual(
      new TextEncoder().encode('{"a":[1,"é"]}'),
    );
    expect(encodeValue('json', 'text', 'v', 0)).toEqual(new TextEncoder().encode('"text"'));
    expect(encodeKey('json', 'user-1', 'k', 0)).toEqual(new TextEncoder().encode('user-1'));
    expect(renderBytes('json', new TextEncoder().encode('{"a":1}'), 'value', 0)).toEqual({ a: 1 });
    expect(renderBytes('json', new TextEncoder().encode('user-1'), 'key', 0)).toBe('user-1');
  });

  it('null is a null key, a tombstone value or a null header in every format', () => {
    for (const format of ['json', 'text', 'base64'] as const) {
      expect(encodeValue(format, null, 'v', 0)).toBeNull();
      expect(encodeKey(format, null, 'k', 0)).toBeNull();
      expect(renderBytes(format, null, 'value', 0)).toBeNull();
    }
  });

  it('base64: exact bytes both ways, strict about the alphabet and padding', () => {
    expect([...(encodeValue('base64', 'AP8BgA==', 'v', 0) ?? [])]).toEqual([0, 255, 1, 128]);
    expect(renderBytes('base64', bytes(0, 255, 1, 128), 'value', 0)).toBe('AP8BgA==');
    for (const bad of ['AP8BgA=', 'AP8B gA==', 'AP8BgA==\n', '!!!!', 'A', '_-8=']) {
      expect(
        codeOf(() => encodeValue('base64', bad, 'v', 0)),
        bad,
      ).toBe('INVALID_RECORD');
    }
    expect(encodeValue('base64', '', 'v', 0)?.byteLength).toBe(0);
  });

  it('text: strings only, rendered back only from valid UTF-8', () => {
    expect(codeOf(() => encodeValue('text', 5, 'v', 0))).toBe('INVALID_RECORD');
    expect(codeOf(() => encodeKey('json', 5, 'k', 0))).toBe('INVALID_RECORD');
    expect(codeOf(() => renderBytes('text', bytes(0xc3), 'value', 7))).toBe('RECORD_NOT_DECODABLE');
    expect(
      codeOf(() => renderBytes('json', new TextEncoder().encode('not json'), 'value', 7)),
    ).toBe('RECORD_NOT_DECODABLE');
  });

  it('json: refuses to render a stored value nested deeper than a JSON body may be', () => {
    const nested = (depth: number) =>
      new TextEncoder().encode(`${'['.repeat(depth)}${']'.repeat(depth)}`);
    expect(codeOf(() => renderBytes('json', nested(5_000), 'value', 7))).toBe(
      'RECORD_NOT_DECODABLE',
    );
    expect(renderBytes('text', nested(5_000), 'value', 7)).toHaveLength(10_000);
    expect(JSON.stringify(renderBytes('json', nested(100), 'value', 7))).toHaveLength(200);
  });
});
