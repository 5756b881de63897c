import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteTableCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, describe, expect, inject, it } from 'vitest';
import type { SubscriptionEvent } from '../../sdk/src/subscriptions.ts';
import { fetchAll } from '../support/api.ts';
import { dynamoDbClient } from '../support/emulators.ts';
import { type LambdaServer, startLambdaServer } from '../support/lambda-server.ts';
import { call } from '../support/server.ts';

const mainScript = join(import.meta.dirname, '../../functions/local/main.ts');
const partitions = 4;
const seed = 20_240_601;

/** A small seeded generator (mulberry32), so a failing run can be replayed. */
function random(seedValue: number): () => number {
  let a = seedValue >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

interface Invocation {
  readonly partition: number;
  readonly offsets: number[];
  readonly startedAt: number;
  outcome: 'ok' | 'partial' | 'error' | 'timeout' | 'poison';
  /** Offsets the handler processed (all but those it threw for or named as failed). */
  processed: number[];
}

const poisonedIn = (records: SubscriptionEvent['records'][string]) =>
  records.filter((r) => r.value && atob(r.value).includes('"poison":true'));

/** `npm start` in a process of its own, delivering Lambda targets to the test's Lambda server. */
async function startServer(
  env: Record<string, string>,
): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, [mainScript], {
    env: { ...process.env, PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let output = '';
  for await (const chunk of child.stdout ?? []) {
    output += String(chunk);
    const match = output.match(/listening on (http:\/\/[\d.:]+)/);
    if (match?.[1]) {
      child.stdout?.resume();
      return { url: match[1], child };
    }
  }
  throw new Error(`server exited before listening: ${output}`);
}

const stores = [
  {
    name: 'embedded',
    env: async () => {
      const dir = await mkdtemp(join(tmpdir(), 'tributary-chaos-'));
      return {
        env: { TRIBUTARY_DATA_DIR: dir },
        cleanup: () => rm(dir, { recursive: true, force: true }),
      };
    },
  },
  {
    name: 'dynamodb-local+s3-emulator',
    env: async () => {
      const endpoints = inject('emulators');
      const name = `tributary-chaos-${randomUUID()}`;
      return {
        env: {
          TRIBUTARY_STORE: 'aws',
          TRIBUTARY_TABLE: name,
          TRIBUTARY_BUCKET: name,
          AWS_ENDPOINT_URL_DYNAMODB: endpoints.dynamodb,
          AWS_ENDPOINT_URL_S3: endpoints.s3,
        },
        cleanup: async () => {
          const client = dynamoDbClient(endpoints.dynamodb);
          await client.send(new DeleteTableCommand({ TableName: name })).catch(() => undefined);
          client.destroy();
        },
      };
    },
  },
];

describe.each(stores)('ordered at-least-once delivery under chaos on $name', (store) => {
  let lambda: LambdaServer | undefined;
  let child: ChildProcess | undefined;
  let cleanup: (() => Promise<unknown>) | undefined;
  afterAll(async () => {
    child?.kill('SIGKILL');
    await lambda?.close();
    await cleanup?.();
  });

  it('delivers every record in order per partition, dead-letters exactly the poisoned ones, and never moves a position back', async () => {
    const next = random(seed);
    const invocations: Invocation[] = [];
    const inFlight = new Map<number, number>();
    let overlapped = 0;
    const kills: number[] = [];
    lambda = await startLambdaServer({
      'chaos-fn': {
        // Below the delivery timeout, as a subscribed function's timeout should be.
        timeoutMs: 300,
        handler: async (raw) => {
          const event = raw as SubscriptionEvent;
          const records = Object.values(event.records).flat();
          const partition = records[0]?.partition ?? -1;
          const invocation: Invocation = {
            partition,
            offsets: records.map((r) => r.offset),
            startedAt: Date.now(),
            outcome: 'ok',
            processed: [],
          };
          invocations.push(invocation);
          if ((inFlight.get(partition) ?? 0) > 0) overlapped++;
          inFlight.set(partition, (inFlight.get(partition) ?? 0) + 1);
          let ended = false;
          const end = () => {
            if (!ended) inFlight.set(partition, (inFlight.get(partition) ?? 1) - 1);
            ended = true;
          };
          try {
            const pause = next() * 10;
            const roll = next();
            // Lambda ends a function at its timeout (300 ms): from then on the invocation is
            // over for it. Marked before the server's own timer, which answers the dispatcher.
            if (poisonedIn(records).length === 0 && roll >= 0.12 && roll < 0.16)
              setTimeout(end, 290);
            await new Promise((resolve) => setTimeout(resolve, pause));
            const poisoned = poisonedIn(records);
            if (poisoned.length > 0) {
              invocation.outcome = 'poison';
              if (roll < 0.5) throw new Error('poisoned record');
              const bad = new Set(poisoned.map((r) => r.offset));
              invocation.processed = invocation.offsets.filter((o) => !bad.has(o));
              return {
                batchItemFailures: poisoned.map((r) => ({ itemIdentifier: String(r.offset) })),
              };
            }
            if (roll < 0.12) {
              invocation.outcome = 'error';
              throw new Error('random failure');
            }
            if (roll < 0.16) {
              invocation.outcome = 'timeout';
              await new Promise((resolve) => setTimeout(resolve, 1_000));
              return null;
            }
            if (roll < 0.26 && records.length > 1) {
              invocation.outcome = 'partial';
              const failed = records[1 + Math.floor(next() * (records.length - 1))];
              invocation.processed = invocation.offsets.filter((o) => o !== failed?.offset);
              return { batchItemFailures: [{ itemIdentifier: String(failed?.offset) }] };
            }
            invocation.processed = invocation.offsets;
            return { batchItemFailures: [] };
          } finally {
            end();
          }
        },
      },
    });
    const prepared = await store.env();
    cleanup = prepared.cleanup;
    const env = {
      ...prepared.env,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'tributarytest',
      AWS_SECRET_ACCESS_KEY: 'tributarytest',
      AWS_ENDPOINT_URL_LAMBDA: lambda.url,
      TRIBUTARY_DELIVERY_TIMEOUT_MS: '500',
      TRIBUTARY_DISPATCH_INTERVAL_MS: '50',
      TRIBUTARY_RETRY_BACKOFF_MS: '5',
      TRIBUTARY_RETRY_BACKOFF_MAX_MS: '40',
    };
    let server = await startServer(env);
    child = server.child;
    const api = { url: server.url };
    expect((await call(api.url, 'POST', '/v1/topics', { name: 'chaos', partitions })).status).toBe(
      201,
    );
    expect(
      (await call(api.url, 'POST', '/v1/topics', { name: 'chaos.dlq', partitions: 1 })).status,
    ).toBe(201);
    const created = await call(api.url, 'POST', '/v1/topics/chaos/subscriptions', {
      name: 'c',
      target: { type: 'lambda', function: 'chaos-fn' },
      startingPosition: 'TRIM_HORIZON',
      batchSize: 8,
      bisectBatchOnFunctionError: true,
      maxRetryAttempts: 10,
      onFailure: { topic: 'chaos.dlq' },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);

    // Positions seen by describe over time, per partition: they must never go down.
    const positions: number[][] = Array.from({ length: partitions }, () => []);
    const sample = async () => {
      const described = await call(api.url, 'GET', '/v1/topics/chaos/subscriptions/c').catch(
        () => undefined,
      );
      described?.body?.partitions?.forEach((p: { partition: number; position: number }) => {
        positions[p.partition]?.push(p.position);
      });
    };

    // Produce while the server is killed and restarted under the producers.
    let producing = true;
    let counter = 0;
    const producer = (async () => {
      while (producing) {
        const partition = Math.floor(next() * partitions);
        const records = Array.from({ length: 5 }, () => ({
          partition,
          value: { n: counter++, poison: next() < 0.03 },
        }));
        await call(api.url, 'POST', '/v1/topics/chaos/records', { records }).catch(() => undefined);
        await sample();
      }
    })();
    for (let round = 0; round < 3; round++) {
      await new Promise((resolve) => setTimeout(resolve, 800 + next() * 400));
      server.child.kill('SIGKILL');
      await once(server.child, 'exit');
      kills.push(Date.now());
      server = await startServer(env);
      child = server.child;
      api.url = server.url;
    }
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    producing = false;
    await producer;

    // Everything produced is delivered (or dead-lettered) in the end.
    const deadline = Date.now() + 40_000;
    for (;;) {
      const described = await call(api.url, 'GET', '/v1/topics/chaos/subscriptions/c');
      await sample();
      if (described.body.lag === 0) break;
      if (Date.now() > deadline) throw new Error(`still behind: ${JSON.stringify(described.body)}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }

    const poisoned = new Set<string>();
    let total = 0;
    for (let partition = 0; partition < partitions; partition++) {
      const stored = await fetchAll(api.url, 'chaos', partition);
      total += stored.length;
      const offsets = stored.map((r) => r.offset);
      for (const r of stored) {
        if ((r.value as { poison: boolean }).poison) poisoned.add(`${partition}/${r.offset}`);
      }
      // Every record reached the target and was processed, or is poisoned.
      const mine = invocations.filter((i) => i.partition === partition);
      const processed = new Set(mine.flatMap((i) => i.processed));
      for (const offset of offsets) {
        if (poisoned.has(`${partition}/${offset}`)) continue;
        expect(processed.has(offset), `${partition}/${offset} never processed`).toBe(true);
      }
      // In order: each batch is ascending and starts no later than just past everything
      // delivered before it. A record processed once comes again only after a failure on
      // the partition (a partial response included) or a crash.
      let reached = 0;
      const processedAt = new Map<number, number>();
      for (const [index, invocation] of mine.entries()) {
        const [first = 0] = invocation.offsets;
        expect([...invocation.offsets].sort((a, b) => a - b)).toEqual(invocation.offsets);
        expect(first, `partition ${partition} skipped to ${first}`).toBeLessThanOrEqual(reached);
        for (const offset of invocation.offsets) {
          const earlier = processedAt.get(offset);
          if (earlier === undefined) continue;
          const failedSince = mine.slice(earlier, index).some((i) => i.outcome !== 'ok');
          const crashedSince = kills.some(
            (k) => k >= (mine[earlier]?.startedAt ?? 0) && k <= invocation.startedAt,
          );
          expect(failedSince || crashedSince, `${partition}/${offset} again without cause`).toBe(
            true,
          );
        }
        for (const offset of invocation.processed) processedAt.set(offset, index);
        reached = Math.max(reached, (invocation.offsets.at(-1) ?? -1) + 1);
      }
      // Positions never go backwards.
      const seen = positions[partition] ?? [];
      expect(seen).toEqual([...seen].sort((a, b) => a - b));
    }
    expect(total).toBeGreaterThan(80);
    expect(poisoned.size).toBeGreaterThan(0);
    expect(kills).toHaveLength(3);
    const dead = await fetchAll(api.url, 'chaos.dlq', 0, 0, 'text');
    const deadKeys = dead.map((r) => {
      const header = (name: string) => r.headers.find((h) => h.name === name)?.value;
      return `${header('tributary.partition')}/${header('tributary.offset')}`;
    });
    expect(new Set(deadKeys).size, 'no dead letter twice').toBe(deadKeys.length);
    expect(new Set(deadKeys)).toEqual(poisoned);
    expect(overlapped, 'deliveries to one partition at once').toBe(0);
  }, 120_000);
});
