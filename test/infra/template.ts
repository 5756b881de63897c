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

/**
 * The resource a construct synthesized, as [logicalId, resource], found by the logical id
 * its ARN (or name) resolves to: `{ "Fn::GetAtt": [id, …] }` or `{ Ref: id }`.
 */
export const resourceOf = (
  template: Template,
  reference: unknown,
): [string, Record<string, unknown>] => {
  const getAtt = at(reference, 'Fn::GetAtt');
  const id = Array.isArray(getAtt) ? getAtt[0] : at(reference, 'Ref');
  const resource = typeof id === 'string' ? template.toJSON().Resources?.[id] : undefined;
  if (typeof id !== 'string' || !isRecord(resource)) {
    throw new Error(`no resource for ${JSON.stringify(reference)}`);
  }
  return [id, resource];
};
