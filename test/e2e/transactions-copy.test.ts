import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createTopic, fetchAll } from '../support/api.ts';
import { Random } from '../support/random.ts';
import { call } from '../support/server.ts';

/**
 * Kafka's transactions system test, over REST: a pool of worker processes copies 100,000
 * records from one topic to another in transactions (records out + offsets in), while
 * workers are killed with SIGKILL and restarted, and the server itself is killed with
 * SIGKILL and restarted over the same storage. The output must hold every input record
 * exactly once, in input order per key, and the group's offsets must end at the input's
 * high watermarks.
 */
const root = join(import.meta.dirname, '../..');
const records = 100_000;
const inputPartitions = 4;
const keys = 1_000;
const seed = Number(process.env.TRIBUTARY_TEST_SEED ?? Date.now() % 1_000_000);

interface Store {
  readonly name: string;
  env(): Promise<Record<string, string>>;
}

const embedded: Store = {
  name: 'embedded',
  env: async () => ({
    TRIBUTARY_DATA_DIR: await mkdtemp(join(tmpdir(), 'tributary-copy-')),
  }),
};

const emulatedAws: Store = {
  name: 'dynamodb-local+s3-emulator',
  env: async () => {
    const endpoints = inject('emulators');
    const name = `copy-${randomUUID()}`;
    return {
      TRIBUTARY_STORE: 'aws',
      TRIBUTARY_TABLE: name,
      TRIBUTARY_BUCKET: name,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'tributarytest',
      AWS_SECRET_ACCESS_KEY: 'tributarytest',
      AWS_ENDPOINT_URL_DYNAMODB: endpoints.dynamodb,
      AWS_ENDPOINT_URL_S3: endpoints.s3,
    };
  },
};

const children = new Set<ChildProcess>();
const dirs: string[] = [];
afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

async function freePort(): Promise<number> {
  const probe = createServer();
  probe.listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const address = probe.address();
  probe.close();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

function spawnNode(script: string, env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, [join(root, script)], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  // Drained so a chatty child never blocks on a full pipe.
  child.stdout?.resume();
  child.stderr?.resume();
  return child;
}

async function startServer(env: Record<string, string>, port: number): Promise<ChildProcess> {
  const child = spawnNode('functions/local/main.ts', {
    ...env,
    PORT: String(port),
    TRIBUTARY_LOG_LEVEL: 'ERROR',
  });
  const url = `http://127.0.0.1:${port}`;
  for (const deadline = Date.now() + 30_000; Date.now() < deadline; ) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`);
    try {
      if ((await fetch(`${url}/v1/health`)).ok) return child;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('server did not start');
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGKILL');
  await once(child, 'exit');
}

describe.each([embedded, emulatedAws])('a transactional copy on $name', (store) => {
  it('copies 100,000 records exactly once through killed workers and a killed server', {
    timeout: 600_000,
  }, async () => {
    const random = new Random(seed);
    const env = await store.env();
    if (env.TRIBUTARY_DATA_DIR) dirs.push(env.TRIBUTARY_DATA_DIR);
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    let server = await startServer(env, port);

    await createTopic(url, 'input', inputPartitions);
    await createTopic(url, 'output', 3);
    for (let from = 0; from < records; from += 5_000) {
      const batch = Array.from({ length: 5_000 }, (_, j) => ({
        key: `k${(from + j) % keys}`,
        value: from + j,
      }));
      const produced = await call(url, 'POST', '/v1/topics/input/records', { records: batch });
      expect(produced.status).toBe(200);
    }

    const workerEnv = (id: number) => ({
      COPY_URL: url,
      COPY_INPUT: 'input',
      COPY_OUTPUT: 'output',
      COPY_GROUP: 'copiers',
      COPY_TRANSACTIONAL_ID: `copier-${id}`,
      COPY_BATCH: String(100 + random.int(300)),
    });
    const workers = [0, 1, 2].map((id) => spawnNode('test/support/copy-worker.ts', workerEnv(id)));

    const committed = async (): Promise<number> => {
      try {
        const answer = await call(url, 'GET', '/v1/groups/copiers/offsets');
        if (answer.status !== 200) return 0;
        return answer.body.offsets.reduce(
          (n: number, o: { committedOffset: number | null }) => n + (o.committedOffset ?? 0),
          0,
        );
      } catch {
        return 0; // the server is being restarted
      }
    };

    // Chaos until the copy is done: a worker killed and restarted every so often, the
    // server twice, part-way through.
    const serverKillsAt = [0.3, 0.7].map((f) => Math.floor(f * records));
    let workerKills = 0;
    const deadline = Date.now() + 480_000;
    for (;;) {
      const done = await committed();
      if (done >= records) break;
      if (Date.now() > deadline) throw new Error(`copy stalled at ${done} (seed ${seed})`);
      if (serverKillsAt.length > 0 && done >= (serverKillsAt[0] ?? 0)) {
        serverKillsAt.shift();
        await kill(server);
        server = await startServer(env, port);
      } else if (random.chance(0.3)) {
        const id = random.int(workers.length);
        await kill(workers[id] as ChildProcess);
        workers[id] = spawnNode('test/support/copy-worker.ts', workerEnv(id));
        workerKills++;
      }
      await new Promise((resolve) => setTimeout(resolve, 300 + random.int(700)));
    }
    for (const worker of workers) await kill(worker);
    expect(workerKills, `seed ${seed}`).toBeGreaterThan(0);
    expect(serverKillsAt, `seed ${seed}`).toEqual([]);

    // The group's offsets are the input's high watermarks.
    const offsets = (await call(url, 'GET', '/v1/groups/copiers/offsets')).body.offsets;
    for (const o of offsets) expect(o.committedOffset, `seed ${seed}`).toBe(o.highWatermark);
    expect(offsets).toHaveLength(inputPartitions);

    // Every input record exactly once, in input order per key.
    const seen = new Map<number, number>();
    const lastPerKey = new Map<string, number>();
    let total = 0;
    for (let partition = 0; partition < 3; partition++) {
      for (const record of await fetchAll(url, 'output', partition)) {
        const value = record.value as { copied: number };
        total++;
        seen.set(value.copied, (seen.get(value.copied) ?? 0) + 1);
        const key = String(record.key);
        expect(value.copied, `order of ${key} (seed ${seed})`).toBeGreaterThan(
          lastPerKey.get(key) ?? -1,
        );
        lastPerKey.set(key, value.copied);
      }
    }
    const duplicated = [...seen.values()].filter((n) => n > 1).length;
    const lost = records - seen.size;
    expect({ total, lost, duplicated }, `seed ${seed}`).toEqual({
      total: records,
      lost: 0,
      duplicated: 0,
    });
    await kill(server);
  });
});
