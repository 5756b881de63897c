/**
 * `npm run bench`: produce and fetch throughput and latency over real HTTP against the local
 * server (createApp + createLocalServer, as `npm start` serves it), on the embedded store and
 * on DynamoDB Local + the S3 emulator, with the storage calls each request makes counted and
 * priced in DynamoDB capacity units. Prints tables and writes the figures to .bench/.
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
import { createApp, deferInBackground } from '../functions/app.ts';
import type { Logger } from '../functions/http/logger.ts';
import { createLocalServer } from '../functions/local/server.ts';
import type { EmulatorEndpoints } from '../test/support/emulators.ts';
import {
  type BenchBackend,
  type CountedStores,
  embeddedBackend,
  emulatedAwsBackend,
} from './backends.ts';
import { LoadGenerator, type LoadResult } from './load.ts';
import {
  type CellFigures,
  figures,
  operationsTable,
  sizeLabel,
  throughputTable,
  timeTable,
} from './report.ts';

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

async function main(): Promise<void> {
  const runStarted = process.hrtime.bigint();
  const machine = describeMachine();
  progress(
    `tributary bench: ${machine.cpus} CPUs (${machine.cpuModel}), ${machine.memoryGiB} GiB, Node ${machine.node}`,
  );

  const load = new LoadGenerator();
  onExit(() => load.close());

  const cells: CellFigures[] = [];
  cells.push(...(await benchBackend(embeddedBackend, load)));

  progress('starting DynamoDB Local and fauxqs');
  const emulators = await startEmulatorProcess();
  const stopEmulators = onExit(emulators.stop);
  cells.push(...(await benchBackend(emulatedAwsBackend(emulators.endpoints), load)));
  await stopEmulators();

  const totalSeconds = Number(process.hrtime.bigint() - runStarted) / 1e9;
  const loadAverageAtEnd = loadavg()[0] ?? 0;
  const out = process.stdout;
  const loaded = cells.filter((c) => c.connections === connections);
  const solo = cells.filter((c) => c.connections === 1);
  out.write(
    `\nTributary bench — ${machine.cpus} CPUs (${machine.cpuModel}), ${machine.memoryGiB} GiB RAM, Node ${machine.node}, ${machine.os}\n`,
  );
  out.write(
    `Code ${machine.code}; 1-minute load average ${machine.loadAverageAtStart.toFixed(2)} at start, ${loadAverageAtEnd.toFixed(2)} at end\n\n`,
  );
  out.write(
    `Throughput under load: ${connections} connections, one partition each; produce for ${cellMs / 1000} s (at least ${minRequests} requests), then fetch all of it back; MB = 10^6 bytes of record values\n`,
  );
  out.write(`${throughputTable(loaded)}\n\n`);
  out.write(
    `Unloaded: one connection, ${soloRequests} produce requests, then ${soloRequests} fetches of what they wrote\n`,
  );
  out.write(`${throughputTable(solo)}\n\n`);
  for (const backend of new Set(solo.map((c) => c.backend))) {
    out.write(
      `Storage calls per request, unloaded — ${backend}; a (b) = calls (keys, items or ops); RCU/WCU = DynamoDB estimate\n`,
    );
    out.write(`${operationsTable(solo.filter((c) => c.backend === backend))}\n\n`);
  }
  for (const backend of new Set(solo.map((c) => c.backend))) {
    out.write(`Where an unloaded request's time goes, mean ms — ${backend}\n`);
    out.write(`${timeTable(solo.filter((c) => c.backend === backend))}\n\n`);
  }
  out.write(`Total bench time ${totalSeconds.toFixed(0)} s\n`);

  const file = await writeResults({ machine, loadAverageAtEnd, totalSeconds, cells });
  out.write(`Figures written to ${file}\n`);
}

async function benchBackend(backend: BenchBackend, load: LoadGenerator): Promise<CellFigures[]> {
  progress(`${backend.name}: opening stores`);
  const stores = await backend.open();
  const closeStores = onExit(() => stores.close());
  const server = await startServer(stores);
  const closeServer = onExit(() => stopServer(server.server));

  /** Produces with `partitions.length` connections, then fetches all of it back. */
  const run = async (
    topic: string,
    valueBytes: number,
    batch: number,
    partitions: readonly { partition: number; from: number }[],
    bounds: { durationMs: number; minRequests: number },
  ) => {
    stores.takeCounts();
    const produced = await load.run({
      kind: 'produce',
      url: server.url,
      topic,
      partitions: partitions.map((p) => p.partition),
      batch,
      valueBytes,
      ...bounds,
      maxDurationMs: maxCellMs,
    });
    const produceCounts = stores.takeCounts();
    const fetched = await load.run({
      kind: 'fetch',
      url: server.url,
      topic,
      partitions: produced.ends.map(({ partition, end }, i) => ({
        partition,
        from: partitions[i]?.from ?? 0,
        end,
      })),
      batch,
      valueBytes,
      maxDurationMs: maxCellMs,
    });
    const fetchCounts = stores.takeCounts();
    warnIfShort(produced, fetched);
    return { produced, produceCounts, fetched, fetchCounts };
  };
  const allPartitions = Array.from({ length: connections }, (_, partition) => ({
    partition,
    from: 0,
  }));

  // JIT (Node's and DynamoDB Local's JVM), connection pools and first-use costs, outside
  // the figures.
  for (const batch of [1, 100]) {
    const topic = `bench-warmup-${batch}`;
    await createTopic(server.url, topic, connections);
    await run(topic, 100, batch, allPartitions, { durationMs: warmupMs, minRequests: 0 });
  }

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
      const produce = figures(
        { ...cell, op: 'produce', connections },
        loaded.produced,
        loaded.produceCounts,
      );
      const fetch = figures(
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
        produce,
        fetch,
        figures({ ...cell, op: 'produce', connections: 1 }, solo.produced, solo.produceCounts),
        figures({ ...cell, op: 'fetch', connections: 1 }, solo.fetched, solo.fetchCounts),
      );
      progress(
        `${backend.name} ${sizeLabel(valueBytes)} x ${batch}: produce ${Math.round(produce.recordsPerSecond)} rec/s p99 ${produce.p99Ms.toFixed(1)} ms, fetch ${Math.round(fetch.recordsPerSecond)} rec/s p99 ${fetch.p99Ms.toFixed(1)} ms`,
      );
    }
  }

  await closeServer();
  await closeStores();
  return cells;
}

function warnIfShort(produced: LoadResult, fetched: LoadResult): void {
  if (fetched.records < produced.records) {
    progress(
      `  fetch stopped at its time limit after ${fetched.records} of ${produced.records} records`,
    );
  }
}

async function startServer(stores: CountedStores): Promise<{ url: string; server: Server }> {
  const handler = createApp({
    metadata: stores.metadata,
    segments: stores.segments,
    log,
    cacheBytes,
    defer: deferInBackground(log),
  });
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

async function createTopic(url: string, name: string, partitions: number): Promise<void> {
  const response = await fetch(`${url}/v1/topics`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name, partitions }),
  });
  if (response.status !== 201) {
    throw new Error(`creating topic ${name}: ${response.status} ${await response.text()}`);
  }
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
  loadAverageAtEnd: number;
  totalSeconds: number;
  cells: readonly CellFigures[];
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
    cacheBytes,
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
