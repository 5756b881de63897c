/**
 * The parts of the consumer group API's answers the bench reads (docs/api.md), checked as
 * they arrive: a member's id, generation and assignment, and the position of each record a
 * poll returns. Unknown fields pass.
 */

import { z } from 'zod';

export const memberView = z.object({
  memberId: z.string(),
  generation: z.number().int(),
  assignment: z.array(z.object({ topic: z.string(), partitions: z.array(z.number().int()) })),
});

export type MemberView = z.infer<typeof memberView>;

export const pollAnswer = memberView.extend({
  records: z.array(
    z.object({ topic: z.string(), partition: z.number().int(), offset: z.number().int() }),
  ),
  cursor: z.string(),
});

export type PollAnswer = z.infer<typeof pollAnswer>;

export const errorAnswer = z.object({ error: z.object({ code: z.string() }) });

/** The JSON of a response checked against `schema`, or an error naming `what` was asked. */
export function parseAnswer<T>(schema: z.ZodType<T>, text: string, what: string): T {
  const parsed = schema.safeParse(JSON.parse(text));
  if (!parsed.success) throw new Error(`${what} answered ${text.slice(0, 300)}`);
  return parsed.data;
}

/** The error code of a refused request, or its status when the body carries none. */
export function errorCode(status: number, text: string): string {
  try {
    const parsed = errorAnswer.safeParse(JSON.parse(text));
    if (parsed.success) return parsed.data.error.code;
  } catch {
    // not JSON: the status says enough
  }
  return `HTTP ${status}`;
}
