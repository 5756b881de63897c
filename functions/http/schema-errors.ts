import { z } from 'zod';
import { closest } from '../../sdk/src/closest.ts';
import { TributaryError } from '../core/errors.ts';
import { type JsonPath, renderPath } from './json-text.ts';

/**
 * A request that does not fit its schema, said in the request's own terms: the field as
 * the user wrote it (`records[0]`), what was expected there and what was sent, and for an
 * unknown field the known one it most likely meant. The schema library's wording (`expected
 * nonoptional`) never reaches the user.
 */
export function invalidRequest(
  error: z.ZodError,
  schema: z.ZodType,
  input: unknown,
  prefix = '',
): TributaryError {
  // An unknown field first: `vaule` explains a missing `value`, not the other way round.
  const first =
    error.issues.find((i) => i.code === 'unrecognized_keys') ??
    error.issues.find((i) => i.code !== 'unrecognized_keys');
  if (!first) return new TributaryError('INVALID_REQUEST', 'The request is not valid.');
  const issue = withinUnion(first);
  const path = issue.path.filter((p) => typeof p !== 'symbol');
  if (issue.code === 'unrecognized_keys') {
    const [key = ''] = issue.keys;
    const known = knownKeys(schema, path, input);
    const meant = closest(key, known);
    const where = renderPath(path, { prefix });
    const field = renderPath([...path, key], { prefix });
    const message = `${where ? `${where}: ` : ''}unknown field '${key}'${meant ? ` (did you mean '${meant}'?)` : ''}; ${known.length > 0 ? `the fields here are ${known.join(', ')}` : 'no fields are allowed here'}.`;
    return new TributaryError('INVALID_REQUEST', message, { field });
  }
  const field = renderPath(path, { prefix });
  const sent = valueAt(input, path);
  const problem = describe(issue, sent);
  const subject = field || 'The request body';
  return new TributaryError('INVALID_REQUEST', `${subject} ${problem}.`, {
    ...(field && { field }),
  });
}

/**
 * For a value of a form one of the union's branches takes (an object where a number or a
 * map is taken), what is wrong inside it, at its own path: `producer.sequence["0"] must be a
 * number`, not `producer.sequence must be a number`.
 */
function withinUnion(issue: z.core.$ZodIssue): z.core.$ZodIssue {
  if (issue.code !== 'invalid_union') return issue;
  const fitting = issue.errors.filter(
    (branch) => !branch.some((i) => i.code === 'invalid_type' && i.path.length === 0),
  );
  const [inner] = fitting.length === 1 ? (fitting[0] ?? []) : [];
  if (!inner) return issue;
  return withinUnion({ ...inner, path: [...issue.path, ...inner.path] });
}

/** What is wrong with `sent`, as the end of a sentence naming the field. */
function describe(issue: z.core.$ZodIssue, sent: unknown): string {
  switch (issue.code) {
    case 'invalid_type': {
      const expected = expectedName(issue.expected);
      if (sent === undefined) return `is required: ${expected}`;
      const unquote =
        (issue.expected === 'number' || issue.expected === 'int') &&
        typeof sent === 'string' &&
        /^-?\d+(\.\d+)?$/.test(sent);
      return `must be ${expected}; got ${shown(sent)}${unquote ? `: write ${sent}, without quotes` : ''}`;
    }
    case 'invalid_value':
      return `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}; got ${shown(sent)}`;
    case 'too_small':
    case 'too_big': {
      const bound = issue.code === 'too_small' ? issue.minimum : issue.maximum;
      const side = issue.code === 'too_small' ? 'least' : 'most';
      const strict = issue.inclusive === false;
      const comparison =
        issue.code === 'too_small'
          ? strict
            ? `greater than ${bound}`
            : `at ${side} ${bound}`
          : strict
            ? `less than ${bound}`
            : `at ${side} ${bound}`;
      if (issue.origin === 'array' || issue.origin === 'set')
        return `must have ${comparison} items`;
      if (issue.origin === 'string') return `must be ${comparison} characters long`;
      return `must be ${comparison}; got ${shown(sent)}`;
    }
    case 'invalid_key': {
      const [reason] = issue.issues;
      return `is not a name taken here${reason?.message ? `: names here are ${reason.message}` : ''}`;
    }
    case 'invalid_union': {
      // A tagged union whose tag names no branch: the tags it takes.
      if ('options' in issue && issue.options !== undefined && issue.options.length > 0) {
        const tags = issue.options.map((o) => JSON.stringify(o)).join(', ');
        if (sent === undefined) return `is required: one of ${tags}`;
        return `must be one of ${tags}; got ${shown(sent)}`;
      }
      const forms = issue.errors
        .map((branch) => branch.find((i) => i.code === 'invalid_type' && i.path.length === 0))
        .map((i) => (i?.code === 'invalid_type' ? expectedName(i.expected) : undefined))
        .filter((name) => name !== undefined);
      return forms.length > 0
        ? `must be ${forms.join(' or ')}; got ${shown(sent)}`
        : `is not valid; got ${shown(sent)}`;
    }
    default:
      // Our own refinements and formats carry messages written for users.
      return `is not valid: ${issue.message}`;
  }
}

const expectedNames: Readonly<Record<string, string>> = {
  int: 'an integer',
  number: 'a number',
  string: 'a string',
  boolean: 'true or false',
  array: 'an array',
  object: 'a JSON object',
  record: 'a JSON object',
  nonoptional: 'a value (null is one)',
};
const expectedName = (expected: string) => expectedNames[expected] ?? expected;

/** What was sent, in a few words: `a string ("3")`, `an array`, `null`. */
function shown(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  const text = JSON.stringify(value);
  const brief = text.length > 40 ? `${text.slice(0, 40)}…` : text;
  if (typeof value === 'number') return Number.isInteger(value) ? brief : `a fraction (${brief})`;
  return `${typeof value === 'string' ? 'a string' : typeof value} (${brief})`;
}

function valueAt(input: unknown, path: JsonPath): unknown {
  let value = input;
  for (const part of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string | number, unknown>)[part];
  }
  return value;
}

/**
 * The fields an object in the schema at `path` takes, to suggest the one meant; in a tagged
 * union, those of the branch the input's tag names.
 */
function knownKeys(schema: z.ZodType, path: JsonPath, input: unknown): string[] {
  let at: unknown = schema;
  const parts = [...path, undefined];
  for (const [depth, part] of parts.entries()) {
    at = unwrap(at);
    if (at instanceof z.ZodDiscriminatedUnion) {
      at = branchOf(at, valueAt(input, path.slice(0, depth)));
    }
    if (part === undefined) break;
    if (at instanceof z.ZodObject && typeof part === 'string') at = at.shape[part];
    else if (at instanceof z.ZodArray && typeof part === 'number') at = at.element;
    else if (at instanceof z.ZodRecord) at = at.valueType;
    else return [];
  }
  return at instanceof z.ZodObject ? Object.keys(at.shape) : [];
}

/** The branch of a tagged union whose tag `value` carries, if any. */
function branchOf(union: z.ZodDiscriminatedUnion, value: unknown): unknown {
  const { discriminator } = union.def;
  const tag =
    value !== null && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)[discriminator]
      : undefined;
  return union.options.find((option) => {
    const field = option instanceof z.ZodObject ? option.shape[discriminator] : undefined;
    return field instanceof z.ZodLiteral && [...field.values].some((v) => v === tag);
  });
}

function unwrap(schema: unknown): unknown {
  let at = schema;
  while (at instanceof z.ZodOptional || at instanceof z.ZodDefault || at instanceof z.ZodNullable) {
    at = at.unwrap();
  }
  return at;
}
