/**
 * What the maintenance workflow costs (functions/maintenance): the storage calls and
 * DynamoDB capacity of a pass that frees expired data, per GB expired, written one large
 * batch per request and one record per request; and of a pass with nothing to do, per idle
 * partition. Each cost is a difference between two passes measured in the same run, so the
 * rest of the deployment's topics are not counted in.
 */

import {
  metadataReads,
  metadataWrites,
  type StorageCounts,
  scaleCounts,
  subtractCounts,
} from './counting-stores.ts';
import { apiRequest, type PassBench, runPass } from './maintenance-pass.ts';
import { callsAndItems } from './report.ts';
import { createTopic } from './setup-requests.ts';

const gb = 1e9;
const valueBytes = 1024;
const partitions = 8;
/** Produce requests per partition, by batch size: enough bytes to expire, quickly written. */
const requestsPerPartition = { 100: 40, 1: 150 } as const;
/** Partitions of the idle topic whose cost is measured. */
const idlePartitions = 64;

export interface ExpiryFigures {
  readonly batch: number;
  readonly records: number;
  /** Bytes of the batches expired (the report's bytesFreed). */
  readonly bytes: number;
  readonly indexEntriesDeleted: number;
  readonly chunksDeleted: number;
  readonly seconds: number;
  /** The pass's calls beyond an idle pass's. */
  readonly counts: StorageCounts;
}

export interface MaintenanceFigures {
  readonly backend: string;
  readonly expiry: readonly ExpiryFigures[];
  /** An idle pass's calls, per idle partition (its topic's share of the sweep included). */
  readonly idlePerPartition: StorageCounts;
  readonly idleSeconds: number;
}

export async function maintenanceCells(bench: PassBench): Promise<MaintenanceFigures> {
  // Settle what earlier cells left (their retention facts).
  await runPass(bench);

  const expiry: ExpiryFigures[] = [];
  for (const batch of [100, 1] as const) {
    const topic = `bench-expiry-${batch}`;
    await createTopic(bench.url, topic, partitions);
    const numbers = Array.from({ length: partitions }, (_, p) => p);
    const requests = requestsPerPartition[batch] * partitions;
    await bench.load.run({
      kind: 'produce',
      url: bench.url,
      topic,
      partitions: numbers,
      batch,
      valueBytes,
      durationMs: 0,
      minRequests: requests,
      maxDurationMs: 600_000,
    });
    // Settle the new topic's retention facts, as a pass in the steady state would have.
    await runPass(bench);
    const idle = await runPass(bench);
    await apiRequest(bench.url, 'PATCH', `/v1/topics/${topic}/config`, { 'retention.ms': '1' });
    await new Promise((resolve) => setTimeout(resolve, 10));
    const expired = await runPass(bench);
    expiry.push({
      batch,
      records: requests * batch,
      bytes: expired.report.bytesFreed,
      indexEntriesDeleted: expired.report.indexEntriesDeleted,
      chunksDeleted: expired.report.chunksDeleted,
      seconds: expired.seconds,
      counts: subtractCounts(expired.counts, idle.counts),
    });
    bench.progress(
      `${bench.backend} maintenance: ${(expired.report.bytesFreed / 1e6).toFixed(1)} MB expired at batch ${batch} freed in ${expired.seconds.toFixed(2)} s`,
    );
  }

  // An idle pass without, then with, a topic of idle partitions.
  await runPass(bench);
  const without = await runPass(bench);
  await createTopic(bench.url, 'bench-idle', idlePartitions);
  await runPass(bench);
  const withIdle = await runPass(bench);
  return {
    backend: bench.backend,
    expiry,
    idlePerPartition: scaleCounts(
      subtractCounts(withIdle.counts, without.counts),
      1 / idlePartitions,
    ),
    idleSeconds: withIdle.seconds,
  };
}

const fixed = (n: number, digits = 1) =>
  n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const whole = (n: number) => fixed(n, 0);
const hundredths = (n: number) => fixed(n, 2);

/** Expiry per GB and idle per partition, one row each, for every backend. */
export function maintenanceTable(figures: readonly MaintenanceFigures[]): string {
  const header = [
    'backend',
    'what',
    'pass s',
    'S3 DELETE calls (keys)',
    'S3 LIST',
    'DDB reads (items)',
    'DDB writes (items)',
    'RCU',
    'WCU',
  ];
  const rows: string[][] = [header];
  for (const f of figures) {
    for (const e of f.expiry) {
      const perGb = scaleCounts(e.counts, gb / Math.max(1, e.bytes));
      rows.push([
        f.backend,
        `1 GB expired, batch ${e.batch} (${fixed(e.bytes / 1e6)} MB measured: ${e.indexEntriesDeleted} entries, ${e.chunksDeleted} chunks)`,
        fixed((e.seconds * gb) / Math.max(1, e.bytes), 0),
        `${fixed(perGb.segmentDeletes, 0)} (${fixed(perGb.segmentDeletedKeys, 0)})`,
        fixed(perGb.segmentLists, 0),
        callsAndItems(metadataReads(perGb), whole),
        callsAndItems(metadataWrites(perGb), whole),
        fixed(perGb.readUnits, 0),
        fixed(perGb.writeUnits, 0),
      ]);
    }
    const idle = f.idlePerPartition;
    rows.push([
      f.backend,
      'idle pass, per partition',
      '-',
      `${fixed(idle.segmentDeletes, 2)} (${fixed(idle.segmentDeletedKeys, 2)})`,
      fixed(idle.segmentLists, 2),
      callsAndItems(metadataReads(idle), hundredths),
      callsAndItems(metadataWrites(idle), hundredths),
      fixed(idle.readUnits, 2),
      fixed(idle.writeUnits, 2),
    ]);
  }
  const widths = header.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows
    .map((row) =>
      row
        .map((cell, i) => (i < 2 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0)))
        .join('  '),
    )
    .join('\n');
}
