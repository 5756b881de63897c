import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRetryable } from '../../sdk/src/error-codes.ts';
import { createTopic, fetchAll } from '../support/api.ts';
import { backends } from '../support/backends.ts';
import { call, type RunningServer, startServer } from '../support/server.ts';

const producers = 8;
const recordsPerProducer = 1000;

interface Ack {
  partition: number;
  offset: number;
}

/**
 * Many producers racing for the same partition heads: offsets stay dense from 0, nothing is
 * duplicated or lost, and every acknowledged record is at exactly its acknowledged offset,
 * in each producer's order.
 */
describe.each(backends)('concurrent producers ($name)', (backend) => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer(backend);
  });
  afterAll(() => server.close());

  async function runProducer(topic: string, id: number, batchSize: number, keyed: boolean) {
    const acks = new Map<string, Ack>();
    for (let seq = 0; seq < recordsPerProducer; seq += batchSize) {
      const records = Array.from(
        { length: Math.min(batchSize, recordsPerProducer - seq) },
        (_, i) => ({
          ...(keyed && { key: `key-${(seq + i) % 50}` }),
          value: `${id}:${seq + i}`,
        }),
      );
      let response = await call(server.url, 'POST', `/v1/topics/${topic}/records`, { records });
      // As a real client does: retry what the server says is retryable. A refused commit
      // wrote nothing, so the retry must not duplicate (checkLog would see it).
      while (isRetryable(response.body?.error?.code ?? '')) {
        response = await call(server.url, 'POST', `/v1/topics/${topic}/records`, { records });
      }
      expect(response.status, JSON.stringify(response.body)).toBe(200);
      for (const [i, { partition, offset }] of (response.body.offsets as Ack[]).entries()) {
        acks.set(records[i]?.value ?? '', { partition, offset });
      }
    }
    return acks;
  }

  async function checkLog(topic: string, partitions: number, acks: Map<string, Ack>) {
    const seen = new Map<string, Ack>();
    for (let partition = 0; partition < partitions; partition++) {
      const records = await fetchAll(server.url, topic, partition);
      expect(records.map((r) => r.offset)).toEqual(records.map((_, i) => i));
      const lastSeq = new Map<string, number>();
      for (const record of records) {
        const value = String(record.value);
        expect(seen.has(value), `duplicate ${value}`).toBe(false);
        seen.set(value, { partition, offset: record.offset });
        const [producer = '', seq = ''] = value.split(':');
        expect(Number(seq)).toBeGreaterThan(lastSeq.get(producer) ?? -1);
        lastSeq.set(producer, Number(seq));
      }
    }
    expect(seen.size).toBe(producers * recordsPerProducer);
    expect(seen).toEqual(acks);
  }

  it(`${producers} producers × ${recordsPerProducer} records into one partition`, async () => {
    await createTopic(server.url, 'contended', 1);
    const results = await Promise.all(
      Array.from({ length: producers }, (_, id) => runProducer('contended', id, 50, false)),
    );
    await checkLog('contended', 1, new Map(results.flatMap((r) => [...r])));
  });

  it(`${producers} producers × ${recordsPerProducer} keyed records across many partitions`, async () => {
    await createTopic(server.url, 'spread-wide', 12);
    const results = await Promise.all(
      Array.from({ length: producers }, (_, id) => runProducer('spread-wide', id, 50, true)),
    );
    await checkLog('spread-wide', 12, new Map(results.flatMap((r) => [...r])));
  });
});
