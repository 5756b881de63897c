import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { invalidRequest } from '../../../functions/http/schema-errors.ts';

const record = z
  .strictObject({
    key: z.string().nullable().optional(),
    value: z.unknown(),
    headers: z.array(z.strictObject({ name: z.string(), value: z.unknown() })).optional(),
    partition: z.number().int().min(0).optional(),
  })
  .refine((r) => r.value !== undefined, {
    message: "'value' is required (null for a tombstone)",
    path: ['value'],
  });
const topic = z.strictObject({
  name: z.string(),
  partitions: z.number().int().min(1).max(1000).optional(),
  cleanup: z.enum(['delete', 'compact']).optional(),
  sequence: z.union([z.number(), z.record(z.string(), z.number())]).optional(),
});

const subscription = z.strictObject({
  name: z.string(),
  target: z.discriminatedUnion('type', [
    z.strictObject({ type: z.literal('lambda'), function: z.string() }),
    z.strictObject({ type: z.literal('http'), url: z.string(), headers: z.unknown().optional() }),
  ]),
});

/** The message and details a user gets for `input`. */
function refusal(schema: z.ZodType, input: unknown, prefix = '') {
  const parsed = schema.safeParse(input);
  if (parsed.success) throw new Error('expected a refusal');
  const { code, message, details } = invalidRequest(parsed.error, schema, input, prefix);
  return { code, message, details };
}

describe('what a request that does not fit its schema is told', () => {
  it.each([
    [
      record,
      { vaule: 1 },
      'records[0]',
      "records[0]: unknown field 'vaule' (did you mean 'value'?); the fields here are key, value, headers, partition.",
      'records[0].vaule',
    ],
    [
      topic,
      { nmae: 'orders' },
      '',
      "unknown field 'nmae' (did you mean 'name'?); the fields here are name, partitions, cleanup, sequence.",
      'nmae',
    ],
    [topic, {}, '', 'name is required: a string.', 'name'],
    [
      topic,
      { name: 'o', partitions: '3' },
      '',
      'partitions must be a number; got a string ("3"): write 3, without quotes.',
      'partitions',
    ],
    [
      topic,
      { name: 'o', partitions: 0 },
      '',
      'partitions must be at least 1; got 0.',
      'partitions',
    ],
    [
      topic,
      { name: 'o', cleanup: 'forever' },
      '',
      'cleanup must be one of "delete", "compact"; got a string ("forever").',
      'cleanup',
    ],
    [
      topic,
      { name: 'o', sequence: 'x' },
      '',
      'sequence must be a number or a JSON object; got a string ("x").',
      'sequence',
    ],
    [
      // Of a form one branch takes: what is wrong inside it, where it is.
      topic,
      { name: 'o', sequence: { 0: 1, 1: 'x' } },
      '',
      'sequence["1"] must be a number; got a string ("x").',
      'sequence["1"]',
    ],
    [
      record,
      { value: 1, headers: [{ name: 'h' }], partition: 1.5 },
      'line 3',
      'line 3.headers[0].value is required: a value (null is one).',
      'line 3.headers[0].value',
    ],
    [topic, [], '', 'The request body must be a JSON object; got an array.', undefined],
    [
      // A tagged union: the tags it takes, not "is not valid".
      subscription,
      { name: 's', target: { type: 'sqs' } },
      '',
      'target.type must be one of "lambda", "http"; got a string ("sqs").',
      'target.type',
    ],
    [
      subscription,
      { name: 's', target: { function: 'f' } },
      '',
      'target.type is required: one of "lambda", "http".',
      'target.type',
    ],
    [
      // The fields of the branch the tag names, not "no fields are allowed here".
      subscription,
      { name: 's', target: { type: 'lambda', function: 'f', url: 'https://x' } },
      '',
      "target: unknown field 'url'; the fields here are type, function.",
      'target.url',
    ],
    [
      subscription,
      { name: 's', target: { type: 'http', url: 'https://x', header: {} } },
      '',
      "target: unknown field 'header' (did you mean 'headers'?); the fields here are type, url, headers.",
      'target.header',
    ],
  ])('%#: says %3$s', (schema, input, prefix, message, field) => {
    const refused = refusal(schema, input, prefix);
    expect(refused.code).toBe('INVALID_REQUEST');
    expect(refused.message).toBe(message);
    expect(refused.details.field).toBe(field);
    // The schema library's own wording never reaches the user.
    expect(refused.message).not.toMatch(/Invalid input|nonoptional|received/);
  });
});
