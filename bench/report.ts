/** Figures from load results, and the plain-text tables the bench prints. */

import {
  metadataReads,
  metadataWrites,
  perRequest,
  type StorageCounts,
} from './counting-stores.ts';
import type { LoadResult } from './load.ts';
import { storageDollars } from './prices.ts';

/**
 * What a cell measured: plain produce, idempotent produce (a producer id, epoch and sequence
 * on every request), the replay of an idempotent batch already committed — answered by the
 * writer that committed it, or by a new one that remembers nothing (as a retry landing on
 * another Lambda instance) — and fetch.
 */
export type Op =
  | 'produce'
  | 'idempotent produce'
  | 'replay, same writer'
  | 'replay, new writer'
  | 'fetch';

export interface CellFigures {
  readonly backend: string;
  readonly op: Op;
  /** Concurrent connections (1: unloaded). */
  readonly connections: number;
  readonly valueBytes: number;
  readonly batch: number;
  readonly requests: number;
  readonly records: number;
  readonly seconds: number;
  readonly recordsPerSecond: number;
  /** Record value bytes per second, in MB (10^6 bytes). */
  readonly megabytesPerSecond: number;
  readonly meanMs: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Storage calls per request, averaged over the cell. */
  readonly perRequest: StorageCounts;
}

/** The nearest-rank percentile (p in 0..100). */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] ?? Number.NaN;
}

export function figures(
  cell: Pick<CellFigures, 'backend' | 'op' | 'connections' | 'valueBytes' | 'batch'>,
  result: LoadResult,
  counts: StorageCounts,
): CellFigures {
  const seconds = result.elapsedMs / 1000;
  return {
    ...cell,
    requests: result.requests,
    records: result.records,
    seconds,
    recordsPerSecond: result.records / seconds,
    megabytesPerSecond: result.valueBytes / 1e6 / seconds,
    meanMs: result.latenciesMs.reduce((a, b) => a + b, 0) / result.latenciesMs.length,
    p50Ms: percentile(result.latenciesMs, 50),
    p99Ms: percentile(result.latenciesMs, 99),
    perRequest: perRequest(counts, result.requests),
  };
}

export const sizeLabel = (bytes: number): string =>
  bytes % 1024 === 0 ? `${bytes / 1024} KiB` : `${bytes} B`;

/** Right-aligned columns under a header, the first `leftColumns` left-aligned. */
export function table(
  header: readonly string[],
  rows: readonly string[][],
  leftColumns = 1,
): string {
  const widths = header.map((title, i) =>
    Math.max(title.length, ...rows.map((row) => (row[i] ?? '').length)),
  );
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, i) =>
        i < leftColumns ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0),
      )
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

export const fixed = (value: number, digits: number): string =>
  Number.isFinite(value) ? value.toFixed(digits) : '-';

/** Three significant figures, without exponent notation. */
export const figure = (value: number): string => {
  if (!Number.isFinite(value)) return '-';
  if (value >= 100) return Math.round(value).toLocaleString('en-US');
  if (value >= 10) return value.toFixed(1);
  return value.toFixed(2);
};

/** a ÷ b as `1.25×`; `-` when b is 0. */
export const ratio = (a: number, b: number): string => (b === 0 ? '-' : `${figure(a / b)}×`);

/** `calls (items)`, as the storage tables show DynamoDB's reads and writes. */
export const callsAndItems = (
  { calls, items }: { readonly calls: number; readonly items: number },
  format: (value: number) => string = figure,
): string => `${format(calls)} (${format(items)})`;

/** The columns of {@link costColumns}. */
export const costHeader = [
  'S3 GET',
  'S3 PUT',
  'S3 DELETE calls (keys)',
  'DDB reads (items)',
  'DDB writes (items)',
  'RCU',
  'WCU',
  'storage $',
] as const;

/** What a piece of maintenance called, and its price: the columns of {@link costHeader}. */
export const costColumns = (counts: StorageCounts): string[] => [
  figure(counts.segmentGets),
  figure(counts.segmentPuts),
  `${figure(counts.segmentDeletes)} (${figure(counts.segmentDeletedKeys)})`,
  callsAndItems(metadataReads(counts)),
  callsAndItems(metadataWrites(counts)),
  figure(counts.readUnits),
  figure(counts.writeUnits),
  `$${storageDollars(counts).toPrecision(3)}`,
];

/**
 * {@link costColumns} as ratios to a reference's: write units and price, and read units
 * when `reads` (against writing, which reads next to nothing, the ratio says nothing).
 */
export const costRatios = (
  counts: StorageCounts,
  reference: StorageCounts,
  reads: boolean,
): string[] => [
  ...Array.from({ length: costHeader.length - 3 }, () => ''),
  reads ? ratio(counts.readUnits, reference.readUnits) : '',
  ratio(counts.writeUnits, reference.writeUnits),
  ratio(storageDollars(counts), storageDollars(reference)),
];

export function throughputTable(cells: readonly CellFigures[]): string {
  return table(
    ['backend', 'op', 'value', 'batch', 'requests', 'records/s', 'MB/s', 'p50 ms', 'p99 ms'],
    cells.map((c) => [
      c.backend,
      c.op,
      sizeLabel(c.valueBytes),
      String(c.batch),
      String(c.requests),
      figure(c.recordsPerSecond),
      figure(c.megabytesPerSecond),
      figure(c.p50Ms),
      figure(c.p99Ms),
    ]),
    3,
  );
}

/** Storage calls per request; `a (b)` is calls (keys, items or ops they carried). */
export function operationsTable(cells: readonly CellFigures[]): string {
  return table(
    [
      'op',
      'value',
      'batch',
      'seg put',
      'put KB',
      'seg get',
      'get KB',
      'md get',
      'getMany (keys)',
      'query (items)',
      'transact (ops)',
      '1-item writes',
      'failed tx',
      'other',
      'RCU',
      'WCU',
    ],
    cells.map((c) => {
      const r = c.perRequest;
      return [
        c.op,
        sizeLabel(c.valueBytes),
        String(c.batch),
        fixed(r.segmentPuts, 2),
        fixed(r.segmentPutBytes / 1000, 1),
        fixed(r.segmentGets, 2),
        fixed(r.segmentGetBytes / 1000, 1),
        fixed(r.metadataGets, 2),
        `${fixed(r.metadataGetManys, 2)} (${fixed(r.metadataGetManyKeys, 2)})`,
        `${fixed(r.metadataQueries, 2)} (${fixed(r.metadataQueryItems, 2)})`,
        `${fixed(r.metadataTransacts, 2)} (${fixed(r.metadataTransactOps, 2)})`,
        fixed(r.metadataSingleWrites, 2),
        fixed(r.metadataTransactFailures, 3),
        // Lists and deletes: produce and fetch should make none.
        fixed(r.segmentLists + r.segmentDeletes + r.metadataDeleteManys, 2),
        fixed(r.readUnits, 2),
        fixed(r.writeUnits, 2),
      ];
    }),
    2,
  );
}

/**
 * Where a request's time goes, on average: waiting on each kind of storage call, and the
 * rest (HTTP, JSON, validation, encoding, and waiting for the event loop).
 */
export function timeTable(cells: readonly CellFigures[]): string {
  return table(
    ['op', 'value', 'batch', 'mean ms', 'seg put', 'seg get', 'md read', 'md write', 'rest'],
    cells.map((c) => {
      const r = c.perRequest;
      const storage = r.segmentPutMs + r.segmentGetMs + r.metadataReadMs + r.metadataWriteMs;
      return [
        c.op,
        sizeLabel(c.valueBytes),
        String(c.batch),
        figure(c.meanMs),
        figure(r.segmentPutMs),
        figure(r.segmentGetMs),
        figure(r.metadataReadMs),
        figure(r.metadataWriteMs),
        figure(c.meanMs - storage),
      ];
    }),
    2,
  );
}

/** Latency only: for replays, whose records are acknowledged but not moved. */
export function latencyTable(cells: readonly CellFigures[]): string {
  return table(
    ['backend', 'op', 'value', 'batch', 'requests', 'mean ms', 'p50 ms', 'p99 ms'],
    cells.map((c) => [
      c.backend,
      c.op,
      sizeLabel(c.valueBytes),
      String(c.batch),
      String(c.requests),
      figure(c.meanMs),
      figure(c.p50Ms),
      figure(c.p99Ms),
    ]),
    3,
  );
}

/**
 * What idempotence adds to a produce request: each unloaded idempotent cell beside the plain
 * one of the same backend, value size and batch (storage per request, latency), and the
 * loaded p50 and throughput. `a → b` is plain → idempotent.
 */
export function idempotenceCostTable(cells: readonly CellFigures[]): string {
  const find = (op: Op, loaded: boolean, like: CellFigures) =>
    cells.find(
      (c) =>
        c.op === op &&
        c.connections > 1 === loaded &&
        c.backend === like.backend &&
        c.valueBytes === like.valueBytes &&
        c.batch === like.batch,
    );
  const pair = (a: string, b: string) => `${a} → ${b}`;
  const rows: string[][] = [];
  for (const idem of cells) {
    if (idem.op !== 'idempotent produce' || idem.connections > 1) continue;
    const plain = find('produce', false, idem);
    if (!plain) continue;
    const loadedPlain = find('produce', true, idem);
    const loadedIdem = find('idempotent produce', true, idem);
    const p = plain.perRequest;
    const i = idem.perRequest;
    rows.push([
      idem.backend,
      sizeLabel(idem.valueBytes),
      String(idem.batch),
      pair(fixed(p.metadataTransactOps, 2), fixed(i.metadataTransactOps, 2)),
      pair(fixed(p.writeUnits, 2), fixed(i.writeUnits, 2)),
      fixed(i.writeUnits - p.writeUnits, 2),
      pair(fixed(p.readUnits, 2), fixed(i.readUnits, 2)),
      pair(figure(p.metadataWriteMs), figure(i.metadataWriteMs)),
      pair(figure(plain.p50Ms), figure(idem.p50Ms)),
      loadedPlain && loadedIdem ? pair(figure(loadedPlain.p50Ms), figure(loadedIdem.p50Ms)) : '-',
      loadedPlain && loadedIdem
        ? pair(figure(loadedPlain.recordsPerSecond), figure(loadedIdem.recordsPerSecond))
        : '-',
    ]);
  }
  return table(
    [
      'backend',
      'value',
      'batch',
      'tx items',
      'WCU',
      'extra WCU',
      'RCU',
      'md write ms',
      'p50 ms',
      'p50 ms loaded',
      'records/s loaded',
    ],
    rows,
    2,
  );
}
