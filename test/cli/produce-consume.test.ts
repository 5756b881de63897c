import { once } from 'node:events';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { backends, embedded } from '../support/backends.ts';
import { type FlakyProxy, startFlakyProxy } from '../support/flaky-proxy.ts';
import { type RunningServer, startServer } from '../support/server.ts';
import { cli, cliAt, finished, lines, startCli } from './cli-process.ts';

/** Everything a terminal-only progress meter could leave in piped output. */
const progressText = /records\/s|\r|\[2K/;

describe.concurrent.each(backends)('tributary produce and consume ($name)', (backend) => {
  let server: RunningServer;
  const run = cliAt(() => server.url);

  beforeAll(async () => {
    server = await startServer(backend);
  });
  afterAll(() => server.close());

  it('creates a topic, produces stdin lines and prints exactly them, in order, on stdout only', async () => {
    const created = await run(['topics', 'create', 'lines', '--partitions', '1']);
    expect(created).toMatchObject({ code: 0, stderr: '' });

    const values = ['first line', '{"amount": 42}', 'naïve – ünïcode', 'the end'];
    const produced = await run(['produce', 'lines'], { input: `${values.join('\n')}\n` });
    expect(produced).toEqual({ code: 0, stdout: '', stderr: '' });

    const consumed = await run(['consume', 'lines', '--from', 'earliest', '--exit']);
    expect(consumed.code).toBe(0);
    // A JSON value prints compact; text prints as it is.
    expect(lines(consumed.stdout)).toEqual([
      'first line',
      '{"amount":42}',
      'naïve – ünïcode',
      'the end',
    ]);
    // Piped: no progress meter anywhere, not even on stderr.
    expect(consumed.stderr).toBe('');
    expect(consumed.stdout).not.toMatch(progressText);
  });

  it('refuses a line that is not UTF-8, naming it, rather than storing U+FFFD for its bytes', async () => {
    await run(['topics', 'create', 'not-text', '--partitions', '1']);
    // Split across writes, so a multi-byte character also straddles reads: it is text.
    const input = Buffer.concat([
      Buffer.from('caf\u00e9\n'),
      Buffer.from([0x62, 0x69, 0x6e, 0xff, 0xfe, 0x0a]),
      Buffer.from('after\n'),
    ]);
    const produced = await run(['produce', 'not-text', '--linger-ms', '0', '--batch-size', '1'], {
      input,
    });
    expect(produced.code).toBe(1);
    expect(produced.stderr).toBe(
      'tributary: INVALID_INPUT: line 2 is not UTF-8 text; to produce bytes, give them as base64 with --format base64.\n',
    );
    const consumed = await run(['consume', 'not-text', '--exit', '--format', 'base64']);
    // At most the line before it; never a record of replacement characters.
    for (const value of lines(consumed.stdout)) {
      expect(Buffer.from(value, 'base64').toString()).toBe('caf\u00e9');
    }

    // Valid UTF-8, even with a character split between two reads of stdin, goes as it is.
    const split = Buffer.from('\u00fcber\n');
    const child = startCli(['produce', 'not-text', '--url', server.url], { openStdin: true });
    child.stdin?.write(split.subarray(0, 2));
    await new Promise((resolve) => setTimeout(resolve, 100));
    child.stdin?.end(split.subarray(2));
    expect((await finished(child)).code).toBe(0);
    const all = await run(['consume', 'not-text', '--exit']);
    expect(lines(all.stdout).at(-1)).toBe('\u00fcber');
  });

  it('names the input line of a record the SDK refuses, in the words of the line, not of a request', async () => {
    await run(['topics', 'create', 'refused', '--partitions', '1']);
    const input = '{"value": 1}\n{"value": 2, "partition": -1}\n';
    const produced = await run(['produce', 'refused', '--ndjson'], { input });
    expect(produced.code).toBe(1);
    expect(produced.stderr).toBe(
      'tributary: INVALID_INPUT: line 2: partition must be an integer >= 0.\n',
    );
  });

  it('names the input line of a record the server refuses (RECORD_TOO_LARGE)', async () => {
    await run(['topics', 'create', 'small', '--config', 'max.message.bytes=100']);
    const input = `short\nalso short\n${'x'.repeat(200)}\nnever sent\n`;
    const produced = await run(['produce', 'small', '--linger-ms', '0'], { input });
    expect(produced.code).toBe(1);
    expect(produced.stderr).toMatch(/^tributary: RECORD_TOO_LARGE: line 3: .+\n$/);
  });

  it('splits keys from values at the first --key-separator, and --output json prints whole records', async () => {
    await run(['topics', 'create', 'keyed', '--partitions', '1']);
    const input = 'alice:buy\nbob:view:twice\nno separator here\n';
    const produced = await run(['produce', 'keyed', '--key-separator', ':'], { input });
    expect(produced).toEqual({ code: 0, stdout: '', stderr: '' });

    const values = await run(['consume', 'keyed', '--from', 'earliest', '--exit']);
    expect(lines(values.stdout)).toEqual(['buy', 'view:twice', 'no separator here']);

    const json = await run([
      'consume',
      'keyed',
      '--from',
      'earliest',
      '--exit',
      '--output',
      'json',
    ]);
    expect(json.code).toBe(0);
    const records = lines(json.stdout).map((line) => JSON.parse(line));
    expect(records).toEqual([
      {
        topic: 'keyed',
        partition: 0,
        offset: 0,
        timestamp: expect.any(Number),
        key: 'alice',
        value: 'buy',
        headers: [],
      },
      {
        topic: 'keyed',
        partition: 0,
        offset: 1,
        timestamp: expect.any(Number),
        key: 'bob',
        value: 'view:twice',
        headers: [],
      },
      {
        topic: 'keyed',
        partition: 0,
        offset: 2,
        timestamp: expect.any(Number),
        key: null,
        value: 'no separator here',
        headers: [],
      },
    ]);

    const template = await run(['consume', 'keyed', '--exit', '--format-string', '%p/%o %k=%v\\n']);
    expect(lines(template.stdout)).toEqual([
      '0/0 alice=buy',
      '0/1 bob=view:twice',
      '0/2 =no separator here',
    ]);
  });

  it('prints every value of a multi-partition topic, each partition in offset order', async () => {
    await run(['topics', 'create', 'spread', '--partitions', '4']);
    const keyed = Array.from({ length: 40 }, (_, i) => `key-${i % 7}|value-${i}`);
    const produced = await run(['produce', 'spread', '-K', '|', '--batch-size', '8'], {
      input: `${keyed.join('\n')}\n`,
    });
    expect(produced).toMatchObject({ code: 0, stderr: '' });

    const consumed = await run([
      'consume',
      'spread',
      '--from',
      'earliest',
      '--exit',
      '--output',
      'json',
    ]);
    expect(consumed.code).toBe(0);
    const records = lines(consumed.stdout).map((line) => JSON.parse(line));
    expect(records.map((r) => r.value).sort()).toEqual(keyed.map((k) => k.split('|')[1]).sort());
    expect(new Set(records.map((r) => r.partition)).size).toBeGreaterThan(1);
    for (const partition of [0, 1, 2, 3]) {
      const offsets = records.filter((r) => r.partition === partition).map((r) => r.offset);
      expect(offsets).toEqual(offsets.map((_, i) => i));
    }
    // The same key always lands on the same partition.
    const partitionOf = new Map<string, number>();
    for (const r of records) {
      expect(partitionOf.get(r.key) ?? r.partition).toBe(r.partition);
      partitionOf.set(r.key, r.partition);
    }
  });

  it('consumes as a group member, committing what it printed, so the next run prints only what is new', async () => {
    await run(['topics', 'create', 'clicks', '--partitions', '3']);
    await run(['produce', 'clicks'], { input: 'a\nb\nc\nd\ne\n' });
    const consume = ['consume', 'clicks', '--group', 'reporting', '--exit'];

    const first = await run(consume);
    expect(first.code).toBe(0);
    expect(lines(first.stdout).sort()).toEqual(['a', 'b', 'c', 'd', 'e']);

    const again = await run(consume);
    expect(again).toEqual({ code: 0, stdout: '', stderr: '' });

    await run(['produce', 'clicks'], { input: 'f\ng\n' });
    const newer = await run(consume);
    expect(lines(newer.stdout).sort()).toEqual(['f', 'g']);

    const group = await run(['groups', 'describe', 'reporting', '--output', 'json']);
    const described = JSON.parse(group.stdout);
    expect(described.members).toEqual([]);
    // Unkeyed records of one request share a partition: some partitions never had any.
    for (const o of described.offsets) expect(o.committedOffset ?? 0).toBe(o.highWatermark);
  });

  it('follows until SIGINT, then leaves its group and exits 130', async () => {
    await run(['topics', 'create', 'live', '--partitions', '2']);
    const child = startCli(['consume', 'live', '--group', 'watchers'], {
      env: { TRIBUTARY_URL: server.url },
    });
    let printed = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      printed += chunk.toString();
    });
    const result = finished(child);
    await run(['produce', 'live'], { input: 'hello\n' });
    // The member prints the record once it has joined and polled.
    while (!printed.includes('hello')) await once(child.stdout ?? child, 'data');
    child.kill('SIGINT');
    const { code, stdout } = await result;
    expect(code).toBe(130);
    expect(stdout).toBe('hello\n');
    const group = await run(['groups', 'describe', 'watchers', '--output', 'json']);
    expect(JSON.parse(group.stdout).members).toEqual([]);
  });

  it('stops on SIGTERM as on Ctrl-C: leaves its group at once and exits 143', async () => {
    await run(['topics', 'create', 'terminated', '--partitions', '2']);
    const child = startCli(['consume', 'terminated', '--group', 'stopped'], {
      env: { TRIBUTARY_URL: server.url },
    });
    let printed = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      printed += chunk.toString();
    });
    const result = finished(child);
    await run(['produce', 'terminated'], { input: 'hello\n' });
    while (!printed.includes('hello')) await once(child.stdout ?? child, 'data');
    child.kill('SIGTERM');
    expect(await result).toMatchObject({ code: 143, stdout: 'hello\n', stderr: '' });
    // Its partitions are free now, not held for a session timeout.
    const group = await run(['groups', 'describe', 'stopped', '--output', 'json']);
    expect(JSON.parse(group.stdout).members).toEqual([]);
  });

  /**
   * A proxy to the server that holds the CLI's check of `topic` until `release()`:
   * `checking` resolves once the check has arrived, so a SIGINT then comes mid-check.
   */
  async function holdingTopicCheck(topic: string) {
    let checked: () => void = () => undefined;
    const checking = new Promise<void>((resolve) => {
      checked = resolve;
    });
    let release: () => void = () => undefined;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    const target = new URL(server.url);
    const proxy = createServer(async (incoming, answer) => {
      if (incoming.method === 'GET' && incoming.url === `/v1/topics/${topic}`) {
        checked();
        await released;
      }
      const forwarded = request(
        {
          host: target.hostname,
          port: target.port,
          method: incoming.method,
          path: incoming.url,
          headers: incoming.headers,
        },
        (response) => {
          answer.writeHead(response.statusCode ?? 502, response.headers);
          response.pipe(answer);
        },
      );
      incoming.pipe(forwarded);
    });
    proxy.listen(0, '127.0.0.1');
    await once(proxy, 'listening');
    return {
      url: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`,
      checking,
      release,
      close: () => {
        proxy.close();
        proxy.closeAllConnections();
      },
    };
  }

  /** Sends SIGINT while the topic check is held, then lets the check answer. */
  async function interruptDuringCheck(
    child: ReturnType<typeof startCli>,
    held: Awaited<ReturnType<typeof holdingTopicCheck>>,
  ): Promise<number> {
    await held.checking;
    const interrupted = Date.now();
    child.kill('SIGINT');
    // Let the signal reach the CLI before the check answers.
    await new Promise((resolve) => setTimeout(resolve, 200));
    held.release();
    return interrupted;
  }

  it('stops at once on a SIGINT that comes while the topic is being checked, and never joins the group', async () => {
    await run(['topics', 'create', 'early', '--partitions', '2']);
    await run(['produce', 'early'], { input: 'a\nb\nc\n' });
    const held = await holdingTopicCheck('early');
    try {
      const child = startCli(['consume', 'early', '--group', 'early-birds'], {
        env: { TRIBUTARY_URL: held.url },
      });
      const result = finished(child);
      const interrupted = await interruptDuringCheck(child, held);
      const { code, stdout } = await result;
      expect(code).toBe(130);
      // Not the 5 s after which a command that did not stop is ended without cleaning up.
      expect(Date.now() - interrupted).toBeLessThan(4_000);
      expect(stdout).toBe('');
      // No member left behind holding the partitions until its session lapses.
      const groups = await run(['groups', 'list']);
      expect(lines(groups.stdout)).not.toContain('early-birds');
    } finally {
      held.close();
    }
  });

  it('produce stops at once on a SIGINT that comes while the topic is being checked, writing nothing', async () => {
    await run(['topics', 'create', 'early-in']);
    const held = await holdingTopicCheck('early-in');
    try {
      const child = startCli(['produce', 'early-in'], {
        env: { TRIBUTARY_URL: held.url },
        openStdin: true,
      });
      const result = finished(child);
      const interrupted = await interruptDuringCheck(child, held);
      const { code } = await result;
      expect(code).toBe(130);
      expect(Date.now() - interrupted).toBeLessThan(4_000);
      child.stdin?.end();
      const consumed = await run(['consume', 'early-in', '--exit']);
      expect(consumed.stdout).toBe('');
    } finally {
      held.close();
    }
  });
});

/**
 * How long `produce` keeps retrying is the SDK producer's delivery timeout, the same
 * whatever stores the server, so this runs on one backend, through a real HTTP endpoint
 * in front of the server that fails produce requests for a while.
 */
describe('tributary produce while the API fails', () => {
  let server: RunningServer;
  let proxy: FlakyProxy;
  const run = cliAt(() => proxy.url);

  beforeAll(async () => {
    server = await startServer(embedded);
    proxy = await startFlakyProxy(server.url);
  });
  afterEach(() => proxy.failProduces(0, []));
  afterAll(async () => {
    await proxy.close();
    await server.close();
  });

  it('rides out a throttling spike longer than the client’s retries, writing each line once', async () => {
    await run(['topics', 'create', 'spiky', '--partitions', '1']);
    // Longer than the client's own retries (at most 0.1 + 0.2 + 0.4 + 0.8 + 1.6 s). Every
    // other failure is a gateway timeout after the write landed: its retry is a replay.
    proxy.failProduces(3_500, ['throttled', 'gateway-timeout']);
    const produced = await run(['produce', 'spiky'], { input: 'one\ntwo\nthree\n' });
    expect(produced).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(proxy.produceAttempts()).toBeGreaterThan(6);
    const consumed = await run(['consume', 'spiky', '--exit']);
    expect(lines(consumed.stdout)).toEqual(['one', 'two', 'three']);
  });

  it('fails within seconds when the server is not running, and after --delivery-timeout-ms when it keeps failing', async () => {
    await run(['topics', 'create', 'down', '--partitions', '1']);
    proxy.failProduces(Number.POSITIVE_INFINITY, ['unavailable']);
    let started = Date.now();
    const failing = await run(['produce', 'down', '--delivery-timeout-ms', '700'], {
      input: 'lost\n',
    });
    expect(failing.code).toBe(1);
    expect(failing.stderr).toMatch(
      /^tributary: DELIVERY_TIMEOUT: .*deliveryTimeoutMs \(700 ms\).*STORAGE_UNAVAILABLE/,
    );
    expect(Date.now() - started).toBeLessThan(6_000);
    expect((await run(['consume', 'down', '--exit'])).stdout).toBe('');

    // Nothing listens where the server was: the topic check fails with the usual few retries.
    const gone = await startServer(embedded);
    const url = gone.url;
    await gone.close();
    started = Date.now();
    const refused = await cli(['produce', 'down'], { env: { TRIBUTARY_URL: url }, input: 'x\n' });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^tributary: NETWORK_ERROR: /);
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});
