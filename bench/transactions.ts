/**
 * Exactly-once copy (docs/transactions.md), measured on the local server with the embedded
 * store: a group member reads an input topic in polls of 300 records and, per poll, writes
 * them to an output topic and commits the input offsets — in one transaction, or (the
 * reference cell, at-least-once) as a produce and then a commit. Printed: records copied per
 * second and the ratio, and per poll the storage calls, the items written, DynamoDB's write
 * and read units and what they cost per million records copied.
 *
 * Run alone with `npm run bench:transactions`; `npm run bench` runs it too.
 */

import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createApp, deferInBackground } from '../functions/app.ts';
import { silentLogger } from '../functions/http/logger.ts';
import { createLocalServer } from '../functions/local/server.ts';
import { type CountedStores, embeddedBackend } from './backends.ts';
import type { StorageCounts } from './counting-stores.ts';
import { storageDollars } from './prices.ts';
import { figure, ratio } from './report.ts';

const records = 30_000;
const pollRecords = 300;
const valueBytes = 200;
const rounds = 3;

export interface CopyFigures {
  readonly mode: 'transaction' | 'produce + commit';
  readonly recordsPerSecond: number;
  readonly polls: number;
  /** Storage of the writes per poll (the poll's own reads excluded). */
  readonly perPoll: {
    readonly transacts: number;
    readonly items: number;
    readonly writeUnits: number;
    readonly readUnits: number;
  };
  readonly dollarsPerMillionRecords: number;
}

export const transactionConfig = { records, pollRecords, valueBytes, rounds } as const;

async function json(url: string, method: string, body?: unknown) {
  const response = await fetch(url, {
    method,
    headers: { 'content-type': 'application/json' },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${url}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

async function copy(mode: CopyFigures['mode'], round: number): Promise<CopyFigures> {
  const stores: CountedStores = await embeddedBackend.open();
  const handler = createApp({
    metadata: stores.metadata,
    segments: stores.segments,
    log: silentLogger,
    cacheBytes: 64 * 1024 * 1024,
    defer: deferInBackground(silentLogger),
  });
  const server = createLocalServer(handler, silentLogger);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    await json(`${url}/v1/topics`, 'POST', { name: 'input', partitions: 1 });
    await json(`${url}/v1/topics`, 'POST', { name: 'output', partitions: 1 });
    const pad = 'x'.repeat(valueBytes - 20);
    for (let from = 0; from < records; from += 5_000) {
      await json(`${url}/v1/topics/input/records`, 'POST', {
        records: Array.from({ length: 5_000 }, (_, i) => ({ key: `k${from + i}`, value: pad })),
      });
    }
    const producer = await json(`${url}/v1/producers`, 'POST', {
      transactionalId: `bench-${round}`,
    });
    const member = await json(`${url}/v1/groups/copy/members`, 'POST', {
      topics: ['input'],
      autoOffsetReset: 'earliest',
    });
    const memberPath = `${url}/v1/groups/copy/members/${member.memberId}`;
    stores.takeCounts();
    const writes: StorageCounts[] = [];
    let copied = 0;
    let cursor: string | undefined;
    let sequence = 0;
    const started = performance.now();
    while (copied < records) {
      const polled = await json(
        `${memberPath}/records?maxRecords=${pollRecords}${cursor ? `&cursor=${cursor}` : ''}`,
        'GET',
      );
      cursor = polled.cursor;
      stores.takeCounts();
      const out = polled.records.map((r: { key: string; value: unknown }) => ({
        key: r.key,
        value: r.value,
      }));
      const last = polled.records.at(-1).offset + 1;
      const offsets = [{ topic: 'input', partition: 0, offset: last }];
      const commit = { memberId: member.memberId, generation: member.generation, offsets };
      if (mode === 'transaction') {
        await json(`${url}/v1/transactions`, 'POST', {
          producer: {
            id: producer.producerId,
            epoch: producer.producerEpoch,
            sequence: sequence++,
          },
          records: out.map((r: object) => ({ topic: 'output', ...r })),
          offsets: { group: 'copy', ...commit },
        });
      } else {
        await json(`${url}/v1/topics/output/records`, 'POST', { records: out });
        await json(`${url}/v1/groups/copy/offsets`, 'POST', commit);
      }
      writes.push(stores.takeCounts());
      copied += polled.records.length;
    }
    const seconds = (performance.now() - started) / 1000;
    const sum = (pick: (c: StorageCounts) => number) =>
      writes.reduce((n, c) => n + pick(c), 0) / writes.length;
    return {
      mode,
      recordsPerSecond: copied / seconds,
      polls: writes.length,
      perPoll: {
        transacts: sum((c) => c.metadataTransacts),
        items: sum((c) => c.metadataTransactOps),
        writeUnits: sum((c) => c.writeUnits),
        readUnits: sum((c) => c.readUnits),
      },
      dollarsPerMillionRecords: (writes.reduce((n, c) => n + storageDollars(c), 0) / copied) * 1e6,
    };
  } finally {
    server.closeAllConnections();
    server.close();
    await stores.close();
  }
}

/** Interleaved rounds of both modes; the median round of each. */
export async function benchTransactions(
  progress: (line: string) => void = () => undefined,
): Promise<CopyFigures[]> {
  const byMode = new Map<CopyFigures['mode'], CopyFigures[]>();
  for (let round = 0; round < rounds; round++) {
    for (const mode of ['produce + commit', 'transaction'] as const) {
      progress(`transactions: ${mode}, round ${round + 1} of ${rounds}`);
      byMode.set(mode, [...(byMode.get(mode) ?? []), await copy(mode, round)]);
    }
  }
  return [...byMode.values()].map((runs) => {
    const sorted = [...runs].sort((a, b) => a.recordsPerSecond - b.recordsPerSecond);
    return sorted[Math.floor(sorted.length / 2)] as CopyFigures;
  });
}

export function transactionReport(figures: readonly CopyFigures[]): string {
  const reference = figures.find((f) => f.mode === 'produce + commit');
  const rows = figures.map((f) =>
    [
      f.mode,
      figure(f.recordsPerSecond),
      reference ? ratio(f.recordsPerSecond, reference.recordsPerSecond) : '',
      figure(f.perPoll.transacts),
      figure(f.perPoll.items),
      figure(f.perPoll.writeUnits),
      figure(f.perPoll.readUnits),
      `$${f.dollarsPerMillionRecords.toFixed(2)}`,
    ].join(' | '),
  );
  return [
    `Exactly-once copy, embedded: ${records} records of ${valueBytes} B, polls of ${pollRecords}, one member; median of ${rounds} interleaved rounds. Per poll: the writes (transactions, items, DynamoDB WCU/RCU estimate); $ = DynamoDB + S3 per million records copied`,
    '',
    '| mode | records/s | × produce + commit | transacts | items | WCU | RCU | $/M records |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows.map((r) => `| ${r} |`),
    '',
  ].join('\n');
}

if (import.meta.main) {
  const figures = await benchTransactions((line) => process.stderr.write(`${line}\n`));
  process.stdout.write(transactionReport(figures));
}
