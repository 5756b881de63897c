import { z } from 'zod';
import { TributaryError } from '../../core/errors.ts';
import { groupLimits } from '../../core/groups/group.ts';
import {
  commitOffsets,
  deleteGroup,
  describeGroup,
  groupOffsets,
  heartbeat,
  joinGroup,
  leaveGroup,
  listGroups,
  type ResetTarget,
  resetOffsets,
} from '../../core/groups/groups.ts';
import { pollGroup } from '../../core/groups/poll.ts';
import { legalName } from '../../core/names.ts';
import { renderRecord } from '../record-format.ts';
import { formatParam, intParam, jsonBody, noBody, onlyParams, queryOf } from '../request.ts';
import { json, noContent } from '../responses.ts';
import type { Access, Route, RouteRequest } from './route.ts';

const joinBody = z.strictObject({
  topics: z
    .array(z.string())
    .min(1, 'subscribe to at least one topic')
    .max(groupLimits.topics, `a member subscribes to at most ${groupLimits.topics} topics`),
  // Kafka's default session.timeout.ms; its brokers allow 6 s to 30 min, we allow from 1 s.
  sessionTimeoutMs: z.number().int().min(1_000).max(1_800_000).optional().default(45_000),
  // Kafka's rule for group.instance.id is its rule for names.
  instanceId: z.string().regex(legalName, '1-249 characters of [a-zA-Z0-9._-]').optional(),
  autoOffsetReset: z.enum(['earliest', 'latest']).optional().default('latest'),
});

const count = z.number().int().min(0);
/** A commit's fields, shared with the offsets of a transaction. */
export const offsetCommitFields = {
  memberId: z.string().optional(),
  generation: count.optional(),
  offsets: z
    .array(
      z.strictObject({
        topic: z.string(),
        partition: count,
        offset: count,
        metadata: z.string().max(4096).optional(),
        ownedSince: count.min(1).optional(),
      }),
    )
    .min(1, 'commit at least one offset'),
};
/**
 * A commit by a member names its generation; one without a member names neither, nor an
 * `ownedSince`, which says since when the member owned a partition: there is no member
 * whose ownership it could check, and a field taken but ignored would hide the mistake.
 */
export const withMemberGeneration = <
  T extends z.ZodType<{
    memberId?: string;
    generation?: number;
    offsets: readonly { ownedSince?: number }[];
  }>,
>(
  schema: T,
) =>
  schema
    .refine((b) => (b.memberId === undefined) === (b.generation === undefined), {
      message: 'memberId and generation go together',
      path: ['generation'],
    })
    .superRefine((b, ctx) => {
      if (b.memberId !== undefined) return;
      const i = b.offsets.findIndex((o) => o.ownedSince !== undefined);
      if (i === -1) return;
      ctx.addIssue({
        code: 'custom',
        message: 'ownedSince goes with memberId: a commit without a member owns no partition',
        path: ['offsets', i, 'ownedSince'],
      });
    });
const offsetCommitBody = withMemberGeneration(z.strictObject(offsetCommitFields));

const resetBody = z.strictObject({ topic: z.string(), to: z.string() });

/** Poll responses are not trimmed after the fact (the cursor points past every record read): cap them up front. */
const pollCeilings = { maxRecords: 10_000, maxBytes: 3 * 1024 * 1024, waitMs: 20_000 };

const noParams = ({ event }: RouteRequest) => onlyParams(queryOf(event), []);
const group = (req: RouteRequest) => req.params.group ?? '';
const member = (req: RouteRequest) => req.params.member ?? '';

export const groupRoutes: Route[] = [
  {
    method: 'GET',
    path: '/v1/groups',
    // Lists only the groups the principal may describe.
    access: () => [],
    handle: async (req) => {
      noParams(req);
      const groups = [];
      for (const g of await listGroups(req.deps.ctx)) {
        if (await req.can('DESCRIBE', 'GROUP', g.group)) groups.push(g);
      }
      return json(200, { groups });
    },
  },
  {
    method: 'GET',
    path: '/v1/groups/{group}',
    access: (req) => [['DESCRIBE', 'GROUP', group(req)]],
    handle: async (req) => {
      noParams(req);
      return json(200, await describeGroup(req.deps.ctx, group(req)));
    },
  },
  {
    method: 'DELETE',
    path: '/v1/groups/{group}',
    access: (req) => [['DELETE', 'GROUP', group(req)]],
    handle: async (req) => {
      noParams(req);
      noBody(req.event);
      await deleteGroup(req.deps.ctx, group(req));
      return noContent();
    },
  },
  {
    method: 'POST',
    path: '/v1/groups/{group}/members',
    // Kafka: READ on the group, and on each topic subscribed to.
    access: (req) => [
      ['READ', 'GROUP', group(req)],
      ...jsonBody(req.event, joinBody).topics.map((t): Access => ['READ', 'TOPIC', t]),
    ],
    handle: async (req) => {
      noParams(req);
      const body = jsonBody(req.event, joinBody);
      return json(200, await joinGroup(req.deps.ctx, group(req), body));
    },
  },
  {
    method: 'POST',
    path: '/v1/groups/{group}/members/{member}/heartbeat',
    access: (req) => [['READ', 'GROUP', group(req)]],
    handle: async (req) => {
      noParams(req);
      noBody(req.event);
      return json(200, await heartbeat(req.deps.ctx, group(req), member(req)));
    },
  },
  {
    method: 'DELETE',
    path: '/v1/groups/{group}/members/{member}',
    access: (req) => [['READ', 'GROUP', group(req)]],
    handle: async (req) => {
      noParams(req);
      noBody(req.event);
      await leaveGroup(req.deps.ctx, group(req), member(req));
      return noContent();
    },
  },
  {
    method: 'GET',
    path: '/v1/groups/{group}/members/{member}/records',
    // And READ on each topic the member subscribes to, once the member is read (below).
    access: (req) => [['READ', 'GROUP', group(req)]],
    handle: async (req) => {
      const query = queryOf(req.event);
      onlyParams(query, ['maxRecords', 'maxBytes', 'waitMs', 'format', 'cursor']);
      const format = formatParam(query);
      const cursor = cursorParam(query.cursor);
      const limits = {
        maxRecords: intParam(query, 'maxRecords', {
          min: 1,
          max: pollCeilings.maxRecords,
          default: 500,
        }),
        maxBytes: intParam(query, 'maxBytes', {
          min: 1,
          max: pollCeilings.maxBytes,
          default: 1024 * 1024,
        }),
        waitMs: intParam(query, 'waitMs', { min: 0, max: pollCeilings.waitMs, default: 0 }),
      };
      const result = await pollGroup(req.deps, group(req), member(req), limits, cursor, (topics) =>
        mayReadTopics(req, topics),
      );
      return json(200, {
        ...result,
        records: result.records.map((r) => ({
          topic: r.topic,
          partition: r.partition,
          ...renderRecord(format, r, r),
        })),
      });
    },
  },
  {
    method: 'POST',
    path: '/v1/groups/{group}/offsets',
    access: (req) => [
      ['READ', 'GROUP', group(req)],
      ...jsonBody(req.event, offsetCommitBody).offsets.map(
        (o): Access => ['READ', 'TOPIC', o.topic],
      ),
    ],
    handle: async (req) => {
      noParams(req);
      const body = jsonBody(req.event, offsetCommitBody);
      await commitOffsets(req.deps.ctx, group(req), body);
      return json(200, { committed: body.offsets.length });
    },
  },
  {
    method: 'GET',
    path: '/v1/groups/{group}/offsets',
    access: (req) => [['DESCRIBE', 'GROUP', group(req)]],
    handle: async (req) => {
      noParams(req);
      return json(200, {
        group: group(req),
        offsets: await groupOffsets(req.deps.ctx, group(req)),
      });
    },
  },
  {
    method: 'POST',
    path: '/v1/groups/{group}/offsets/reset',
    access: (req) => [
      ['READ', 'GROUP', group(req)],
      ['READ', 'TOPIC', jsonBody(req.event, resetBody).topic],
    ],
    handle: async (req) => {
      noParams(req);
      const body = jsonBody(req.event, resetBody);
      const offsets = await resetOffsets(req.deps, group(req), body.topic, resetTarget(body.to));
      return json(200, { group: group(req), topic: body.topic, offsets });
    },
  },
];

/** FORBIDDEN unless the principal may READ every one of the topics, as Kafka's Fetch asks. */
async function mayReadTopics(req: RouteRequest, topics: readonly string[]): Promise<void> {
  const { auth } = req.deps;
  if (!auth) return;
  for (const topic of topics) await auth.require(req.principal, 'READ', 'TOPIC', topic);
}

/** Cursors are ids the server issued; anything else is a client's mistake, not a miss. */
function cursorParam(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  if (/^[A-Za-z0-9-]{1,64}$/.test(raw)) return raw;
  throw new TributaryError(
    'INVALID_REQUEST',
    "Query parameter 'cursor' must be the cursor of an earlier poll's answer.",
    { field: 'cursor' },
  );
}

function resetTarget(to: string): ResetTarget {
  if (to === 'earliest' || to === 'latest') return { kind: to };
  const timestamp = to.match(/^timestamp:(\d{1,16})$/)?.[1];
  if (timestamp !== undefined) return { kind: 'timestamp', timestamp: Number(timestamp) };
  if (/^\d{1,16}$/.test(to)) return { kind: 'offset', offset: Number(to) };
  throw new TributaryError(
    'INVALID_REQUEST',
    `to must be earliest, latest, timestamp:<epoch ms> or an offset; got '${to}'.`,
    { field: 'to' },
  );
}
