/**
 * Consumer groups in the bench (docs/consumer-groups.md): what join, heartbeat, poll, commit
 * and leave cost — latency with one request at a time, and the storage calls each request
 * makes — and how fast a group of members drains a topic together.
 *
 * All of it on one topic of `topicPartitions` partitions, pre-filled with 100 B records:
 * - join, heartbeat and leave by group size: `joinGroups` groups grown by one join at a time
 *   from 1 to `maxMembers` members (each join a rebalance), the member that just joined
 *   heartbeating once, then emptied by one leave at a time (each a rebalance) — the group's
 *   item, which every one of these rewrites, grows with its members;
 * - the steady state of a group of `steadyMembers`: heartbeats round-robin, then one
 *   member's polls and its commits of every partition it owns;
 * - a drain: another group reading the whole topic from the start, each member polling and
 *   committing what it got, over a connection of its own.
 */

import { groupStateKey } from '../functions/core/groups/group.ts';
import type { CountedStores } from './backends.ts';
import { perRequest, type StorageCounts } from './counting-stores.ts';
import { itemSize } from './dynamodb-capacity.ts';
import {
  type DrainFigures,
  type GroupFigures,
  type GroupOp,
  type GroupOpFigures,
  type GroupSizeFigures,
  groupOpFigures,
} from './group-report.ts';
import {
  errorCode,
  type MemberView,
  memberView,
  type PollAnswer,
  parseAnswer,
  pollAnswer,
} from './group-responses.ts';
import type { HttpCall, LoadGenerator } from './load.ts';
import { percentile } from './report.ts';
import { createTopic } from './setup-requests.ts';

const topicPartitions = 16;
/** Written before the groups start: about this many records per partition, 100 per request. */
const prefillRecordsPerPartition = 2_000;
const prefillBatch = 100;
const valueBytes = 100;
/** Groups grown to `maxMembers` and emptied again: samples per group size. */
const joinGroups = 5;
const maxMembers = 8;
/** The steady group: its members (4 partitions each), and the requests measured. */
const steadyMembers = 4;
const steadyHeartbeats = 40;
const steadyPolls = 20;
const pollMaxRecords = 100;
/** The drain: members, and records per poll (Kafka's max.poll.records default). */
const drainMembers = 4;
const drainMaxRecords = 500;
/** Kafka's heartbeat.interval.ms default. */
const heartbeatIntervalMs = 3_000;
const maxDrainMs = 30_000;

export const groupConfig = {
  topicPartitions,
  prefillRecordsPerPartition,
  prefillBatch,
  valueBytes,
  joinGroups,
  maxMembers,
  steadyMembers,
  steadyHeartbeats,
  steadyPolls,
  pollMaxRecords,
  drainMembers,
  drainMaxRecords,
  heartbeatIntervalMs,
};

export interface GroupBench {
  readonly backend: string;
  /** The server, with `stores` behind it. */
  readonly url: string;
  readonly load: LoadGenerator;
  readonly stores: CountedStores;
  readonly progress: (line: string) => void;
}

/** Requests sent one after another, their answers, and the storage calls they made. */
interface Sent {
  readonly latenciesMs: readonly number[];
  readonly texts: readonly string[];
  readonly counts: StorageCounts;
}

const topic = 'bench-groups';
const steadyGroup = 'bench-steady';
const groupPath = (group: string) => `/v1/groups/${encodeURIComponent(group)}`;
const memberPath = (group: string, memberId: string) =>
  `${groupPath(group)}/members/${encodeURIComponent(memberId)}`;
const joinCall = (group: string): HttpCall => ({
  method: 'POST',
  path: `${groupPath(group)}/members`,
  body: JSON.stringify({ topics: [topic], autoOffsetReset: 'earliest' }),
});
const heartbeatCall = (group: string, memberId: string): HttpCall => ({
  method: 'POST',
  path: `${memberPath(group, memberId)}/heartbeat`,
});

export async function groupCells(bench: GroupBench): Promise<GroupFigures> {
  const started = performance.now();
  await createTopic(bench.url, topic, topicPartitions);
  const ends = await prefill(bench);
  const requests = requester(bench);
  // The steady group's joins come first: they also warm the group code paths up.
  const steady = await requests.joinAll(steadyGroup, steadyMembers);
  const bySize = await sizeCells(bench, requests);
  const steadyOps = await steadyCells(bench, requests, steady);
  const drain = await drainTopic(bench, requests, ends);

  const fromSizes = (op: 'join' | 'heartbeat' | 'leave', scenario: string) =>
    groupOpFigures(
      { backend: bench.backend, op, scenario },
      bySize.flatMap((s) => s.samples[op].latenciesMs),
      bySize.flatMap((s) => s.samples[op].counts),
    );
  const ops = [
    fromSizes('join', `1st to ${ordinal(maxMembers)} member`),
    fromSizes('heartbeat', `groups of 1 to ${maxMembers}`),
    ...steadyOps,
    fromSizes('leave', `${ordinal(maxMembers)} to last member`),
  ];
  const seconds = (performance.now() - started) / 1000;
  bench.progress(
    `${bench.backend} groups: ${ops.map((o) => `${o.op} p50 ${o.p50Ms.toFixed(1)} ms`).join(', ')}; drain ${Math.round(drain.recordsPerSecond)} rec/s; ${seconds.toFixed(0)} s`,
  );
  return { backend: bench.backend, seconds, ops, bySize: bySize.map((s) => s.figures), drain };
}

interface Requester {
  /** Sends `requests` one after another, expecting `status` for each. */
  send(requests: readonly HttpCall[], status: number): Promise<Sent>;
  /** Members joining one after another (not measured); what each heartbeat then answers. */
  joinAll(group: string, members: number): Promise<MemberView[]>;
}

function requester(bench: GroupBench): Requester {
  const send = async (requests: readonly HttpCall[], status: number): Promise<Sent> => {
    bench.stores.takeCounts();
    const result = await bench.load.calls({ kind: 'calls', url: bench.url, requests });
    const counts = bench.stores.takeCounts();
    result.responses.forEach((response, i) => {
      if (response.status !== status) {
        const request = requests[i];
        throw new Error(
          `${request?.method} ${request?.path} answered ${response.status} (${errorCode(response.status, response.text)})`,
        );
      }
    });
    return { latenciesMs: result.latenciesMs, texts: result.responses.map((r) => r.text), counts };
  };
  const joinAll = async (group: string, members: number): Promise<MemberView[]> => {
    const ids: string[] = [];
    for (let i = 0; i < members; i++) {
      const joined = await send([joinCall(group)], 200);
      ids.push(parseAnswer(memberView, joined.texts[0] ?? '', 'join').memberId);
    }
    const beats = await send(
      ids.map((id) => heartbeatCall(group, id)),
      200,
    );
    return beats.texts.map((text) => parseAnswer(memberView, text, 'heartbeat'));
  };
  return { send, joinAll };
}

/** Latencies and storage counts of single requests. */
interface Samples {
  readonly latenciesMs: number[];
  readonly counts: StorageCounts[];
}

interface SizeSamples {
  readonly figures: GroupSizeFigures;
  readonly samples: Readonly<Record<'join' | 'heartbeat' | 'leave', Samples>>;
}

/**
 * Join, heartbeat and leave by the size of the group: `joinGroups` groups grown one join at
 * a time to `maxMembers` (the member that just joined heartbeating once), then emptied one
 * leave at a time, oldest member first as in a rolling restart.
 */
async function sizeCells(bench: GroupBench, requests: Requester): Promise<SizeSamples[]> {
  const noSamples = (): Samples => ({ latenciesMs: [], counts: [] });
  const sizes = Array.from({ length: maxMembers }, () => ({
    join: noSamples(),
    heartbeat: noSamples(),
    leave: noSamples(),
    itemBytes: Number.NaN,
  }));
  const add = (samples: Samples | undefined, sent: Sent) => {
    samples?.latenciesMs.push(...sent.latenciesMs);
    samples?.counts.push(sent.counts);
  };
  for (let g = 0; g < joinGroups; g++) {
    const group = `bench-join-${g}`;
    const members: string[] = [];
    for (const size of sizes) {
      const joined = await requests.send([joinCall(group)], 200);
      const { memberId } = parseAnswer(memberView, joined.texts[0] ?? '', 'join');
      members.push(memberId);
      add(size.join, joined);
      add(size.heartbeat, await requests.send([heartbeatCall(group, memberId)], 200));
      size.itemBytes = await groupItemBytes(bench.stores, group);
    }
    for (const [i, memberId] of members.entries()) {
      const left = await requests.send(
        [{ method: 'DELETE', path: memberPath(group, memberId) }],
        204,
      );
      add(sizes[maxMembers - 1 - i]?.leave, left);
    }
  }
  return sizes.map((size, i) => {
    const members = i + 1;
    const op = (name: 'join' | 'heartbeat' | 'leave') =>
      groupOpFigures(
        { backend: bench.backend, op: name, scenario: `group of ${members}` },
        size[name].latenciesMs,
        size[name].counts,
      );
    return {
      figures: {
        backend: bench.backend,
        members,
        groupItemBytes: size.itemBytes,
        join: op('join'),
        heartbeat: op('heartbeat'),
        leave: op('leave'),
      },
      samples: size,
    };
  });
}

/**
 * The steady state of a group: heartbeats round-robin over its members, then one member's
 * polls, each from the cursor of the one before (after a first one, which starts at the
 * group's offsets), and commits of what each poll reached on every partition it owns.
 */
async function steadyCells(
  bench: GroupBench,
  requests: Requester,
  members: readonly MemberView[],
): Promise<GroupOpFigures[]> {
  const op = (name: GroupOp, scenario: string, sent: Sent) =>
    groupOpFigures({ backend: bench.backend, op: name, scenario }, sent.latenciesMs, [sent.counts]);
  const heartbeats = await requests.send(
    Array.from({ length: steadyHeartbeats }, (_, i) =>
      heartbeatCall(steadyGroup, members[i % members.length]?.memberId ?? ''),
    ),
    200,
  );

  const polling = members[0];
  if (!polling) throw new Error('the steady group has no member');
  const owned = polling.assignment.reduce((n, a) => n + a.partitions.length, 0);
  // Each poll continues from the cursor of the one before, as a consumer's do; the first
  // starts at the group's offsets and is not measured.
  const polls: Sent[] = [];
  const polled: PollAnswer[] = [];
  for (let i = 0; i <= steadyPolls; i++) {
    const cursor = polled.at(-1)?.cursor;
    const sent = await requests.send(
      [
        {
          method: 'GET',
          path: `${memberPath(steadyGroup, polling.memberId)}/records?maxRecords=${pollMaxRecords}${cursor ? `&cursor=${cursor}` : ''}`,
        },
      ],
      200,
    );
    polled.push(parseAnswer(pollAnswer, sent.texts[0] ?? '', 'poll'));
    if (i > 0) polls.push(sent);
  }
  const short = polled.filter((p) => p.records.length < pollMaxRecords).length;
  if (short > 0) bench.progress(`  ${short} polls returned fewer than ${pollMaxRecords} records`);

  const commits = await requests.send(
    commitBodies(polling, polled)
      .slice(1)
      .map((body) => ({ method: 'POST', path: `${groupPath(steadyGroup)}/offsets`, body })),
    200,
  );
  return [
    op('heartbeat', `group of ${members.length}`, heartbeats),
    groupOpFigures(
      {
        backend: bench.backend,
        op: 'poll',
        scenario: `maxRecords ${pollMaxRecords}, ${owned} partitions`,
      },
      polls.flatMap((p) => p.latenciesMs),
      polls.map((p) => p.counts),
    ),
    op('commit', `${owned} partitions`, commits),
  ];
}

const ordinal = (n: number): string =>
  `${n}${n % 10 === 1 && n !== 11 ? 'st' : n % 10 === 2 && n !== 12 ? 'nd' : n % 10 === 3 && n !== 13 ? 'rd' : 'th'}`;

/**
 * Writes about `prefillRecordsPerPartition` records to every partition, one connection per
 * partition; answers where each partition ends.
 */
async function prefill(bench: GroupBench): Promise<Map<number, number>> {
  const partitions = Array.from({ length: topicPartitions }, (_, p) => p);
  const requestsPerPartition = Math.ceil(prefillRecordsPerPartition / prefillBatch);
  const result = await bench.load.run({
    kind: 'produce',
    url: bench.url,
    topic,
    partitions,
    batch: prefillBatch,
    valueBytes,
    durationMs: 0,
    minRequests: requestsPerPartition * topicPartitions,
    maxDurationMs: 120_000,
  });
  return new Map(result.ends.map(({ partition, end }) => [partition, end]));
}

/**
 * One commit per poll: for each partition the member owns, the offset after the last record
 * it has polled there so far (0 before any).
 */
function commitBodies(member: MemberView, polls: readonly PollAnswer[]): string[] {
  const reached = new Map<string, { topic: string; partition: number; offset: number }>();
  for (const { topic: name, partitions } of member.assignment) {
    for (const partition of partitions) {
      reached.set(`${name}#${partition}`, { topic: name, partition, offset: 0 });
    }
  }
  return polls.map((poll) => {
    for (const r of poll.records) {
      reached.set(`${r.topic}#${r.partition}`, {
        topic: r.topic,
        partition: r.partition,
        offset: r.offset + 1,
      });
    }
    return JSON.stringify({
      memberId: member.memberId,
      generation: member.generation,
      offsets: [...reached.values()],
    });
  });
}

/** The size DynamoDB would bill the group's state item at (read outside any figures). */
async function groupItemBytes(stores: CountedStores, group: string): Promise<number> {
  const item = await stores.metadata.get(groupStateKey(group));
  stores.takeCounts();
  return item ? itemSize(item) : Number.NaN;
}

/** A fresh group of `drainMembers` reading the whole topic from offset 0. */
async function drainTopic(
  bench: GroupBench,
  requests: Requester,
  ends: ReadonlyMap<number, number>,
): Promise<DrainFigures> {
  const group = 'bench-drain';
  const members = await requests.joinAll(group, drainMembers);
  const expected = members.map((m) =>
    m.assignment.reduce(
      (sum, a) =>
        sum + (a.topic === topic ? a.partitions.reduce((n, p) => n + (ends.get(p) ?? 0), 0) : 0),
      0,
    ),
  );
  bench.stores.takeCounts();
  const result = await bench.load.consume({
    kind: 'consume',
    url: bench.url,
    group,
    members: members.map((m, i) => ({
      memberId: m.memberId,
      generation: m.generation,
      records: expected[i] ?? 0,
    })),
    maxRecords: drainMaxRecords,
    heartbeatIntervalMs,
    maxDurationMs: maxDrainMs,
  });
  const counts = bench.stores.takeCounts();
  const total = expected.reduce((a, b) => a + b, 0);
  if (result.records < total) {
    bench.progress(`  the drain stopped at its time limit after ${result.records} of ${total}`);
  }
  const seconds = result.elapsedMs / 1000;
  const cycles = result.commitLatenciesMs.length;
  return {
    backend: bench.backend,
    members: drainMembers,
    partitions: topicPartitions,
    maxRecords: drainMaxRecords,
    records: result.records,
    seconds,
    recordsPerSecond: result.records / seconds,
    cycles,
    cyclesPerSecond: cycles / seconds,
    emptyPolls: result.emptyPolls,
    heartbeats: result.heartbeatLatenciesMs.length,
    failedCommits: result.failedCommits,
    pollP50Ms: percentile(result.pollLatenciesMs, 50),
    pollP99Ms: percentile(result.pollLatenciesMs, 99),
    commitP50Ms: percentile(result.commitLatenciesMs, 50),
    commitP99Ms: percentile(result.commitLatenciesMs, 99),
    perCycle: perRequest(counts, cycles),
  };
}
