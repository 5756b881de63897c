import { z } from 'zod';
import { TributaryError } from '../../core/errors.ts';
import { maxRecordsPerRequest } from '../../core/log/produce.ts';
import { producerMetaKey } from '../../core/producers/producer-keys.ts';
import {
  commitTransaction,
  type TransactionRecord,
  type TransactionRequest,
} from '../../core/transactions/transaction.ts';
import { tooManyRecords, toProduceRecord } from '../produce-body.ts';
import type { RecordFormat } from '../record-format.ts';
import { bodyBytes, formatParam, jsonBody, onlyParams, queryOf } from '../request.ts';
import { json } from '../responses.ts';
import { invalidRequest } from '../schema-errors.ts';
import { offsetCommitFields, withMemberGeneration } from './groups.ts';
import type { Access, Route, RouteRequest } from './route.ts';

const count = z.number().int().min(0);
const transactionBody = z.strictObject({
  producer: z.strictObject({ id: count, epoch: count, sequence: count }),
  records: z.array(z.unknown()).optional().default([]),
  offsets: withMemberGeneration(
    z.strictObject({ group: z.string(), ...offsetCommitFields }),
  ).optional(),
});
type TransactionBody = z.output<typeof transactionBody>;

const recordTopic = z.looseObject({ topic: z.string() });

export const transactionRoutes: Route[] = [
  {
    method: 'POST',
    path: '/v1/transactions',
    access: transactionAccess,
    handle: async ({ event, deps }) => {
      const query = queryOf(event);
      onlyParams(query, ['format']);
      const format = formatParam(query);
      const body = jsonBody(event, transactionBody);
      const result = await commitTransaction(deps, toRequest(body, format));
      deps.metrics.count('Records', result.offsets.length, { operation: 'transaction' });
      deps.metrics.count('Bytes', bodyBytes(event).byteLength, { operation: 'transaction' });
      return json(200, result);
    },
  },
];

/**
 * WRITE on every topic written, READ on the group and on the topics whose offsets move (as
 * a commit needs), and WRITE on the producer's transactional id, as Kafka asks of a
 * transactional producer.
 */
async function transactionAccess({ event, deps }: RouteRequest): Promise<Access[]> {
  const body = jsonBody(event, transactionBody);
  const access: Access[] = [];
  const topics = new Set(
    body.records.flatMap((r) => {
      const parsed = recordTopic.safeParse(r);
      return parsed.success ? [parsed.data.topic] : [];
    }),
  );
  for (const topic of topics) access.push(['WRITE', 'TOPIC', topic]);
  if (body.offsets) {
    access.push(['READ', 'GROUP', body.offsets.group]);
    for (const topic of new Set(body.offsets.offsets.map((o) => o.topic))) {
      access.push(['READ', 'TOPIC', topic]);
    }
  }
  // An unknown producer needs nothing more here: the transaction refuses it.
  const meta = await deps.ctx.metadata.get(producerMetaKey(body.producer.id));
  const transactionalId = meta?.data.transactionalId;
  if (typeof transactionalId === 'string') {
    access.push(['WRITE', 'TRANSACTIONAL_ID', transactionalId]);
  }
  return access;
}

function toRequest(body: TransactionBody, format: RecordFormat): TransactionRequest {
  if (body.records.length > maxRecordsPerRequest) throw tooManyRecords();
  const records = body.records.map((input, i): TransactionRecord => {
    const where = `records[${i}]`;
    const parsed = recordTopic.safeParse(input);
    if (!parsed.success) {
      const error = invalidRequest(parsed.error, recordTopic, input, where);
      throw new TributaryError('INVALID_RECORD', error.message, { ...error.details, index: i });
    }
    // The rest as sent, not as looseObject gives it back: its copy leaves out a member named
    // __proto__, which the record's own schema refuses as an unknown field. `input` is an
    // object: recordTopic took it.
    const { topic: _, ...record } = input as Record<string, unknown>;
    return { topic: parsed.data.topic, ...toProduceRecord(record, i, format, where) };
  });
  return {
    producer: body.producer,
    records,
    ...(body.offsets && { offsets: body.offsets }),
  };
}
