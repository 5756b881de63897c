/**
 * `npm run bench`: produce and fetch throughput and latency over real HTTP against the local
 * server (createApp + createLocalServer, as `npm start` serves it), on the embedded store and
 * on DynamoDB Local + the S3 emulator, with the storage calls each request makes counted and
 * priced in DynamoDB capacity units. Idempotent produce (a producer id, epoch and sequence on
 * every request) is measured beside plain produce, with the replay of a committed batch.
 * Then consumer groups (bench/group-cells.ts): join, heartbeat, poll, commit and leave, and a
 * group draining a topic; maintenance passes (bench/maintenance-cells.ts); and segment merge
 * and compaction (bench/merge-cells.ts, bench/compaction-cells.ts), on stores of their own
 * and a server whose clock they move forward. Prints tables and writes the figures to .bench/.
 *
 * Processes: the server and its stores run on this thread; the HTTP clients run in a worker
 * thread (bench/load-worker.ts); the emulators in a child process (bench/emulator-process.ts).
 * Everything is stopped on the way out, on error and on Ctrl-C too.
 *
 * Figures, not a pass/fail test; docs/performance.md reads a run.
 */

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import { availableParallelism, cpus, loadavg, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { type AppOptions, createApp, deferInBackground } from '../functions/app.ts';
import type { Handler } from '../functions/http/handler.ts';
import type { Logger } from '../functions/http/logger.ts';
import { createLocalServer } from '../functions/local/server.ts';
import type { EmulatorEndpoints } from '../test/support/emulators.ts';
import {
  awsCostCells,
  awsCostConfig,
  awsCostReport,
  type CostRow,
  costPerMillion,
} from './aws-cost.ts';
import { type BenchBackend, embeddedBackend, emulatedAwsBackend, type Stores } from './backends.ts';
import { BenchClock } from './clock.ts';
import {
  type CompactionFigures,
  compactionCells,
  compactionConfig,
  compactionTable,
} from './compaction-cells.ts';
import { groupCells, groupConfig } from './group-cells.ts';
import { drainTable, type GroupFigures, groupOpsTable, groupSizeTable } from './group-report.ts';
import { LoadGenerator, type LoadResult, type ProducerSession, type ReplayJob } from './load.ts';
import {
  type MaintenanceFigures,
  maintenanceCells,
  maintenanceTable,
} from './maintenance-cells.ts';
import {
  type MergeFigures,
  mergeCells,
  mergeConfig,
  mergeCostTable,
  mergeReadTable,
} from './merge-cells.ts';
import {
  type ReferenceFigures,
  referenceCells,
  referenceConfig,
  referenceReport,
} from './reference-cells.ts';
import {
  type CellFigures,
  figures,
  idempotenceCostTable,
  latencyTable,
  operationsTable,
  sizeLabel,
  throughputTable,
  timeTable,
} from './report.ts';
import { createTopic } from './setup-requests.ts';
import { benchSubscriptions, subscriptionReport } from './subscriptions.ts';
import { benchTransactions, transactionReport } from './transactions.ts';

/** The matrix. */
const connections = 4;
const valueSizes = [100, 1024] as const;
const batchSizes = [1, 100, 1000] as const;
/** Each produce cell runs this long and makes at least `minRequests` requests. */
const cellMs = 4_000;
const minRequests = 50;
/** Requests of the unloaded (one connection) run after each cell. */
const soloRequests = 20;
/** Each of two warm-up runs (batch 1 and 100) before a backend's figures. */
const warmupMs = 4_000;
/**
 * Idempotent produce runs at this value size only, beside the plain produce cell of the same
 * batch: what it adds is per request (two more items in the commit), not per byte.
 */
const idempotentValueBytes = 100;
/** A warm-up of idempotent produce (batch 100) after the plain ones. */
const idempotentWarmupMs = 2_000;
/** Replays of the last committed idempotent batch, by its writer and then by a new one. */
const replayRequests = 20;
/** Hard limits per cell, and for the whole run. */
const maxCellMs = 20_000;
const maxRunMs = 15 * 60_000;
/** As `npm start` (TRIBUTARY_CACHE_MB default). Fetches read each batch once: no hits. */
const cacheBytes = 64 * 1024 * 1024;
const emulatorStartupMs = 120_000;

/** Set on Ctrl-C: requests failing as the server and emulators stop are then expected. */
let interrupted = false;

/** Server errors go to stderr, so a failing request is seen; the rest stays quiet. */
const log: Logger = {
  info: () => {},
  error: (message, fields) => {
    if (interrupted) return;
    process.stderr.write(`server error: ${message} ${JSON.stringify(fields ?? {}, errorJson)}\n`);
  },
};

function errorJson(_key: string, value: unknown): unknown {
  return value instanceof Error ? { name: value.name, message: value.message } : value;
}

const progress = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

/** Cleanup steps, run last-in first-out on the way out whatever happens. */
const cleanups: (() => Promise<void>)[] = [];
let cleaning: Promise<void> | undefined;
/** Runs the cleanup steps once; later calls (a signal during a failure) wait for that run. */
function cleanUp(): Promise<void> {
  cleaning ??= (async () => {
    for (let step = cleanups.pop(); step; step = cleanups.pop()) {
      await step().catch((error: unknown) => progress(`cleanup failed: ${String(error)}`));
    }
  })();
  return cleaning;
}

/** Registers `step` to run on the way out; returns a function that runs it now instead. */
function onExit(step: () => Promise<void>): () => Promise<void> {
  cleanups.push(step);
  return async () => {
    const index = cleanups.indexOf(step);
    if (index === -1) return;
    cleanups.splice(index, 1);
    await step();
  };
}

/**
 * Parts of the bench that `--only` can pick (`npm run bench -- --only reference,cost`); all
 * of them by default. `reference` and `cost` run on the embedded store only: with nothing
 * else picked, the emulators are not started.
 */
const sectionNames = [
  'matrix',
  'reference',
  'cost',
  'groups',
  'maintenance',
  'rewrites',
  'subscriptions',
  'transactions',
] as const;
type Section = (typeof sectionNames)[number];
const embeddedOnlySections: readonly Section[] = ['reference', 'cost'];

function parseSections(args: readonly string[]): ReadonlySet<Section> {
  const usage = `usage: npm run bench [-- --only <part>[,<part>...]], parts: ${sectionNames.join(', ')}`;
  const picked: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    if (arg === '--only') picked.push(...(args[++i] ?? '').split(','));
    else if (arg.startsWith('--only=')) picked.push(...arg.slice('--only='.length).split(','));
    else throw new Error(`unknown argument '${arg}'; ${usage}`);
  }
  if (picked.length === 0) return new Set(sectionNames);
  const isSection = (name: string): name is Section => sectionNames.some((s) => s === name);
  const unknown = picked.filter((name) => !isSection(name));
  if (unknown.length > 0) throw new Error(`unknown part '${unknown.join(', ')}'; ${usage}`);
  return new Set(picked.filter(isSection));
}

async function main(): Promise<void> {
  const sections = parseSections(process.argv.slice(2));
  const runStarted = process.hrtime.bigint();
  const machine = describeMachine();
  progress(
    `tributary bench: ${machine.cpus} CPUs (${machine.cpuModel}), ${machine.memoryGiB} GiB, Node ${machine.node}; ${[...sections].join(', ')}`,
  );

  const load = new LoadGenerator();
  onExit(() => load.close());

  const cells: CellFigures[] = [];
  const groups: GroupFigures[] = [];
  const maintenance: MaintenanceFigures[] = [];
  const merge: MergeFigures[] = [];
  const compaction: CompactionFigures[] = [];
  const rewriteSeconds: { backend: string; seconds: number }[] = [];
  const collect = (backend: BenchBackend, figures: BackendFigures) => {
    cells.push(...figures.cells);
    if (figures.groups) groups.push(figures.groups);
    if (figures.maintenance) maintenance.push(figures.maintenance);
    if (figures.rewrites) {
      merge.push(...figures.rewrites.merge);
      compaction.push(figures.rewrites.compaction);
      rewriteSeconds.push({ backend: backend.name, seconds: figures.rewrites.rewriteSeconds });
    }
  };
  const embedded = await benchBackend(embeddedBackend, load, sections);
  collect(embeddedBackend, embedded);

  const emulatedSections = new Set(
    [...sections].filter(
      (s) => s !== 'subscriptions' && s !== 'transactions' && !embeddedOnlySections.includes(s),
    ),
  );
  if (emulatedSections.size > 0) {
    progress('starting DynamoDB Local and fauxqs');
    const emulators = await startEmulatorProcess();
    const stopEmulators = onExit(emulators.stop);
    const emulatedBackend = emulatedAwsBackend(emulators.endpoints);
    collect(emulatedBackend, await benchBackend(emulatedBackend, load, emulatedSections));
    await stopEmulators();
  }

  const totalSeconds = Number(process.hrtime.bigint() - runStarted) / 1e9;
  const loadAverageAtEnd = loadavg()[0] ?? 0;
  const out = process.stdout;
  const loaded = cells.filter((c) => c.connections === connections);
  const replays = cells.filter((c) => c.op.startsWith('replay'));
  const unloaded = cells.filter((c) => c.connections === 1 && !replays.includes(c));
  const solo = cells.filter((c) => c.connections === 1);
  out.write(
    `\nTributary bench — ${machine.cpus} CPUs (${machine.cpuModel}), ${machine.memoryGiB} GiB RAM, Node ${machine.node}, ${machine.os}\n`,
  );
  out.write(
    `Code ${machine.code}; 1-minute load average ${machine.loadAverageAtStart.toFixed(2)} at start, ${loadAverageAtEnd.toFixed(2)} at end; parts: ${[...sections].join(', ')}\n\n`,
  );
  if (embedded.reference) {
    out.write(
      `Reference cells, embedded store: ${referenceConfig.valueBytes / 1024} KiB records, ${referenceConfig.connections} connections or writers, ${referenceConfig.rounds} interleaved rounds of ${referenceConfig.cellMs / 1000} s a cell (figures: the rounds' sums); file append = the produce request's body appended to a file per writer, one fdatasync each; plain node:http = a server that reads the body and answers 200; MB = 10^6 bytes of record values; CPU = this process's CPU time (server, load generator and their threads) per request, cores busy = that CPU time over the cell's time\n`,
    );
    out.write(`${referenceReport(embedded.reference)}\n\n`);
  }
  if (embedded.cost) {
    out.write(
      'AWS cost per million requests, all in (us-east-1 list prices, bench/prices.ts), from the storage calls counted:\n',
    );
    out.write(`${awsCostReport(embedded.cost)}\n\n`);
  }
  if (cells.length > 0) {
    out.write(
      `Throughput under load: ${connections} connections, one partition each; produce for ${cellMs / 1000} s (at least ${minRequests} requests), then fetch all of it back; MB = 10^6 bytes of record values\n`,
    );
    out.write(`${throughputTable(loaded)}\n\n`);
    out.write(
      `Unloaded: one connection, ${soloRequests} produce requests, then ${soloRequests} fetches of what they wrote (idempotent: produce only)\n`,
    );
    out.write(`${throughputTable(unloaded)}\n\n`);
    out.write(
      `Replays of the last committed idempotent batch, ${replayRequests} each, one connection: by the writer that committed it, then by a new writer per request (nothing remembered, as on another Lambda instance)\n`,
    );
    out.write(`${latencyTable(replays)}\n\n`);
    out.write(
      'What idempotence adds per produce request, unloaded (storage, p50) and loaded (p50, records/s); a → b = plain → idempotent\n',
    );
    out.write(`${idempotenceCostTable(cells)}\n\n`);
    for (const backend of new Set(solo.map((c) => c.backend))) {
      out.write(
        `Storage calls per request, unloaded — ${backend}; a (b) = calls (keys, items or ops); 1-item writes = transacts of one put or delete, sent as one UpdateItem or DeleteItem; RCU/WCU = DynamoDB estimate\n`,
      );
      out.write(`${operationsTable(solo.filter((c) => c.backend === backend))}\n\n`);
    }
    for (const backend of new Set(solo.map((c) => c.backend))) {
      out.write(`Where an unloaded request's time goes, mean ms — ${backend}\n`);
      out.write(`${timeTable(solo.filter((c) => c.backend === backend))}\n\n`);
    }
  }
  for (const group of groups) {
    out.write(
      `Consumer groups, one request at a time — ${group.backend}: storage calls per request (a (b) = calls (keys, items or ops); 1-item writes = transacts of one put or delete, sent as one UpdateItem or DeleteItem), RCU/WCU = DynamoDB estimate\n`,
    );
    out.write(`${groupOpsTable(group.ops)}\n\n`);
  }
  for (const group of groups) {
    out.write(
      `Consumer groups by size, ${groupConfig.joinGroups} groups grown one join at a time on a topic of ${groupConfig.topicPartitions} partitions — ${group.backend}\n`,
    );
    out.write(`${groupSizeTable(group.bySize)}\n\n`);
  }
  if (groups.length > 0) {
    out.write(
      `A group draining a topic of ${groupConfig.topicPartitions} partitions from offset 0: one connection per member, poll then commit what it returned, heartbeat every ${groupConfig.heartbeatIntervalMs / 1000} s\n`,
    );
    out.write(`${drainTable(groups.map((g) => g.drain))}\n\n`);
  }
  if (maintenance.length > 0) {
    out.write(
      'Maintenance passes (POST /v1/admin/maintenance): per GB expired (1 KiB records, 8 partitions; the pass beyond an idle one), and an idle pass per idle partition (a 64-partition topic added); a (b) = calls (keys or items); RCU/WCU = DynamoDB estimate\n',
    );
    out.write(`${maintenanceTable(maintenance)}\n\n`);
  }
  if (merge.length > 0) {
    out.write(
      `Segment merge: one partition of ${mergeConfig.records} records written one per request, read from offset 0 with the default fetch (maxRecords ${mergeConfig.defaultMaxRecords}, maxBytes 1 MiB; each fetch by a new app, its cache empty) before and after the maintenance passes merged it, against the same records written ${mergeConfig.referenceBatch} per request; per 1,000 records\n`,
    );
    out.write(`${mergeReadTable(merge)}\n\n`);
    out.write(
      'What merging cost, once: every pass until merged and the replaced chunks deleted (the clock moved past each age merge waits on), beyond an idle pass each; per 1,000 records merged, beside writing them one per request; storage $ = DynamoDB units and S3 requests at list prices\n',
    );
    out.write(`${mergeCostTable(merge)}\n\n`);
  }
  if (compaction.length > 0) {
    out.write(
      `Compaction (cleanup.policy=compact, configs at their defaults): ${compactionConfig.requestsPerPartition * compactionConfig.batch} records of ${compactionConfig.valueBytes} B in each of ${compactionConfig.partitions} partition(s), ${compactionConfig.batch} per request, each request the same ${compactionConfig.keys} keys; every pass until compacted, merged and the replaced chunks deleted, beyond an idle pass each; per GB of dirty data compacted, beside writing a GB and expiring one\n`,
    );
    out.write(`${compactionTable(compaction, maintenance)}\n\n`);
  }
  const parts = [
    ...groups.map((g) => `consumer groups ${g.seconds.toFixed(0)} s on ${g.backend}`),
    ...rewriteSeconds.map((r) => `merge and compaction ${r.seconds.toFixed(0)} s on ${r.backend}`),
  ];
  out.write(
    `Total bench time ${totalSeconds.toFixed(0)} s${parts.length > 0 ? `, of which ${parts.join(', ')}` : ''}\n`,
  );

  const file = await writeResults({
    machine,
    sections: [...sections],
    loadAverageAtEnd,
    totalSeconds,
    cells,
    reference: embedded.reference,
    awsCost: embedded.cost?.map((row) => ({ ...row, perMillion: costPerMillion(row) })),
    groups,
    maintenance,
    merge,
    compaction,
    rewriteSeconds,
  });
  out.write(`Figures written to ${file}\n`);
  if (sections.has('subscriptions')) {
    out.write(`\n${subscriptionReport(await benchSubscriptions(progress))}`);
  }
  if (sections.has('transactions')) {
    out.write(`\n${transactionReport(await benchTransactions(progress))}`);
  }
}

/** What one backend's run measured; a part left out by `--only` is absent (or empty). */
interface BackendFigures {
  cells: CellFigures[];
  reference?: ReferenceFigures;
  cost?: CostRow[];
  groups?: GroupFigures;
  maintenance?: MaintenanceFigures;
  rewrites?: {
    merge: MergeFigures[];
    compaction: CompactionFigures;
    rewriteSeconds: number;
  };
}

async function benchBackend(
  backend: BenchBackend,
  load: LoadGenerator,
  sections: ReadonlySet<Section>,
): Promise<BackendFigures> {
  progress(`${backend.name}: opening stores`);
  const stores = await backend.open();
  const closeStores = onExit(() => stores.close());
  const server = await startServer(stores, 'one app');
  const closeServer = onExit(() => stopServer(server.server));
  // Answers each request with an app of its own: a writer that remembers nothing.
  const newWriterServer = await startServer(stores, 'an app per request');
  const closeNewWriterServer = onExit(() => stopServer(newWriterServer.server));

  /** Produces with `partitions.length` connections, idempotently when given producers. */
  const produce = async (
    topic: string,
    valueBytes: number,
    batch: number,
    partitions: readonly number[],
    bounds: { durationMs: number; minRequests: number },
    producers?: readonly ProducerSession[],
  ) => {
    stores.takeCounts();
    const result = await load.run({
      kind: 'produce',
      url: server.url,
      topic,
      partitions,
      batch,
      valueBytes,
      ...bounds,
      maxDurationMs: maxCellMs,
      ...(producers && { producers }),
    });
    return { result, counts: stores.takeCounts() };
  };

  /** Produces with `partitions.length` connections, then fetches all of it back. */
  const run = async (
    topic: string,
    valueBytes: number,
    batch: number,
    partitions: readonly { partition: number; from: number }[],
    bounds: { durationMs: number; minRequests: number },
  ) => {
    const produced = await produce(
      topic,
      valueBytes,
      batch,
      partitions.map((p) => p.partition),
      bounds,
    );
    const fetched = await load.run({
      kind: 'fetch',
      url: server.url,
      topic,
      partitions: produced.result.ends.map(({ partition, end }, i) => ({
        partition,
        from: partitions[i]?.from ?? 0,
        end,
      })),
      batch,
      valueBytes,
      maxDurationMs: maxCellMs,
    });
    const fetchCounts = stores.takeCounts();
    warnIfShort(produced.result, fetched);
    return {
      produced: produced.result,
      produceCounts: produced.counts,
      fetched,
      fetchCounts,
    };
  };

  /** Sends the same committed idempotent request again, `replayRequests` times. */
  const replay = async (url: string, job: Omit<ReplayJob, 'kind' | 'url' | 'requests'>) => {
    stores.takeCounts();
    const result = await load.run({ kind: 'replay', url, ...job, requests: replayRequests });
    const counts = stores.takeCounts();
    if (counts.metadataTransacts > 0 || counts.segmentPuts > 0) {
      progress(
        `  replays wrote: ${counts.metadataTransacts} transactions, ${counts.segmentPuts} segment puts`,
      );
    }
    return { result, counts };
  };

  const partitionNumbers = Array.from({ length: connections }, (_, partition) => partition);
  const allPartitions = partitionNumbers.map((partition) => ({ partition, from: 0 }));

  const cells: CellFigures[] = [];
  const measured: BackendFigures = { cells };
  if (sections.has('reference')) {
    // On a server of its own without the storage counts, as `npm start` serves the API.
    const plainServer = await startServer(stores.uncounted, 'one app');
    const closePlainServer = onExit(() => stopServer(plainServer.server));
    const url = plainServer.url;
    measured.reference = await referenceCells({
      load,
      progress,
      tributary: async (cell) => {
        await createTopic(url, cell.name, cell.partitions);
        const partitions = Array.from({ length: cell.partitions }, (_, partition) => partition);
        const produced = await load.run({
          kind: 'produce',
          url,
          topic: cell.name,
          partitions,
          batch: cell.batch,
          valueBytes: cell.valueBytes,
          durationMs: cell.durationMs,
          minRequests: cell.minRequests,
          maxDurationMs: maxCellMs,
        });
        if (!cell.fetch) return { produced, fetched: undefined };
        const fetched = await load.run({
          kind: 'fetch',
          url,
          topic: cell.name,
          partitions: produced.ends.map(({ partition, end }) => ({ partition, from: 0, end })),
          batch: cell.batch,
          valueBytes: cell.valueBytes,
          maxDurationMs: maxCellMs,
        });
        warnIfShort(produced, fetched);
        return { produced, fetched };
      },
    });
    await closePlainServer();
  }
  if (sections.has('matrix')) cells.push(...(await matrixCells()));
  if (sections.has('cost')) {
    measured.cost = await awsCostCells({ url: server.url, load, stores, progress });
  }
  // Last, so the produce and fetch cells run under the same conditions as before.
  const onThisServer = { backend: backend.name, url: server.url, load, stores, progress };
  if (sections.has('groups')) measured.groups = await groupCells(onThisServer);
  if (sections.has('maintenance')) measured.maintenance = await maintenanceCells(onThisServer);

  await closeNewWriterServer();
  await closeServer();
  await closeStores();
  if (sections.has('rewrites')) measured.rewrites = await rewriteCells(backend, load);
  return measured;

  /** Plain and idempotent produce, fetch and replays over the matrix, after a warm-up. */
  async function matrixCells(): Promise<CellFigures[]> {
    // JIT (Node's and DynamoDB Local's JVM), connection pools and first-use costs, outside
    // the figures.
    for (const batch of [1, 100]) {
      const topic = `bench-warmup-${batch}`;
      await createTopic(server.url, topic, connections);
      await run(topic, 100, batch, allPartitions, { durationMs: warmupMs, minRequests: 0 });
    }
    {
      const topic = 'bench-warmup-idempotent';
      await createTopic(server.url, topic, connections);
      const producers = await initProducers(server.url, connections);
      await produce(
        topic,
        idempotentValueBytes,
        100,
        partitionNumbers,
        { durationMs: idempotentWarmupMs, minRequests: 0 },
        producers,
      );
    }

    /**
     * Idempotent produce: loaded, one producer per connection; then unloaded, partition 0's
     * producer going on from where it stopped (its state is already written, as in the steady
     * state); then replays of the last batch it committed.
     */
    const idempotentCells = async (batch: number): Promise<CellFigures[]> => {
      const valueBytes = idempotentValueBytes;
      const topic = `bench-idempotent-${valueBytes}-${batch}`;
      await createTopic(server.url, topic, connections);
      const cell = { backend: backend.name, valueBytes, batch, op: 'idempotent produce' } as const;

      const producers = await initProducers(server.url, connections);
      const loaded = await produce(
        topic,
        valueBytes,
        batch,
        partitionNumbers,
        { durationMs: cellMs, minRequests },
        producers,
      );
      const continuing = loaded.result.producers?.[0];
      if (!continuing) throw new Error('the idempotent run returned no producer state');
      const solo = await produce(
        topic,
        valueBytes,
        batch,
        [0],
        { durationMs: 0, minRequests: soloRequests },
        [continuing],
      );
      const after = solo.result.producers?.[0];
      const end = solo.result.ends[0]?.end;
      if (!after || end === undefined) throw new Error('the idempotent run returned no end');
      const lastBatch = {
        topic,
        partition: 0,
        batch,
        valueBytes,
        producer: { ...after, sequence: after.sequence - batch },
        baseOffset: end - batch,
      };
      const sameWriter = await replay(server.url, lastBatch);
      const newWriter = await replay(newWriterServer.url, lastBatch);

      const loadedFigures = figures({ ...cell, connections }, loaded.result, loaded.counts);
      progress(
        `${backend.name} ${sizeLabel(valueBytes)} x ${batch} idempotent: produce ${Math.round(loadedFigures.recordsPerSecond)} rec/s p99 ${loadedFigures.p99Ms.toFixed(1)} ms`,
      );
      return [
        loadedFigures,
        figures({ ...cell, connections: 1 }, solo.result, solo.counts),
        figures(
          { ...cell, op: 'replay, same writer', connections: 1 },
          sameWriter.result,
          sameWriter.counts,
        ),
        figures(
          { ...cell, op: 'replay, new writer', connections: 1 },
          newWriter.result,
          newWriter.counts,
        ),
      ];
    };

    const cells: CellFigures[] = [];
    for (const valueBytes of valueSizes) {
      for (const batch of batchSizes) {
        const topic = `bench-${valueBytes}-${batch}`;
        await createTopic(server.url, topic, connections);
        const cell = { backend: backend.name, valueBytes, batch };

        const loaded = await run(topic, valueBytes, batch, allPartitions, {
          durationMs: cellMs,
          minRequests,
        });
        const produced = figures(
          { ...cell, op: 'produce', connections },
          loaded.produced,
          loaded.produceCounts,
        );
        const fetched = figures(
          { ...cell, op: 'fetch', connections },
          loaded.fetched,
          loaded.fetchCounts,
        );

        // One connection on partition 0, after what the loaded run wrote there: nothing
        // queues, and every batch fetched is read from the segment store (not the cache).
        const from = loaded.produced.ends[0]?.end ?? 0;
        const solo = await run(topic, valueBytes, batch, [{ partition: 0, from }], {
          durationMs: 0,
          minRequests: soloRequests,
        });
        cells.push(
          produced,
          fetched,
          figures({ ...cell, op: 'produce', connections: 1 }, solo.produced, solo.produceCounts),
          figures({ ...cell, op: 'fetch', connections: 1 }, solo.fetched, solo.fetchCounts),
        );
        progress(
          `${backend.name} ${sizeLabel(valueBytes)} x ${batch}: produce ${Math.round(produced.recordsPerSecond)} rec/s p99 ${produced.p99Ms.toFixed(1)} ms, fetch ${Math.round(fetched.recordsPerSecond)} rec/s p99 ${fetched.p99Ms.toFixed(1)} ms`,
        );
        // Right after the plain cell of the same batch, so both run under the same conditions.
        if (valueBytes === idempotentValueBytes) cells.push(...(await idempotentCells(batch)));
      }
    }

    return cells;
  }
}

/** Far beyond where the rewrite cells move the clock: the orphan sweep never judges a chunk. */
const noOrphanSweep = { orphanGraceMs: 365 * 24 * 3_600_000 };

/**
 * Segment merge and compaction wait on ages (a small batch 5 minutes old, a replaced chunk
 * kept 5 minutes for readers): their cells run on stores of their own, on a server whose
 * clock they move forward, so no other cell's topics are rewritten under them. The orphan
 * sweep is kept out of their passes: it costs per chunk written, whoever rewrites it.
 */
async function rewriteCells(
  backend: BenchBackend,
  load: LoadGenerator,
): Promise<{ merge: MergeFigures[]; compaction: CompactionFigures; rewriteSeconds: number }> {
  const started = performance.now();
  const stores = await backend.open();
  const closeStores = onExit(() => stores.close());
  const clock = new BenchClock();
  const options = { now: clock.now, maintenanceSettings: noOrphanSweep };
  const server = await startServer(stores, 'one app', options);
  const closeServer = onExit(() => stopServer(server.server));
  const freshApps = await startServer(stores, 'an app per request', options);
  const closeFreshApps = onExit(() => stopServer(freshApps.server));
  const bench = { backend: backend.name, url: server.url, load, stores, clock, progress };
  const merge = await mergeCells({ ...bench, freshAppUrl: freshApps.url });
  const compaction = await compactionCells(bench);
  await closeFreshApps();
  await closeServer();
  await closeStores();
  return { merge, compaction, rewriteSeconds: (performance.now() - started) / 1000 };
}

function warnIfShort(produced: LoadResult, fetched: LoadResult): void {
  if (fetched.records < produced.records) {
    progress(
      `  fetch stopped at its time limit after ${fetched.records} of ${produced.records} records`,
    );
  }
}

/**
 * Serves the API over the stores with one app, as `npm start` does — or with a new app per
 * request, whose writer and batch caches start empty every time. `options` sets the app's
 * clock and maintenance settings (the wall clock and the defaults otherwise).
 */
async function startServer(
  stores: Stores,
  apps: 'one app' | 'an app per request',
  options: Pick<AppOptions, 'now' | 'maintenanceSettings'> = {},
): Promise<{ url: string; server: Server }> {
  const newApp = (): Handler =>
    createApp({
      metadata: stores.metadata,
      segments: stores.segments,
      log,
      cacheBytes,
      defer: deferInBackground(log),
      ...options,
    });
  const handler: Handler = apps === 'one app' ? newApp() : (event) => newApp()(event);
  const server = createLocalServer(handler, log);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('server has no port');
  const { port } = address;
  return { url: `http://127.0.0.1:${port}`, server };
}

async function stopServer(server: Server): Promise<void> {
  if (!server.listening) return;
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** One fresh idempotent producer per connection (POST /v1/producers), at sequence 0. */
async function initProducers(url: string, count: number): Promise<ProducerSession[]> {
  const producers: ProducerSession[] = [];
  for (let i = 0; i < count; i++) {
    const response = await fetch(`${url}/v1/producers`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    const body: unknown = await response.json();
    if (
      response.status === 200 &&
      typeof body === 'object' &&
      body !== null &&
      'producerId' in body &&
      'producerEpoch' in body &&
      typeof body.producerId === 'number' &&
      typeof body.producerEpoch === 'number'
    ) {
      producers.push({ id: body.producerId, epoch: body.producerEpoch, sequence: 0 });
    } else {
      throw new Error(`initialising a producer: ${response.status} ${JSON.stringify(body)}`);
    }
  }
  return producers;
}

/** Starts bench/emulator-process.ts and waits for the endpoints it prints. */
async function startEmulatorProcess(): Promise<{
  endpoints: EmulatorEndpoints;
  stop: () => Promise<void>;
}> {
  const script = fileURLToPath(new URL('./emulator-process.ts', import.meta.url));
  const child = spawn(process.execPath, [script], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = once(child, 'exit');
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    // Closing stdin asks it to stop the emulators; a kill if that takes too long.
    child.stdin?.end();
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    await exited;
    clearTimeout(timer);
  };
  try {
    const endpoints = await firstLine(child, emulatorStartupMs);
    return { endpoints: parseEndpoints(endpoints), stop };
  } catch (error: unknown) {
    await stop();
    throw error;
  }
}

function firstLine(child: ChildProcess, timeoutMs: number): Promise<string> {
  const stdout = child.stdout;
  if (!stdout) return Promise.reject(new Error('emulator process has no stdout'));
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: stdout });
    const timer = setTimeout(() => {
      finish();
      reject(new Error(`the emulators did not start within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    const onExit = (code: number | null) => {
      finish();
      reject(new Error(`the emulator process exited (${code}) before starting`));
    };
    const finish = () => {
      clearTimeout(timer);
      child.off('exit', onExit);
      lines.close();
    };
    lines.once('line', (line) => {
      finish();
      resolve(line);
    });
    child.once('exit', onExit);
  });
}

function parseEndpoints(line: string): EmulatorEndpoints {
  const value: unknown = JSON.parse(line);
  if (
    typeof value === 'object' &&
    value !== null &&
    'dynamodb' in value &&
    's3' in value &&
    typeof value.dynamodb === 'string' &&
    typeof value.s3 === 'string'
  ) {
    return { dynamodb: value.dynamodb, s3: value.s3 };
  }
  throw new Error(`the emulator process printed ${line}`);
}

interface Machine {
  readonly cpus: number;
  readonly cpuModel: string;
  readonly memoryGiB: string;
  readonly node: string;
  readonly os: string;
  /** The commit measured, and whether functions/ had uncommitted changes. */
  readonly code: string;
  /** 1-minute load average when the bench started: other work on the machine skews figures. */
  readonly loadAverageAtStart: number;
}

function describeMachine(): Machine {
  return {
    cpus: availableParallelism(),
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    memoryGiB: (totalmem() / 2 ** 30).toFixed(1),
    node: process.version,
    os: `${process.platform} ${release()}`,
    code: describeCode(),
    loadAverageAtStart: loadavg()[0] ?? 0,
  };
}

function describeCode(): string {
  const git = (...args: string[]): string =>
    execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  try {
    const changed = git('status', '--porcelain', '--', 'functions').split('\n').filter(Boolean);
    const commit = git('rev-parse', '--short', 'HEAD');
    return changed.length === 0
      ? commit
      : `${commit} + uncommitted changes to ${changed.length} files in functions/`;
  } catch {
    return 'unknown (not a git checkout)';
  }
}

async function writeResults(results: {
  machine: Machine;
  sections: readonly Section[];
  loadAverageAtEnd: number;
  totalSeconds: number;
  cells: readonly CellFigures[];
  reference: ReferenceFigures | undefined;
  awsCost: readonly unknown[] | undefined;
  groups: readonly GroupFigures[];
  maintenance: readonly MaintenanceFigures[];
  merge: readonly MergeFigures[];
  compaction: readonly CompactionFigures[];
  /** How long the merge and compaction cells took, by backend. */
  rewriteSeconds: readonly { backend: string; seconds: number }[];
}): Promise<string> {
  const dir = fileURLToPath(new URL('../.bench/', import.meta.url));
  await mkdir(dir, { recursive: true });
  const file = join(dir, `results-${new Date().toISOString().replaceAll(':', '-')}.json`);
  const config = {
    connections,
    valueSizes,
    batchSizes,
    cellMs,
    minRequests,
    soloRequests,
    warmupMs,
    idempotentValueBytes,
    idempotentWarmupMs,
    replayRequests,
    cacheBytes,
    groups: groupConfig,
    merge: mergeConfig,
    compaction: compactionConfig,
    reference: referenceConfig,
    awsCost: awsCostConfig,
  };
  await writeFile(file, `${JSON.stringify({ ...results, config }, null, 2)}\n`);
  return file;
}

const watchdog = setTimeout(() => {
  progress(`the bench ran past ${maxRunMs / 60_000} minutes; stopping`);
  void cleanUp().finally(() => process.exit(1));
}, maxRunMs);
watchdog.unref();

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    interrupted = true;
    progress(`${signal}: stopping`);
    void cleanUp().finally(() => process.exit(130));
  });
}

try {
  await main();
  await cleanUp();
} catch (error: unknown) {
  // Once interrupted, requests failing as the server stops are expected, not news.
  if (!interrupted) {
    progress(
      `bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
    );
  }
  await cleanUp();
  process.exitCode = 1;
}
clearTimeout(watchdog);
