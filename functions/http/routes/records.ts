import { TributaryError } from '../../core/errors.ts';
import { fetchRecords } from '../../core/log/fetch.ts';
import { takeLeadership } from '../../core/log/leadership.ts';
import { listOffset, type OffsetSpec } from '../../core/log/list-offsets.ts';
import { type ProduceConditions, prepareProduce } from '../../core/log/produce.ts';
import { acksJson } from '../acks-json.ts';
import { type ProduceBody, parseProduceBody } from '../produce-body.ts';
import { renderRecordsJson } from '../records-json.ts';
import {
  assertUtf8,
  bodyBytes,
  bodyKind,
  formatParam,
  intParam,
  noBody,
  onlyParams,
  queryOf,
} from '../request.ts';
import { json, jsonBytes } from '../responses.ts';
import type { Route } from './route.ts';

/** Fetch limits: Kafka's max.poll.records default, and a response that fits Lambda's 6 MB. */
const fetchDefaults = { maxRecords: 500, maxBytes: 1024 * 1024, waitMs: 0 };
const fetchCeilings = { maxRecords: 10_000, maxBytes: 4 * 1024 * 1024, waitMs: 20_000 };
/** Serialized response budget: Lambda's 6 MB payload less room for the envelope. */
const maxResponseBytes = 5_500_000;

export const recordRoutes: Route[] = [
  {
    method: 'POST',
    path: '/v1/topics/{topic}/partitions/{partition}/leader',
    access: ({ params }) => [['WRITE', 'TOPIC', params.topic ?? '']],
    handle: async ({ event, params, deps }) => {
      onlyParams(queryOf(event), []);
      noBody(event);
      const partition = partitionParam(params.partition);
      return json(200, await takeLeadership(deps.ctx, params.topic ?? '', partition));
    },
  },
  {
    method: 'POST',
    path: '/v1/topics/{topic}/records',
    access: ({ params }) => [['WRITE', 'TOPIC', params.topic ?? '']],
    handle: async ({ event, params, deps }) => {
      const query = queryOf(event);
      onlyParams(query, [
        'format',
        'acks',
        'expectedOffset',
        'leaderEpoch',
        'producerId',
        'producerEpoch',
        'sequence',
      ]);
      const format = formatParam(query);
      const acks = acksParam(query.acks);
      // acks=0 commits after the answer, which is past the time the event's body is lent for.
      const bytes = acks === '0' ? Buffer.from(bodyBytes(event)) : bodyBytes(event);
      const kind = bodyKind(event, true);
      assertUtf8(bytes);
      const body = parseProduceBody(bytes, kind, format);
      const conditions = produceConditions(query, body);
      const prepared = await prepareProduce(deps, params.topic ?? '', body.records, conditions);
      // Counted once committed: request bytes in, as fetch counts response bytes out.
      const commit = async () => {
        const offsets = await prepared.commit();
        deps.metrics.count('Records', offsets.length, { operation: 'produce' });
        deps.metrics.count('Bytes', bytes.byteLength, { operation: 'produce' });
        return offsets;
      };
      if (acks === '0') {
        await deps.defer(commit);
        return json(202, { accepted: prepared.recordCount });
      }
      return jsonBytes(200, acksJson(await commit()));
    },
  },
  {
    method: 'GET',
    path: '/v1/topics/{topic}/partitions/{partition}/records',
    access: ({ params }) => [['READ', 'TOPIC', params.topic ?? '']],
    handle: async ({ event, params, deps }) => {
      const query = queryOf(event);
      onlyParams(query, ['offset', 'maxRecords', 'maxBytes', 'waitMs', 'format']);
      const format = formatParam(query);
      const offset = intParam(query, 'offset', { min: 0, max: Number.MAX_SAFE_INTEGER });
      const limits = {
        maxRecords: intParam(query, 'maxRecords', {
          min: 1,
          max: fetchCeilings.maxRecords,
          default: fetchDefaults.maxRecords,
        }),
        maxBytes: intParam(query, 'maxBytes', {
          min: 1,
          max: fetchCeilings.maxBytes,
          default: fetchDefaults.maxBytes,
        }),
        waitMs: intParam(query, 'waitMs', {
          min: 0,
          max: fetchCeilings.waitMs,
          default: fetchDefaults.waitMs,
        }),
      };
      const partition = partitionParam(params.partition);
      const result = await fetchRecords(deps, params.topic ?? '', partition, offset, limits);

      // Stopped before Lambda's payload limit.
      const answer = renderRecordsJson(format, result, maxResponseBytes);
      deps.metrics.count('Records', answer.count, { operation: 'fetch' });
      deps.metrics.count('Bytes', answer.size, { operation: 'fetch' });
      return jsonBytes(200, answer.body);
    },
  },
  {
    method: 'GET',
    path: '/v1/topics/{topic}/partitions/{partition}/offsets',
    access: ({ params }) => [['DESCRIBE', 'TOPIC', params.topic ?? '']],
    handle: async ({ event, params, deps }) => {
      const query = queryOf(event);
      onlyParams(query, ['spec']);
      const spec = offsetSpec(query.spec);
      const partition = partitionParam(params.partition);
      const topic = params.topic ?? '';
      const answer = await listOffset(deps, topic, partition, spec);
      return json(200, { topic, partition, ...answer });
    },
  },
];

/**
 * Conditions on a produce, from the JSON body or, for NDJSON (which has no place for them),
 * from query parameters: `producerId`, `producerEpoch`, `sequence`, `leaderEpoch`, and
 * `expectedOffset` (query only).
 */
function produceConditions(
  query: Record<string, string | undefined>,
  body: ProduceBody,
): ProduceConditions {
  const optionalInt = (name: string) =>
    query[name] === undefined
      ? undefined
      : intParam(query, name, { min: 0, max: Number.MAX_SAFE_INTEGER });
  const both = (name: string) =>
    new TributaryError('INVALID_REQUEST', `Give ${name} in the body or in the query, not both.`, {
      field: name,
    });

  let producer = body.producer && {
    id: body.producer.id,
    epoch: body.producer.epoch,
    sequence:
      typeof body.producer.sequence === 'number'
        ? body.producer.sequence
        : new Map(Object.entries(body.producer.sequence).map(([p, seq]) => [Number(p), seq])),
  };
  const fromQuery = ['producerId', 'producerEpoch', 'sequence'].filter(
    (name) => query[name] !== undefined,
  );
  if (fromQuery.length > 0) {
    if (producer) throw both('producer');
    if (fromQuery.length < 3) {
      throw new TributaryError(
        'INVALID_REQUEST',
        'An idempotent produce needs producerId, producerEpoch and sequence together.',
        { field: 'producerId' },
      );
    }
    producer = {
      id: optionalInt('producerId') ?? 0,
      epoch: optionalInt('producerEpoch') ?? 0,
      sequence: optionalInt('sequence') ?? 0,
    };
  }
  const queryEpoch = optionalInt('leaderEpoch');
  if (queryEpoch !== undefined && body.leaderEpoch !== undefined) throw both('leaderEpoch');
  const leaderEpoch = queryEpoch ?? body.leaderEpoch;
  const expectedOffset = optionalInt('expectedOffset');
  return {
    ...(producer && { producer }),
    ...(leaderEpoch !== undefined && { leaderEpoch }),
    ...(expectedOffset !== undefined && { expectedOffset }),
  };
}

/** acks=all (default, also -1 and 1: every commit is durable in three AZs) or 0. */
function acksParam(raw: string | undefined): 'all' | '0' {
  if (raw === undefined || raw === 'all' || raw === '-1' || raw === '1') return 'all';
  if (raw === '0') return '0';
  throw new TributaryError(
    'INVALID_REQUEST',
    `Query parameter 'acks' must be all, 1, -1 or 0; got '${raw}'.`,
    {
      field: 'acks',
    },
  );
}

export function partitionParam(raw: string | undefined): number {
  const value = raw !== undefined && /^\d{1,9}$/.test(raw) ? Number(raw) : Number.NaN;
  if (Number.isNaN(value)) {
    throw new TributaryError(
      'INVALID_REQUEST',
      `Partition must be a non-negative integer; got '${raw}'.`,
      {
        field: 'partition',
      },
    );
  }
  return value;
}

function offsetSpec(raw: string | undefined): OffsetSpec {
  if (raw === 'earliest' || raw === 'latest' || raw === 'max-timestamp') return { kind: raw };
  const match = raw?.match(/^timestamp:(\d{1,16})$/);
  if (match?.[1] !== undefined) return { kind: 'timestamp', timestamp: Number(match[1]) };
  throw new TributaryError(
    'INVALID_REQUEST',
    `Query parameter 'spec' must be earliest, latest, max-timestamp or timestamp:<epoch ms>; got '${raw ?? ''}'.`,
    { field: 'spec' },
  );
}
