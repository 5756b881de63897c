/**
 * The load generator (a worker thread, see bench/load.ts): one keep-alive HTTP connection
 * per partition, each sending its next request as soon as the previous response is read; a
 * replay sends one committed idempotent request again and again over one connection; calls
 * are single requests whose answers go back to the bench; a consume job is a consumer group
 * draining a topic, one connection per member; an append job is the reference for a durable
 * produce, one file per writer, each appended to and fdatasynced as soon as the last was.
 */

import { randomBytes } from 'node:crypto';
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { parentPort } from 'node:worker_threads';
import { errorCode, parseAnswer, pollAnswer } from './group-responses.ts';
import { type HttpAnswer, HttpConnection } from './http-connection.ts';
import type {
  AppendJob,
  CallsJob,
  CallsResult,
  ConsumeJob,
  ConsumeResult,
  FetchJob,
  LoadReply,
  LoadResult,
  ProduceJob,
  ProducerSession,
  ReplayJob,
  WorkerAnswer,
  WorkerJob,
} from './load.ts';

type Response = HttpAnswer;

const jobKinds: readonly unknown[] = [
  'produce',
  'fetch',
  'replay',
  'append',
  'calls',
  'consume',
] satisfies WorkerJob['kind'][];

const isWorkerJob = (value: unknown): value is WorkerJob =>
  typeof value === 'object' && value !== null && 'kind' in value && jobKinds.includes(value.kind);

async function runJob(job: WorkerJob): Promise<WorkerAnswer> {
  switch (job.kind) {
    case 'produce':
      return { kind: 'load', result: await produce(job) };
    case 'fetch':
      return { kind: 'load', result: await fetchAll(job) };
    case 'replay':
      return { kind: 'load', result: await replay(job) };
    case 'append':
      return { kind: 'load', result: await append(job) };
    case 'calls':
      return { kind: 'calls', result: await calls(job) };
    case 'consume':
      return { kind: 'consume', result: await consume(job) };
  }
}

parentPort?.on('message', (job: unknown) => {
  const reply = (message: LoadReply): void => parentPort?.postMessage(message);
  if (!isWorkerJob(job)) {
    reply({ ok: false, error: 'not a load job' });
    return;
  }
  runJob(job).then(
    (answer) => reply({ ok: true, answer }),
    (error: unknown) =>
      reply({
        ok: false,
        error: error instanceof Error ? (error.stack ?? error.message) : String(error),
      }),
  );
});

const elapsedMs = (since: bigint): number => Number(process.hrtime.bigint() - since) / 1e6;

/**
 * A record value of exactly valueBytes once stored: a JSON string is stored with its quotes.
 * With `keys`, record i has the key `key-<i % keys>`.
 */
function recordsJson(partition: number, valueBytes: number, batch: number, keys?: number): string {
  const value = randomBytes(valueBytes)
    .toString('base64url')
    .slice(0, valueBytes - 2);
  return JSON.stringify(
    Array.from({ length: batch }, (_, i) =>
      keys === undefined ? { partition, value } : { partition, key: `key-${i % keys}`, value },
    ),
  );
}

/** A produce body around records already rendered as JSON, idempotent when `producer` is given. */
function produceBody(records: string, producer?: ProducerSession): Buffer {
  const conditions = producer
    ? `"producer":${JSON.stringify({ id: producer.id, epoch: producer.epoch, sequence: producer.sequence })},`
    : '';
  return Buffer.from(`{${conditions}"records":${records}}`);
}

/** The offset of each record acknowledged, checking there is one per record sent. */
function ackedOffsets(response: Response, what: string, batch: number): number[] {
  const offsets = expectOk(response, what).offsets;
  if (!Array.isArray(offsets) || offsets.length !== batch) {
    throw new Error(`${what} acknowledged ${String(offsets?.length)} of ${batch}`);
  }
  return offsets.map((ack: unknown) =>
    typeof ack === 'object' && ack !== null && 'offset' in ack ? Number(ack.offset) : Number.NaN,
  );
}

async function produce(job: ProduceJob): Promise<LoadResult> {
  const pool = new Connections(job.url);
  const path = `/v1/topics/${encodeURIComponent(job.topic)}/records`;
  const latencies: number[] = [];
  const ends = job.partitions.map((partition) => ({ partition, end: 0 }));
  const producers = job.producers ? [...job.producers] : undefined;
  let requests = 0;
  // Each connection's share of minRequests: the first few one more when it does not divide.
  const connections = job.partitions.length;
  const share = (connection: number) =>
    Math.floor(job.minRequests / connections) +
    (connection < job.minRequests % connections ? 1 : 0);
  const made = job.partitions.map(() => 0);
  const start = process.hrtime.bigint();
  const more = (connection: number): boolean => {
    const elapsed = elapsedMs(start);
    if (elapsed >= job.maxDurationMs) return false;
    return elapsed < job.durationMs || (made[connection] ?? 0) < share(connection);
  };
  try {
    await Promise.all(
      job.partitions.map(async (partition, connection) => {
        const records = recordsJson(partition, job.valueBytes, job.batch, job.keys);
        const plainBody = produceBody(records);
        while (more(connection)) {
          const producer = producers?.[connection];
          // An idempotent request's body carries its first sequence, so it changes each time.
          const body = producer ? produceBody(records, producer) : plainBody;
          const sent = process.hrtime.bigint();
          const response = await pool.get(connection).request('POST', path, body);
          latencies.push(elapsedMs(sent));
          requests++;
          made[connection] = (made[connection] ?? 0) + 1;
          if (job.checkOffsets === false) {
            expectStatus(response, 'produce', 200);
          } else {
            const last = ackedOffsets(response, 'produce', job.batch).at(-1);
            const end = ends[connection];
            if (end && last !== undefined) end.end = last + 1;
          }
          if (producers && producer) {
            producers[connection] = { ...producer, sequence: producer.sequence + job.batch };
          }
        }
      }),
    );
  } finally {
    pool.close();
  }
  const elapsed = elapsedMs(start);
  const records = requests * job.batch;
  return {
    requests,
    records,
    valueBytes: records * job.valueBytes,
    elapsedMs: elapsed,
    latenciesMs: latencies,
    ends,
    ...(producers && { producers }),
  };
}

/**
 * Each writer appends the body a produce request would carry to a file of its own, then
 * fdatasyncs it, and again; the files are removed at the end.
 */
async function append(job: AppendJob): Promise<LoadResult> {
  const latencies: number[] = [];
  let requests = 0;
  const share = (writer: number) =>
    Math.floor(job.minRequests / job.writers) + (writer < job.minRequests % job.writers ? 1 : 0);
  const files = Array.from({ length: job.writers }, (_, writer) =>
    join(job.dir, `writer-${writer}.log`),
  );
  const start = process.hrtime.bigint();
  try {
    await Promise.all(
      files.map(async (file, writer) => {
        const body = produceBody(recordsJson(writer, job.valueBytes, job.batch));
        const handle = await open(file, 'a');
        try {
          for (let made = 0; ; made++) {
            const elapsed = elapsedMs(start);
            if (elapsed >= job.maxDurationMs) break;
            if (elapsed >= job.durationMs && made >= share(writer)) break;
            const sent = process.hrtime.bigint();
            await handle.write(body);
            await handle.datasync();
            latencies.push(elapsedMs(sent));
            requests++;
          }
        } finally {
          await handle.close();
        }
      }),
    );
  } finally {
    await Promise.all(files.map((file) => rm(file, { force: true })));
  }
  const records = requests * job.batch;
  return {
    requests,
    records,
    valueBytes: records * job.valueBytes,
    elapsedMs: elapsedMs(start),
    latenciesMs: latencies,
    ends: [],
  };
}

async function replay(job: ReplayJob): Promise<LoadResult> {
  const pool = new Connections(job.url);
  const path = `/v1/topics/${encodeURIComponent(job.topic)}/records`;
  // The server knows a replay by producer, epoch, first sequence and record count.
  const body = produceBody(recordsJson(job.partition, job.valueBytes, job.batch), job.producer);
  const latencies: number[] = [];
  const start = process.hrtime.bigint();
  try {
    for (let i = 0; i < job.requests; i++) {
      const sent = process.hrtime.bigint();
      const response = await pool.get(0).request('POST', path, body);
      latencies.push(elapsedMs(sent));
      const offsets = ackedOffsets(response, 'replay', job.batch);
      if (offsets.some((offset, j) => offset !== job.baseOffset + j)) {
        throw new Error(
          `replay of ${job.partition}@${job.baseOffset} answered offsets ${offsets[0]}..${offsets.at(-1)}`,
        );
      }
    }
  } finally {
    pool.close();
  }
  const records = job.requests * job.batch;
  return {
    requests: job.requests,
    records,
    valueBytes: records * job.valueBytes,
    elapsedMs: elapsedMs(start),
    latenciesMs: latencies,
    ends: [{ partition: job.partition, end: job.baseOffset + job.batch }],
  };
}

async function fetchAll(job: FetchJob): Promise<LoadResult> {
  const pool = new Connections(job.url);
  const latencies: number[] = [];
  const ends = job.partitions.map(({ partition, from }) => ({ partition, end: from }));
  let records = 0;
  const start = process.hrtime.bigint();
  try {
    await Promise.all(
      job.partitions.map(async ({ partition, from, end }, connection) => {
        const base = `/v1/topics/${encodeURIComponent(job.topic)}/partitions/${partition}/records`;
        let offset = from;
        while (offset < end && elapsedMs(start) < job.maxDurationMs) {
          const sent = process.hrtime.bigint();
          const response = await pool
            .get(connection)
            .request('GET', `${base}?offset=${offset}&maxRecords=${job.batch}`);
          latencies.push(elapsedMs(sent));
          const body = expectOk(response, 'fetch');
          const count = Array.isArray(body.records) ? body.records.length : 0;
          if (count === 0 || typeof body.nextOffset !== 'number') {
            throw new Error(`fetch at ${partition}@${offset} returned no records before ${end}`);
          }
          records += count;
          offset = body.nextOffset;
          const reached = ends[connection];
          if (reached) reached.end = offset;
        }
      }),
    );
  } finally {
    pool.close();
  }
  return {
    requests: latencies.length,
    records,
    valueBytes: records * job.valueBytes,
    elapsedMs: elapsedMs(start),
    latenciesMs: latencies,
    ends,
  };
}

async function calls(job: CallsJob): Promise<CallsResult> {
  const pool = new Connections(job.url);
  const latenciesMs: number[] = [];
  const responses: Response[] = [];
  try {
    for (const call of job.requests) {
      const body = call.body === undefined ? undefined : Buffer.from(call.body);
      const sent = process.hrtime.bigint();
      responses.push(await pool.get(0).request(call.method, call.path, body));
      latenciesMs.push(elapsedMs(sent));
    }
  } finally {
    pool.close();
  }
  return { latenciesMs, responses };
}

/**
 * Each member: poll; commit, for every partition the poll returned records from, the offset
 * after the last one (with the member's generation); again, until it has read all it owns.
 * Checks that every partition's records come in order with no gap and none twice.
 */
async function consume(job: ConsumeJob): Promise<ConsumeResult> {
  const pool = new Connections(job.url);
  const base = `/v1/groups/${encodeURIComponent(job.group)}`;
  const pollLatenciesMs: number[] = [];
  const commitLatenciesMs: number[] = [];
  const heartbeatLatenciesMs: number[] = [];
  const failedCommits: Record<string, number> = {};
  let emptyPolls = 0;
  let records = 0;
  const start = process.hrtime.bigint();
  const timed = async (
    connection: HttpConnection,
    latencies: number[],
    method: string,
    path: string,
    body?: string,
  ) => {
    const sent = process.hrtime.bigint();
    const buffer = body === undefined ? undefined : Buffer.from(body);
    const response = await connection.request(method, path, buffer);
    latencies.push(elapsedMs(sent));
    return response;
  };
  try {
    await Promise.all(
      job.members.map(async ({ memberId, generation, records: owned }, index) => {
        const connection = pool.get(index);
        const member = `${base}/members/${encodeURIComponent(memberId)}`;
        /** The next offset expected, per topic and partition. */
        const next = new Map<string, number>();
        let read = 0;
        let cursor = '';
        let lastHeartbeat = process.hrtime.bigint();
        while (read < owned && elapsedMs(start) < job.maxDurationMs) {
          if (elapsedMs(lastHeartbeat) >= job.heartbeatIntervalMs) {
            lastHeartbeat = process.hrtime.bigint();
            expectOk(
              await timed(connection, heartbeatLatenciesMs, 'POST', `${member}/heartbeat`),
              'heartbeat',
            );
          }
          const response = await timed(
            connection,
            pollLatenciesMs,
            'GET',
            `${member}/records?maxRecords=${job.maxRecords}${cursor && `&cursor=${cursor}`}`,
          );
          if (response.status !== 200) {
            throw new Error(`poll answered ${response.status}: ${response.text.slice(0, 500)}`);
          }
          const polled = parseAnswer(pollAnswer, response.text, 'poll');
          cursor = polled.cursor;
          if (polled.generation !== generation) {
            throw new Error(`the group rebalanced during the drain (${polled.generation})`);
          }
          if (polled.records.length === 0) {
            emptyPolls++;
            continue;
          }
          const reached = new Map<string, { topic: string; partition: number; offset: number }>();
          for (const record of polled.records) {
            const key = `${record.topic}\u0000${record.partition}`;
            const expected = next.get(key) ?? record.offset;
            if (record.offset !== expected) {
              throw new Error(
                `${record.topic}-${record.partition}: offset ${record.offset} after ${expected - 1}`,
              );
            }
            next.set(key, record.offset + 1);
            reached.set(key, { ...record, offset: record.offset + 1 });
          }
          read += polled.records.length;
          records += polled.records.length;
          const commit = await timed(
            connection,
            commitLatenciesMs,
            'POST',
            `${base}/offsets`,
            JSON.stringify({ memberId, generation, offsets: [...reached.values()] }),
          );
          if (commit.status !== 200) {
            const code = errorCode(commit.status, commit.text);
            failedCommits[code] = (failedCommits[code] ?? 0) + 1;
          }
        }
      }),
    );
  } finally {
    pool.close();
  }
  return {
    records,
    elapsedMs: elapsedMs(start),
    pollLatenciesMs,
    emptyPolls,
    commitLatenciesMs,
    failedCommits,
    heartbeatLatenciesMs,
  };
}

interface ResponseBody {
  readonly offsets?: unknown[];
  readonly records?: unknown[];
  readonly nextOffset?: unknown;
}

function expectStatus(response: Response, what: string, status: number): void {
  if (response.status !== status) {
    throw new Error(`${what} answered ${response.status}: ${response.text.slice(0, 500)}`);
  }
}

function expectOk(response: Response, what: string): ResponseBody {
  if (response.status !== 200) {
    throw new Error(`${what} answered ${response.status}: ${response.text.slice(0, 500)}`);
  }
  const body: unknown = JSON.parse(response.text);
  if (typeof body !== 'object' || body === null) throw new Error(`${what}: not a JSON object`);
  return body;
}

/** One keep-alive connection per index, opened when first asked for. */
class Connections {
  readonly #url: string;
  readonly #open = new Map<number, HttpConnection>();

  constructor(url: string) {
    this.#url = url;
  }

  get(index: number): HttpConnection {
    let connection = this.#open.get(index);
    if (!connection) {
      connection = new HttpConnection(this.#url);
      this.#open.set(index, connection);
    }
    return connection;
  }

  close(): void {
    for (const connection of this.#open.values()) connection.close();
  }
}
