/**
 * Reference cells: what this machine does without Tributary, measured in the same run and
 * interleaved with Tributary's own cells, so that a busy machine slows both alike and the
 * ratios between them mean something where the absolute figures do not.
 *
 * - *file append + fdatasync*: the body a produce request carries, appended to a file with
 *   one fdatasync per request, by `connections` writers at once (a file each) — the floor
 *   cost of acknowledging a request durably on this disk;
 * - *plain node:http*: a server that reads the body and answers 200, nothing else, driven by
 *   the same load generator as Tributary's cells — the cost of HTTP and the load generator;
 * - *Tributary produce* and *fetch* on the embedded store, as the main cells measure them.
 *
 * All with 1 KiB records at batch 1 and 1000, `connections` connections or writers, in
 * `rounds` rounds; each round runs every cell once, in the opposite order to the round
 * before. A cell's figures are its rounds' sums; the ratios are printed with the range of
 * the per-round ratios beside them, and with their targets.
 */

import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LoadGenerator, LoadResult } from './load.ts';
import { figure, percentile, table } from './report.ts';

const connections = 4;
const valueBytes = 1024;
const batches = [1, 1000] as const;
const rounds = 5;
/** Each cell of a round runs this long (and makes at least `minRequests` requests). */
const cellMs = 3_000;
const minRequests = 20;
/** A first round of this many ms per cell warms every path up, outside the figures. */
const warmupCellMs = 1_000;
const maxCellMs = 20_000;

export const referenceConfig = { connections, valueBytes, batches, rounds, cellMs, warmupCellMs };

export type ReferenceKind =
  | 'file append + fdatasync'
  | 'plain node:http'
  | 'Tributary produce'
  | 'Tributary fetch';

export interface ReferenceCell {
  readonly kind: ReferenceKind;
  readonly batch: number;
  readonly requests: number;
  readonly records: number;
  readonly seconds: number;
  readonly requestsPerSecond: number;
  readonly recordsPerSecond: number;
  /** Record value bytes per second, in MB (10^6 bytes), as the main cells count them. */
  readonly megabytesPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /**
   * CPU time of the whole process (server, load generator, writer threads) per request, in
   * ms, and how many of the machine's cores that kept busy on average: the figures that say
   * whether a cell is bound by the CPU or by the disk.
   */
  readonly cpuMsPerRequest: number;
  readonly coresBusy: number;
  /** The same cell's figures round by round. */
  readonly rounds: readonly RoundFigures[];
}

interface RoundFigures {
  readonly requestsPerSecond: number;
  readonly recordsPerSecond: number;
  readonly megabytesPerSecond: number;
}

/** A ratio Tributary is held to: Tributary's figure over a reference's. */
export interface ReferenceRatio {
  readonly what: string;
  readonly value: number;
  /** The lowest and highest of the same ratio taken round by round. */
  readonly low: number;
  readonly high: number;
  /** The ratio aimed for (at least this), when one is set. */
  readonly target: number | undefined;
}

export interface ReferenceFigures {
  readonly cells: readonly ReferenceCell[];
  readonly ratios: readonly ReferenceRatio[];
  /** Fetch batch 1000 × 1 KiB, records/s: printed on its own, no reference to hold it to. */
  readonly fetchRecordsPerSecond: number;
}

export interface ReferenceBench {
  readonly load: LoadGenerator;
  readonly progress: (line: string) => void;
  /**
   * One Tributary cell on the embedded server: produce to a new topic of `partitions`
   * partitions, one connection each, for `durationMs`; with `fetch`, then read it all back.
   */
  readonly tributary: (cell: {
    readonly name: string;
    readonly batch: number;
    readonly valueBytes: number;
    readonly partitions: number;
    readonly durationMs: number;
    readonly minRequests: number;
    readonly fetch: boolean;
  }) => Promise<{ produced: LoadResult; fetched: LoadResult | undefined }>;
}

type Results = Map<string, LoadResult[]>;
const cellKey = (kind: ReferenceKind, batch: number) => `${kind} × ${batch}`;

export async function referenceCells(bench: ReferenceBench): Promise<ReferenceFigures> {
  const dir = await mkdtemp(join(tmpdir(), 'tributary-bench-append-'));
  const plain = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      // Held whole, as a server that goes on to parse it would.
      Buffer.concat(chunks);
      response.writeHead(200, { 'content-type': 'application/json', 'content-length': 2 });
      response.end('{}');
    });
  });
  plain.listen(0, '127.0.0.1');
  try {
    await once(plain, 'listening');
    const address = plain.address();
    if (address === null || typeof address === 'string') throw new Error('server has no port');
    const plainUrl = `http://127.0.0.1:${address.port}`;

    let topics = 0;
    /** Every cell of one round, at `durationMs` each, in order or reversed. */
    const round = async (durationMs: number, reversed: boolean, into?: Results) => {
      const cells: (() => Promise<void>)[] = [];
      const keep = (kind: ReferenceKind, batch: number, result: LoadResult | undefined) => {
        if (!into || !result) return;
        const key = cellKey(kind, batch);
        into.set(key, [...(into.get(key) ?? []), result]);
      };
      for (const batch of batches) {
        const bounds = { durationMs, minRequests, maxDurationMs: maxCellMs };
        cells.push(
          async () => {
            const result = await bench.load.run({
              kind: 'append',
              dir,
              writers: connections,
              batch,
              valueBytes,
              ...bounds,
            });
            keep('file append + fdatasync', batch, result);
          },
          async () => {
            const result = await bench.load.run({
              kind: 'produce',
              url: plainUrl,
              topic: 'plain',
              partitions: Array.from({ length: connections }, (_, p) => p),
              batch,
              valueBytes,
              checkOffsets: false,
              ...bounds,
            });
            keep('plain node:http', batch, result);
          },
          async () => {
            const { produced, fetched } = await bench.tributary({
              name: `bench-reference-${topics++}-${batch}`,
              batch,
              valueBytes,
              partitions: connections,
              durationMs,
              minRequests,
              fetch: batch === 1000,
            });
            keep('Tributary produce', batch, produced);
            keep('Tributary fetch', batch, fetched);
          },
        );
      }
      for (const cell of reversed ? cells.reverse() : cells) await cell();
    };

    bench.progress(`reference cells: warm-up, ${warmupCellMs / 1000} s a cell`);
    await round(warmupCellMs, false);
    const results: Results = new Map();
    for (let r = 0; r < rounds; r++) {
      await round(cellMs, r % 2 === 1, results);
      bench.progress(`reference cells: round ${r + 1} of ${rounds} done`);
    }
    return referenceFigures(results);
  } finally {
    plain.closeAllConnections();
    plain.close();
    await rm(dir, { recursive: true, force: true });
  }
}

function referenceFigures(results: Results): ReferenceFigures {
  const cells: ReferenceCell[] = [];
  for (const [key, runs] of results) {
    const [kind, batch] = key.split(' × ') as [ReferenceKind, string];
    const requests = runs.reduce((n, r) => n + r.requests, 0);
    const records = runs.reduce((n, r) => n + r.records, 0);
    const bytes = runs.reduce((n, r) => n + r.valueBytes, 0);
    const seconds = runs.reduce((n, r) => n + r.elapsedMs, 0) / 1000;
    const latencies = runs.flatMap((r) => r.latenciesMs);
    const cpuMs = runs.reduce((n, r) => n + (r.cpuMs ?? 0), 0);
    cells.push({
      kind,
      batch: Number(batch),
      requests,
      records,
      seconds,
      requestsPerSecond: requests / seconds,
      recordsPerSecond: records / seconds,
      megabytesPerSecond: bytes / 1e6 / seconds,
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
      cpuMsPerRequest: cpuMs / requests,
      coresBusy: cpuMs / 1000 / seconds,
      rounds: runs.map((r) => ({
        requestsPerSecond: r.requests / (r.elapsedMs / 1000),
        recordsPerSecond: r.records / (r.elapsedMs / 1000),
        megabytesPerSecond: r.valueBytes / 1e6 / (r.elapsedMs / 1000),
      })),
    });
  }
  const find = (kind: ReferenceKind, batch: number): ReferenceCell => {
    const cell = cells.find((c) => c.kind === kind && c.batch === batch);
    if (!cell) throw new Error(`no reference cell ${kind} at batch ${batch}`);
    return cell;
  };
  const ratio = (
    what: string,
    a: ReferenceCell,
    b: ReferenceCell,
    figure: keyof RoundFigures,
    target: number | undefined,
  ): ReferenceRatio => {
    const perRound = a.rounds.map((round, i) => round[figure] / (b.rounds[i]?.[figure] ?? 0));
    return {
      what,
      value: a[figure] / b[figure],
      low: Math.min(...perRound),
      high: Math.max(...perRound),
      target,
    };
  };
  const produce1 = find('Tributary produce', 1);
  const produce1000 = find('Tributary produce', 1000);
  return {
    cells,
    ratios: [
      ratio(
        'produce batch 1 ÷ file append + fdatasync batch 1, requests/s',
        produce1,
        find('file append + fdatasync', 1),
        'requestsPerSecond',
        0.5,
      ),
      ratio(
        'produce batch 1000 ÷ file append + fdatasync batch 1000, MB/s',
        produce1000,
        find('file append + fdatasync', 1000),
        'megabytesPerSecond',
        0.5,
      ),
      ratio(
        'produce batch 1000 ÷ plain node:http batch 1000, MB/s',
        produce1000,
        find('plain node:http', 1000),
        'megabytesPerSecond',
        undefined,
      ),
    ],
    fetchRecordsPerSecond: find('Tributary fetch', 1000).recordsPerSecond,
  };
}

/** The reference cells and Tributary's beside them, then the ratios with their targets. */
export function referenceReport(figures: ReferenceFigures): string {
  const cells = table(
    [
      'cell',
      'batch',
      'requests',
      'requests/s',
      'records/s',
      'MB/s',
      'p50 ms',
      'p99 ms',
      'CPU ms/request',
      'cores busy',
    ],
    figures.cells.map((c) => [
      c.kind,
      String(c.batch),
      String(c.requests),
      figure(c.requestsPerSecond),
      figure(c.recordsPerSecond),
      figure(c.megabytesPerSecond),
      figure(c.p50Ms),
      figure(c.p99Ms),
      figure(c.cpuMsPerRequest),
      figure(c.coresBusy),
    ]),
  );
  const ratios = table(
    ['Tributary (embedded) ÷ reference', 'ratio', 'range by round', 'target'],
    [
      ...figures.ratios.map((r) => [
        r.what,
        `${figure(r.value)}×`,
        `${figure(r.low)}–${figure(r.high)}×`,
        r.target === undefined
          ? 'none set'
          : `≥ ${r.target}×${r.value >= r.target ? '' : ' (below)'}`,
      ]),
      ['fetch batch 1000 × 1 KiB, records/s', figure(figures.fetchRecordsPerSecond), '', ''],
    ],
  );
  return `${cells}\n\n${ratios}`;
}
