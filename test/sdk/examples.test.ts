import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Tributary } from '../../sdk/src/index.ts';
import { embedded } from '../support/backends.ts';
import { type RunningServer, startServer } from '../support/server.ts';

const run = promisify(execFile);
const examples = join(import.meta.dirname, '../../examples');

/** The examples, run as a user runs them against `npm start` (the embedded store). */
describe('examples/', () => {
  let server: RunningServer;
  let tributary: Tributary;
  let env: NodeJS.ProcessEnv;
  beforeAll(async () => {
    server = await startServer(embedded);
    tributary = new Tributary({ url: server.url });
    env = { ...process.env, TRIBUTARY_URL: server.url };
  });
  afterAll(() => server.close());

  it('producer.ts creates the topic and sends keyed orders', async () => {
    const { stdout } = await run(process.execPath, [join(examples, 'producer.ts')], {
      env: { ...env, COUNT: '30' },
      timeout: 30_000,
    });
    expect(stdout).toContain('created topic orders with 3 partitions');
    expect(stdout).toMatch(/sent 30 orders to orders: partition 0: \d+/);
    const { partitions } = await tributary.topics.describe('orders');
    expect(partitions.reduce((n, p) => n + p.highWatermark, 0)).toBe(30);
  });

  it('consumer-worker.ts processes every order, commits, and leaves the group on SIGTERM', async () => {
    const worker: ChildProcess = spawn(process.execPath, [join(examples, 'consumer-worker.ts')], {
      env,
    });
    let stdout = '';
    worker.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    try {
      const deadline = Date.now() + 20_000;
      for (;;) {
        const offsets = await tributary.groups.offsets('order-workers').catch(() => []);
        if (offsets.length === 3 && offsets.every((o) => o.lag === 0)) break;
        if (Date.now() > deadline) throw new Error(`worker did not catch up: ${stdout}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      worker.kill('SIGTERM');
      const [code] = await once(worker, 'exit');
      expect(code).toBe(0);
    } finally {
      worker.kill('SIGKILL');
    }
    expect(stdout).toContain('assigned orders [0, 1, 2]');
    expect(stdout).toContain('processed 30 orders');
    expect(stdout).toContain('revoked orders [0, 1, 2]');
    expect(stdout).toContain('left the group after 30 orders');
    expect((await tributary.groups.describe('order-workers')).state).toBe('Empty');
  });
  it('exactly-once.ts copies every order once with its offsets, killed and started again', async () => {
    const start = () => spawn(process.execPath, [join(examples, 'exactly-once.ts')], { env });
    // Enough orders that the first instance is killed part-way (a poll takes 500).
    const producer = tributary.producer();
    await producer.send({
      topic: 'orders',
      records: Array.from({ length: 3_000 }, (_, i) => ({
        key: `customer-${i % 7}`,
        value: { order: 1_000 + i, amount: i },
      })),
    });
    await producer.close();
    const before = (await tributary.topics.describe('orders')).partitions;
    const orders = before.reduce((n, p) => n + p.highWatermark, 0);
    const caughtUp = async () => {
      const offsets = await tributary.groups.offsets('order-amounts').catch(() => []);
      return offsets.length === 3 && offsets.every((o) => o.lag === 0);
    };
    // The first instance is killed as soon as it committed anything; a second one finishes.
    const first = spawn(process.execPath, [join(examples, 'exactly-once.ts')], { env });
    for (const deadline = Date.now() + 20_000; ; ) {
      const offsets = await tributary.groups.offsets('order-amounts').catch(() => []);
      if (offsets.some((o) => (o.committedOffset ?? 0) > 0)) break;
      if (Date.now() > deadline) throw new Error('the first instance committed nothing');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    first.kill('SIGKILL');
    await once(first, 'exit');
    const second: ChildProcess = start();
    let stdout = '';
    second.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    try {
      for (
        const deadline = Date.now() + 30_000;
        !(await caughtUp()) || !stdout.includes('exactly once');
      ) {
        if (Date.now() > deadline) throw new Error(`did not catch up: ${stdout}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      second.kill('SIGTERM');
      expect((await once(second, 'exit'))[0]).toBe(0);
    } finally {
      second.kill('SIGKILL');
    }
    const amounts = (await tributary.topics.describe('order-amounts')).partitions;
    expect(amounts.reduce((n, p) => n + p.highWatermark, 0)).toBe(orders);
    expect(stdout).toMatch(/committed \d+ amounts with their offsets/);
    const amountsRead = await tributary.groups.offsets('order-amounts');
    expect(amountsRead.every((o) => o.committedOffset === o.highWatermark)).toBe(true);
  });
});
