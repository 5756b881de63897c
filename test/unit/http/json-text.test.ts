import { describe, expect, it } from 'vitest';
import { jsonTextProblem, renderPath } from '../../../functions/http/json-text.ts';

const nested = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;

describe('checks on JSON text before it is parsed', () => {
  it('allows nesting up to the limit and names where it goes deeper', () => {
    expect(jsonTextProblem(nested(100))).toBeUndefined();
    expect(jsonTextProblem(nested(101))).toEqual({
      kind: 'too-deep',
      path: Array.from({ length: 100 }, () => 0),
    });
    const body = `{"records":[{"value":1},{"key":"k","value":{"a":[1,${nested(97)}]}}]}`;
    expect(jsonTextProblem(body)).toEqual({
      kind: 'too-deep',
      path: ['records', 1, 'value', 'a', 1, ...Array.from({ length: 95 }, () => 0)],
    });
    expect(jsonTextProblem(`{"a":${nested(99)}}`)).toBeUndefined();
  });

  it('checks a body nested far beyond what recursion could take', () => {
    expect(jsonTextProblem(nested(3_000_000))?.kind).toBe('too-deep');
  });

  it('is not fooled by brackets, quotes and commas inside strings', () => {
    const text = `{"[[[":"{{{\\"]]],","b\\\\":[${nested(98)}, "x"]}`;
    expect(JSON.parse(text)).toBeTruthy();
    expect(jsonTextProblem(text)).toBeUndefined();
    expect(jsonTextProblem(`{"[,":"\\"", "b": ${nested(100)}}`)).toEqual({
      kind: 'too-deep',
      path: ['b', ...Array.from({ length: 99 }, () => 0)],
    });
  });

  it('refuses unpaired surrogates, escaped or not, in values and member names', () => {
    expect(jsonTextProblem('["\\ud83d\\ude00", "😀", "\\u00e9"]')).toBeUndefined();
    for (const [text, path] of [
      ['{"a":["x","\\ud800"]}', ['a', 1]],
      ['{"a":"\\udc00\\ud800"}', ['a']],
      ['{"a":"\\uD83D"}', ['a']],
      ['{"\\ud800":1}', ['\ud800']],
      ['["\ud800"]', [0]],
      ['"\\ude00x"', []],
    ] as const) {
      expect(jsonTextProblem(text), text).toEqual({ kind: 'lone-surrogate', path });
    }
    expect(jsonTextProblem('["\\ud800"]', { surrogates: false })).toBeUndefined();
  });

  it('refuses numbers beyond the range of a double, which would be read as Infinity', () => {
    const fine =
      '[1e308, -1.7976931348623157e308, 1e-400, 123456789012345678901234567890, "1e400"]';
    expect(jsonTextProblem(fine)).toBeUndefined();
    for (const [text, path] of [
      ['{"a":[0,1e400]}', ['a', 1]],
      ['{"a":-2E+308}', ['a']],
      [`[${'9'.repeat(400)}]`, [0]],
      ['1e309', []],
    ] as const) {
      expect(jsonTextProblem(text), text).toEqual({ kind: 'number-out-of-range', path });
    }
    // Not a number JSON would read: the parser's to refuse.
    expect(jsonTextProblem('[1-2e400x]')).toBeUndefined();
  });

  it('leaves text that is not JSON to the parser', () => {
    for (const text of ['', '{', ']]]', '"\\u12', '"\\ud800\\u', '{"a" "b"}']) {
      expect(() => jsonTextProblem(text), text).not.toThrow();
    }
  });

  it('renders a path as a reader would write it, cut short when long', () => {
    expect(renderPath(['records', 3, 'value', 'a b', 0])).toBe('records[3].value["a b"][0]');
    expect(renderPath([0, 'x'])).toBe('[0].x');
    expect(renderPath(['key'], { prefix: 'line 2' })).toBe('line 2.key');
    expect(
      renderPath(
        Array.from({ length: 100 }, () => 0),
        { limit: 20 },
      ),
    ).toBe(`${'[0]'.repeat(6)}…`);
  });
});
