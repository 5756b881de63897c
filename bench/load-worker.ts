/**
 * The load generator (a worker thread, see bench/load.ts): one keep-alive HTTP connection
 * per partition, each sending its next request as soon as the previous response is read; a
 * replay sends one committed idempotent request again and again over one connection.
 */

import { randomBytes } from 'node:crypto';
import { Agent, request } from 'node:http';
import { parentPort } from 'node:worker_threads';
import type {
  FetchJob,
  LoadJob,
  LoadReply,
  LoadResult,
  ProduceJob,
  ProducerSession,
  ReplayJob,
} from './load.ts';

interface Response {
  readonly status: number;
  readonly text: string;
}

const isLoadJob = (value: unknown): value is LoadJob =>
  typeof value === 'object' &&
  value !== null &&
  'kind' in value &&
  (value.kind === 'produce' || value.kind === 'fetch' || value.kind === 'replay');

parentPort?.on('message', (job: unknown) => {
  const reply = (message: LoadReply): void => parentPort?.postMessage(message);
  if (!isLoadJob(job)) {
    reply({ ok: false, error: 'not a load job' });
    return;
  }
  (job.kind === 'produce' ? produce(job) : job.kind === 'fetch' ? fetchAll(job) : replay(job)).then(
    (result) => reply({ ok: true, result }),
    (error: unknown) =>
      reply({
        ok: false,
        error: error instanceof Error ? (error.stack ?? error.message) : String(error),
      }),
  );
});

const elapsedMs = (since: bigint): number => Number(process.hrtime.bigint() - since) / 1e6;

/** A record value of exactly valueBytes once stored: a JSON string is stored with its quotes. */
function recordsJson(partition: number, valueBytes: number, batch: number): string {
  const value = randomBytes(valueBytes)
    .toString('base64url')
    .slice(0, valueBytes - 2);
  return JSON.stringify(Array.from({ length: batch }, () => ({ partition, value })));
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
  const agent = new Agent({ keepAlive: true, maxSockets: job.partitions.length });
  const path = `/v1/topics/${encodeURIComponent(job.topic)}/records`;
  const latencies: number[] = [];
  const ends = job.partitions.map((partition) => ({ partition, end: 0 }));
  const producers = job.producers ? [...job.producers] : undefined;
  let requests = 0;
  const start = process.hrtime.bigint();
  const more = (): boolean => {
    const elapsed = elapsedMs(start);
    if (elapsed >= job.maxDurationMs) return false;
    return elapsed < job.durationMs || requests < job.minRequests;
  };
  try {
    await Promise.all(
      job.partitions.map(async (partition, connection) => {
        const records = recordsJson(partition, job.valueBytes, job.batch);
        const plainBody = produceBody(records);
        while (more()) {
          const producer = producers?.[connection];
          // An idempotent request's body carries its first sequence, so it changes each time.
          const body = producer ? produceBody(records, producer) : plainBody;
          const sent = process.hrtime.bigint();
          const response = await send(agent, job.url, 'POST', path, body);
          latencies.push(elapsedMs(sent));
          requests++;
          const last = ackedOffsets(response, 'produce', job.batch).at(-1);
          const end = ends[connection];
          if (end && last !== undefined) end.end = last + 1;
          if (producers && producer) {
            producers[connection] = { ...producer, sequence: producer.sequence + job.batch };
          }
        }
      }),
    );
  } finally {
    agent.destroy();
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

async function replay(job: ReplayJob): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const path = `/v1/topics/${encodeURIComponent(job.topic)}/records`;
  // The server knows a replay by producer, epoch, first sequence and record count.
  const body = produceBody(recordsJson(job.partition, job.valueBytes, job.batch), job.producer);
  const latencies: number[] = [];
  const start = process.hrtime.bigint();
  try {
    for (let i = 0; i < job.requests; i++) {
      const sent = process.hrtime.bigint();
      const response = await send(agent, job.url, 'POST', path, body);
      latencies.push(elapsedMs(sent));
      const offsets = ackedOffsets(response, 'replay', job.batch);
      if (offsets.some((offset, j) => offset !== job.baseOffset + j)) {
        throw new Error(
          `replay of ${job.partition}@${job.baseOffset} answered offsets ${offsets[0]}..${offsets.at(-1)}`,
        );
      }
    }
  } finally {
    agent.destroy();
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
  const agent = new Agent({ keepAlive: true, maxSockets: job.partitions.length });
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
          const response = await send(
            agent,
            job.url,
            'GET',
            `${base}?offset=${offset}&maxRecords=${job.batch}`,
          );
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
    agent.destroy();
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

interface ResponseBody {
  readonly offsets?: unknown[];
  readonly records?: unknown[];
  readonly nextOffset?: unknown;
}

function expectOk(response: Response, what: string): ResponseBody {
  if (response.status !== 200) {
    throw new Error(`${what} answered ${response.status}: ${response.text.slice(0, 500)}`);
  }
  const body: unknown = JSON.parse(response.text);
  if (typeof body !== 'object' || body === null) throw new Error(`${what}: not a JSON object`);
  return body;
}

function send(
  agent: Agent,
  url: string,
  method: string,
  path: string,
  body?: Buffer,
): Promise<Response> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        agent,
        host: hostname,
        port,
        method,
        path,
        headers: body
          ? { 'content-type': 'application/json', 'content-length': body.byteLength }
          : {},
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}
