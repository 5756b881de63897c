import type { SubscriptionEventRecord } from '../../../sdk/src/subscriptions.ts';
import type { FetchedRecord } from '../log/fetch.ts';
import type { TopicConfig } from '../topics/topic-config.ts';

type TimestampType = TopicConfig['timestampType'];

/**
 * Lambda refuses a synchronous invocation payload over 6 MB (6,291,456 bytes); a batch's
 * event stays under this, with room to spare.
 */
export const maxEventBytes = 6_000_000;

/** One record as the event carries it (Lambda's Kafka event record). */
export function eventRecord(
  topic: string,
  partition: number,
  timestampType: TimestampType,
  record: FetchedRecord,
): SubscriptionEventRecord {
  return {
    topic,
    partition,
    offset: record.offset,
    timestamp: record.timestamp,
    timestampType: timestampType === 'LogAppendTime' ? 'LOG_APPEND_TIME' : 'CREATE_TIME',
    ...(record.key !== null && { key: base64(record.key) }),
    value: record.value === null ? null : base64(record.value),
    headers: record.headers.map((h) => ({
      [h.name]: h.value === null ? null : Array.from(h.value),
    })),
  };
}

/**
 * The event body for as many of `records` (of one partition, in order) as fit in
 * {@link maxEventBytes}: at least one, even when that one alone is larger (the target then
 * refuses it, and it fails like any record that cannot be processed).
 */
export function eventBody(
  bootstrapServers: string,
  topic: string,
  partition: number,
  timestampType: TimestampType,
  records: readonly FetchedRecord[],
): { readonly body: string; readonly count: number } {
  const rendered: string[] = [];
  const envelope = (items: readonly string[]) =>
    `{"eventSource":"SelfManagedKafka","bootstrapServers":${JSON.stringify(bootstrapServers)},"records":{${JSON.stringify(`${topic}-${partition}`)}:[${items.join(',')}]}}`;
  let size = Buffer.byteLength(envelope([]));
  for (const record of records) {
    const text = JSON.stringify(eventRecord(topic, partition, timestampType, record));
    size += Buffer.byteLength(text) + 1;
    if (rendered.length > 0 && size > maxEventBytes) break;
    rendered.push(text);
  }
  return { body: envelope(rendered), count: rendered.length };
}

const base64 = (bytes: Uint8Array): string =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
