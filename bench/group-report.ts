/** Consumer group figures, and the plain-text tables the bench prints for them. */

import { perRequest, type StorageCounts, sumCounts } from './counting-stores.ts';
import { figure, fixed, percentile, table } from './report.ts';

export type GroupOp = 'join' | 'heartbeat' | 'poll' | 'commit' | 'leave';

/** One group operation, unloaded: one request at a time over one connection. */
export interface GroupOpFigures {
  readonly backend: string;
  readonly op: GroupOp;
  /** What the requests were, e.g. "group of 4". */
  readonly scenario: string;
  readonly requests: number;
  readonly meanMs: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Storage calls per request, averaged. */
  readonly perRequest: StorageCounts;
}

/** What join, heartbeat and leave cost by the size of the group. */
export interface GroupSizeFigures {
  readonly backend: string;
  /** Members after the join; during the heartbeat; before the leave. */
  readonly members: number;
  /** The group's state item as DynamoDB would size it, with this many members. */
  readonly groupItemBytes: number;
  readonly join: GroupOpFigures;
  readonly heartbeat: GroupOpFigures;
  readonly leave: GroupOpFigures;
}

/** A group draining a pre-filled topic, every member polling and committing at once. */
export interface DrainFigures {
  readonly backend: string;
  readonly members: number;
  readonly partitions: number;
  readonly maxRecords: number;
  readonly records: number;
  readonly seconds: number;
  readonly recordsPerSecond: number;
  /** Polls that returned records, each followed by a commit. */
  readonly cycles: number;
  readonly cyclesPerSecond: number;
  readonly emptyPolls: number;
  readonly heartbeats: number;
  readonly failedCommits: Readonly<Record<string, number>>;
  readonly pollP50Ms: number;
  readonly pollP99Ms: number;
  readonly commitP50Ms: number;
  readonly commitP99Ms: number;
  /** Storage calls of the whole drain (polls, commits, heartbeats) per poll+commit cycle. */
  readonly perCycle: StorageCounts;
}

export interface GroupFigures {
  readonly backend: string;
  /** The whole of the group cells, pre-fill included. */
  readonly seconds: number;
  readonly ops: readonly GroupOpFigures[];
  readonly bySize: readonly GroupSizeFigures[];
  readonly drain: DrainFigures;
}

/** Figures of `op` from its latencies and the counts of each request (or of all of them). */
export function groupOpFigures(
  cell: Pick<GroupOpFigures, 'backend' | 'op' | 'scenario'>,
  latenciesMs: readonly number[],
  counts: readonly StorageCounts[],
): GroupOpFigures {
  return {
    ...cell,
    requests: latenciesMs.length,
    meanMs: latenciesMs.reduce((a, b) => a + b, 0) / latenciesMs.length,
    p50Ms: percentile(latenciesMs, 50),
    p99Ms: percentile(latenciesMs, 99),
    perRequest: perRequest(sumCounts(counts), latenciesMs.length),
  };
}

/** Latency and storage calls per request; `a (b)` is calls (keys, items or ops). */
export function groupOpsTable(ops: readonly GroupOpFigures[]): string {
  return table(
    [
      'op',
      'scenario',
      'requests',
      'mean ms',
      'p50 ms',
      'p99 ms',
      'seg get',
      'md get',
      'getMany (keys)',
      'query (items)',
      'transact (ops)',
      '1-item writes',
      'failed tx',
      'deleteMany (keys)',
      'RCU',
      'WCU',
    ],
    ops.map((o) => {
      const r = o.perRequest;
      return [
        o.op,
        o.scenario,
        String(o.requests),
        figure(o.meanMs),
        figure(o.p50Ms),
        figure(o.p99Ms),
        fixed(r.segmentGets, 2),
        fixed(r.metadataGets, 2),
        `${fixed(r.metadataGetManys, 2)} (${fixed(r.metadataGetManyKeys, 2)})`,
        `${fixed(r.metadataQueries, 2)} (${fixed(r.metadataQueryItems, 2)})`,
        `${fixed(r.metadataTransacts, 2)} (${fixed(r.metadataTransactOps, 2)})`,
        fixed(r.metadataSingleWrites, 2),
        fixed(r.metadataTransactFailures, 2),
        `${fixed(r.metadataDeleteManys, 2)} (${fixed(r.metadataDeleteManyKeys, 2)})`,
        fixed(r.readUnits, 2),
        fixed(r.writeUnits, 2),
      ];
    }),
    2,
  );
}

/** Join, heartbeat and leave by group size: p50 latency and capacity units per request. */
export function groupSizeTable(sizes: readonly GroupSizeFigures[]): string {
  return table(
    [
      'members',
      'group item B',
      'join p50 ms',
      'join RCU',
      'join WCU',
      'heartbeat p50 ms',
      'heartbeat RCU',
      'heartbeat WCU',
      'leave p50 ms',
      'leave RCU',
      'leave WCU',
    ],
    sizes.map((s) => [
      String(s.members),
      String(s.groupItemBytes),
      figure(s.join.p50Ms),
      fixed(s.join.perRequest.readUnits, 2),
      fixed(s.join.perRequest.writeUnits, 2),
      figure(s.heartbeat.p50Ms),
      fixed(s.heartbeat.perRequest.readUnits, 2),
      fixed(s.heartbeat.perRequest.writeUnits, 2),
      figure(s.leave.p50Ms),
      fixed(s.leave.perRequest.readUnits, 2),
      fixed(s.leave.perRequest.writeUnits, 2),
    ]),
    0,
  );
}

export function drainTable(drains: readonly DrainFigures[]): string {
  return table(
    [
      'backend',
      'members',
      'partitions',
      'maxRecords',
      'records',
      's',
      'records/s',
      'cycles',
      'cycles/s',
      'poll p50 ms',
      'poll p99 ms',
      'commit p50 ms',
      'commit p99 ms',
      'empty polls',
      'heartbeats',
      'failed commits',
      'seg get/cycle',
      'RCU/cycle',
      'WCU/cycle',
    ],
    drains.map((d) => [
      d.backend,
      String(d.members),
      String(d.partitions),
      String(d.maxRecords),
      String(d.records),
      figure(d.seconds),
      figure(d.recordsPerSecond),
      String(d.cycles),
      figure(d.cyclesPerSecond),
      figure(d.pollP50Ms),
      figure(d.pollP99Ms),
      figure(d.commitP50Ms),
      figure(d.commitP99Ms),
      String(d.emptyPolls),
      String(d.heartbeats),
      Object.entries(d.failedCommits)
        .map(([code, n]) => `${n} ${code}`)
        .join(', ') || '0',
      fixed(d.perCycle.segmentGets, 2),
      fixed(d.perCycle.readUnits, 2),
      fixed(d.perCycle.writeUnits, 2),
    ]),
    1,
  );
}
