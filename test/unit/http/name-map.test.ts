import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { nameMap, parsedJson } from '../../../functions/http/name-map.ts';
import { invalidRequest } from '../../../functions/http/schema-errors.ts';

/** JSON text parsed, so that `__proto__` is a member, as it is in a request body. */
const parsed = (text: string): unknown => JSON.parse(text);

describe('nameMap: a JSON object of names the user chooses', () => {
  const counts = nameMap(z.string().regex(/^\d+$/, 'digits'), z.number().int());

  it('keeps a member named __proto__ as a member, not as the prototype', () => {
    const map = nameMap(z.string(), z.unknown()).parse(parsed('{"__proto__": "1", "a": 2}'));
    expect(Object.keys(map)).toEqual(['__proto__', 'a']);
    expect(Object.hasOwn(map, '__proto__')).toBe(true);
    expect(Object.getPrototypeOf(map)).toBe(Object.prototype);
    expect(JSON.stringify(map)).toBe('{"__proto__":"1","a":2}');
  });

  it('checks __proto__ as it checks any other name, and its value as any other value', () => {
    const badName = counts.safeParse(parsed('{"__proto__": 1}'));
    expect(badName.error?.issues).toMatchObject([{ code: 'invalid_key', path: ['__proto__'] }]);
    const badValue = nameMap(z.string(), z.number()).safeParse(parsed('{"__proto__": "x"}'));
    expect(badValue.error?.issues).toMatchObject([{ code: 'invalid_type', path: ['__proto__'] }]);
  });

  it('refuses what is not an object, and says so in the request’s terms', () => {
    const schema = z.strictObject({ sequence: counts });
    for (const input of [{ sequence: [] }, { sequence: null }, { sequence: 'x' }]) {
      const result = schema.safeParse(input);
      if (result.success) throw new Error('expected a refusal');
      expect(invalidRequest(result.error, schema, input).message).toMatch(
        /^sequence must be a JSON object; got /,
      );
    }
    const input = parsed('{"sequence": {"a1": 1}}');
    const result = schema.safeParse(input);
    if (result.success) throw new Error('expected a refusal');
    expect(invalidRequest(result.error, schema, input).message).toBe(
      'sequence.a1 is not a name taken here: names here are digits.',
    );
  });

  it('takes parsed JSON as it is, __proto__ members kept at every depth', () => {
    const filter = nameMap(z.string(), parsedJson).parse(
      parsed('{"value": {"__proto__": ["x"], "a": {"__proto__": ["y"]}}}'),
    );
    expect(JSON.stringify(filter)).toBe('{"value":{"__proto__":["x"],"a":{"__proto__":["y"]}}}');
  });
});
