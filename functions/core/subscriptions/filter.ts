import { TributaryError } from '../errors.ts';
import type { JsonObject, JsonValue } from '../ports/metadata-store.ts';

/**
 * A subscription's filter: an EventBridge-style content pattern, in the form Lambda's Kafka
 * event source mappings take it — the pattern sits under `value` and is matched against the
 * record's value parsed as JSON:
 *
 *   {"value": {"type": ["order"], "amount": [{"numeric": [">=", 100]}]}}
 *
 * Grammar (a subset of EventBridge's, checked when the subscription is saved):
 *   pattern  = { field: matchers | pattern, …, "$or"?: [pattern, …] }   every field must match
 *   matchers = [matcher, …]                                           any one may match
 *   matcher  = string | number | boolean | null                       equal to
 *            | {"prefix": s} | {"suffix": s} | {"equals-ignore-case": s}
 *            | {"anything-but": scalar | [scalar, …] | {"prefix": s} | {"suffix": s}}
 *            | {"numeric": [op, n] | [op, n, op, n]}   op one of < <= = > >=
 *            | {"exists": true | false}
 * A field holding an array matches when any element does. A value that is not JSON matches
 * no pattern but `{"exists": false}` on its fields.
 *
 * No library implements EventBridge's matcher in JavaScript (event-ruler is Java), so this
 * small one is ours; it is checked against EventBridge's documented examples.
 */
export type FilterPattern = JsonObject;

const maxPatternBytes = 4096;
const maxDepth = 10;
const numericOperators = new Set(['<', '<=', '=', '>', '>=']);

/** Refuses a pattern this matcher would not apply as EventBridge does. */
export function assertValidFilter(filter: unknown): asserts filter is FilterPattern {
  if (!isObject(filter)) throw invalidFilter('filter', 'a filter is an object: {"value": {…}}');
  if (JSON.stringify(filter).length > maxPatternBytes) {
    throw invalidFilter('filter', `a filter is at most ${maxPatternBytes} bytes of JSON`);
  }
  const fields = Object.keys(filter);
  if (fields.length !== 1 || !isObject(filter.value)) {
    throw invalidFilter(
      'filter',
      'a filter applies to the record value: write it as {"value": {"field": ["match", …]}}',
    );
  }
  checkPattern(filter.value, 'filter.value', 1);
}

function checkPattern(pattern: JsonObject, path: string, depth: number): void {
  if (depth > maxDepth) throw invalidFilter(path, `patterns nest at most ${maxDepth} deep`);
  if (Object.keys(pattern).length === 0) throw invalidFilter(path, 'a pattern names a field');
  for (const [field, rule] of Object.entries(pattern)) {
    const where = `${path}.${field}`;
    if (field === '$or') {
      if (!Array.isArray(rule) || rule.length < 2 || !rule.every(isObject)) {
        throw invalidFilter(where, '$or takes an array of two or more patterns');
      }
      for (const [i, alternative] of rule.entries()) {
        if (isObject(alternative)) checkPattern(alternative, `${where}[${i}]`, depth + 1);
      }
    } else if (isObject(rule)) {
      checkPattern(rule, where, depth + 1);
    } else if (Array.isArray(rule)) {
      if (rule.length === 0) throw invalidFilter(where, 'a list of matchers is not empty');
      for (const matcher of rule) checkMatcher(matcher, where);
    } else {
      throw invalidFilter(where, 'a field takes a list of matchers, e.g. ["order"], or a pattern');
    }
  }
}

function checkMatcher(matcher: JsonValue, path: string): void {
  if (!isObject(matcher)) {
    if (Array.isArray(matcher)) throw invalidFilter(path, 'matchers do not nest in lists');
    return;
  }
  const [operator, ...others] = Object.keys(matcher);
  if (operator === undefined || others.length > 0) {
    throw invalidFilter(path, 'a matcher object has exactly one operator');
  }
  const operand = matcher[operator];
  switch (operator) {
    case 'prefix':
    case 'suffix':
    case 'equals-ignore-case':
      if (typeof operand !== 'string') throw invalidFilter(path, `${operator} takes a string`);
      return;
    case 'exists':
      if (typeof operand !== 'boolean') throw invalidFilter(path, 'exists takes true or false');
      return;
    case 'numeric':
      checkNumeric(operand, path);
      return;
    case 'anything-but':
      checkAnythingBut(operand, path);
      return;
    default:
      throw invalidFilter(
        path,
        `unknown operator '${operator}'; use prefix, suffix, equals-ignore-case, anything-but, numeric or exists`,
      );
  }
}

function checkNumeric(operand: JsonValue | undefined, path: string): void {
  const ok =
    Array.isArray(operand) &&
    (operand.length === 2 || operand.length === 4) &&
    operand.every((v, i) =>
      i % 2 === 0
        ? typeof v === 'string' && numericOperators.has(v)
        : typeof v === 'number' && Number.isFinite(v),
    );
  if (!ok) {
    throw invalidFilter(path, 'numeric takes [op, number] or [op, number, op, number]');
  }
}

function checkAnythingBut(operand: JsonValue | undefined, path: string): void {
  if (isScalar(operand)) return;
  if (Array.isArray(operand) && operand.length > 0 && operand.every(isScalar)) return;
  if (isObject(operand)) {
    const keys = Object.keys(operand);
    const [key] = keys;
    if (keys.length === 1 && (key === 'prefix' || key === 'suffix')) {
      if (typeof operand[key] === 'string') return;
    }
  }
  throw invalidFilter(
    path,
    'anything-but takes a value, a list of values, {"prefix": s} or {"suffix": s}',
  );
}

/** Whether the record value (its bytes, or null for a tombstone) matches the filter. */
export function matchesFilter(filter: FilterPattern, value: Uint8Array | null): boolean {
  const pattern = filter.value;
  if (!isObject(pattern)) return false;
  return matchesPattern(pattern, parseValue(value));
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** The value as JSON, or undefined when it is absent or not JSON. */
function parseValue(value: Uint8Array | null): JsonValue | undefined {
  if (value === null) return undefined;
  try {
    return JSON.parse(strictUtf8.decode(value));
  } catch {
    return undefined;
  }
}

function matchesPattern(pattern: JsonObject, document: JsonValue | undefined): boolean {
  for (const [field, rule] of Object.entries(pattern)) {
    if (field === '$or') {
      const alternatives = Array.isArray(rule) ? rule : [];
      if (!alternatives.some((p) => isObject(p) && matchesPattern(p, document))) return false;
      continue;
    }
    // Own members only: `constructor` or `toString` is not a field of every object.
    const value =
      isObject(document) && Object.hasOwn(document, field) ? document[field] : undefined;
    if (isObject(rule)) {
      // A nested pattern looks inside an object, or inside any object of an array.
      const candidates = Array.isArray(value) ? value : [value];
      if (!candidates.some((c) => matchesPattern(rule, c))) return false;
    } else if (Array.isArray(rule)) {
      if (!rule.some((matcher) => matchesField(matcher, value))) return false;
    } else {
      return false;
    }
  }
  return true;
}

/** One matcher against a field's value, which may be absent or an array of values. */
function matchesField(matcher: JsonValue, value: JsonValue | undefined): boolean {
  if (isObject(matcher) && 'exists' in matcher) {
    const present = value !== undefined && !isObject(value);
    return matcher.exists === (Array.isArray(value) ? value.length > 0 : present);
  }
  if (value === undefined) return false;
  const values = Array.isArray(value) ? value : [value];
  return values.some((v) => matchesValue(matcher, v));
}

function matchesValue(matcher: JsonValue, value: JsonValue): boolean {
  if (!isObject(matcher)) return isScalar(value) && matcher === value;
  const [operator] = Object.keys(matcher);
  const operand = operator === undefined ? undefined : matcher[operator];
  switch (operator) {
    case 'prefix':
      return typeof value === 'string' && typeof operand === 'string' && value.startsWith(operand);
    case 'suffix':
      return typeof value === 'string' && typeof operand === 'string' && value.endsWith(operand);
    case 'equals-ignore-case':
      return (
        typeof value === 'string' &&
        typeof operand === 'string' &&
        value.toLowerCase() === operand.toLowerCase()
      );
    case 'numeric':
      return typeof value === 'number' && Array.isArray(operand) && inRange(value, operand);
    case 'anything-but':
      return anythingBut(operand, value);
    default:
      return false;
  }
}

function inRange(value: number, conditions: readonly JsonValue[]): boolean {
  for (let i = 0; i + 1 < conditions.length; i += 2) {
    const bound = Number(conditions[i + 1]);
    const holds = {
      '<': value < bound,
      '<=': value <= bound,
      '=': value === bound,
      '>': value > bound,
      '>=': value >= bound,
    }[String(conditions[i])];
    if (!holds) return false;
  }
  return true;
}

function anythingBut(operand: JsonValue | undefined, value: JsonValue): boolean {
  if (!isScalar(value)) return false;
  if (Array.isArray(operand)) return !operand.includes(value);
  if (isObject(operand)) {
    if (typeof value !== 'string') return false;
    if (typeof operand.prefix === 'string') return !value.startsWith(operand.prefix);
    if (typeof operand.suffix === 'string') return !value.endsWith(operand.suffix);
    return false;
  }
  return value !== operand;
}

const isObject = (value: JsonValue | undefined | unknown): value is JsonObject =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const isScalar = (value: JsonValue | undefined): value is string | number | boolean | null =>
  value === null || ['string', 'number', 'boolean'].includes(typeof value);

const invalidFilter = (field: string, message: string) =>
  new TributaryError('INVALID_SUBSCRIPTION', `${field}: ${message}.`, { field });
