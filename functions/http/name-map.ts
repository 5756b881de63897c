import { z } from 'zod';
import type { JsonValue } from '../core/ports/metadata-store.ts';

/**
 * A JSON object whose member names the user chooses (topic configs, webhook headers, a
 * producer's per-partition sequences, a filter's fields), checked name by name and value by
 * value as `z.record` checks them, with every member kept as it was sent.
 *
 * `z.record`, `z.json` and `z.looseObject` skip a member named `__proto__`: written into the
 * `{}` they build, it would replace the result's prototype. So `{"config": {"__proto__": 1}}`
 * was taken as `{}` — a name silently dropped instead of refused as unknown. Here the result
 * is built with `Object.fromEntries`, which defines each member as the object's own, so
 * `__proto__` is a name like any other: checked, and refused or kept as its rules say.
 */
export function nameMap<K extends z.ZodType<string>, V extends z.ZodType>(key: K, value: V) {
  return z.unknown().transform((input, ctx): Record<z.output<K>, z.output<V>> => {
    if (typeof input !== 'object' || input === null || Array.isArray(input)) {
      ctx.issues.push({ code: 'invalid_type', expected: 'record', input });
      return z.NEVER;
    }
    const members: [z.output<K>, z.output<V>][] = [];
    for (const [name, member] of Object.entries(input)) {
      const checkedName = key.safeParse(name);
      if (!checkedName.success) {
        ctx.issues.push({
          code: 'invalid_key',
          origin: 'record',
          issues: checkedName.error.issues,
          input: name,
          path: [name],
        });
        continue;
      }
      const checkedValue = value.safeParse(member);
      if (!checkedValue.success) {
        for (const issue of checkedValue.error.issues) {
          ctx.issues.push({ ...issue, input: member, path: [name, ...issue.path] });
        }
        continue;
      }
      members.push([checkedName.data, checkedValue.data]);
    }
    return Object.fromEntries(members) as Record<z.output<K>, z.output<V>>;
  });
}

/**
 * A value taken as it was parsed. A request body is parsed from JSON text, so whatever it
 * holds is JSON already; checking it again with `z.json` would rebuild its objects and lose
 * their `__proto__` members (see {@link nameMap}).
 */
export const parsedJson = z.custom<JsonValue>();
