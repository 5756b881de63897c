import type { Template } from 'aws-cdk-lib/assertions';
import { expect } from 'vitest';

/** Template JSON is untyped; these narrow it without casts. */
export const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** The value at a path of keys, or undefined where the path does not exist. */
export const at = (value: unknown, ...path: string[]): unknown =>
  path.reduce<unknown>((node, key) => (isRecord(node) ? node[key] : undefined), value);

/** The one resource of a type as [logicalId, resource]; fails if there is not exactly one. */
export const only = (template: Template, type: string): [string, Record<string, unknown>] => {
  const found: [string, unknown][] = Object.entries(template.findResources(type));
  expect(found, `exactly one ${type}`).toHaveLength(1);
  const [entry] = found;
  if (entry === undefined || !isRecord(entry[1])) throw new Error(`no ${type}`);
  return [entry[0], entry[1]];
};

/** The API function (the stack also has the dispatcher's): [logicalId, resource]. */
export const apiFunction = (template: Template): [string, Record<string, unknown>] => {
  const found = Object.entries(template.findResources('AWS::Lambda::Function')).filter(
    ([, fn]) => at(fn, 'Properties', 'Description') === 'Tributary HTTP API',
  );
  expect(found, 'exactly one API function').toHaveLength(1);
  const [entry] = found;
  if (entry === undefined || !isRecord(entry[1])) throw new Error('no API function');
  return [entry[0], entry[1]];
};
