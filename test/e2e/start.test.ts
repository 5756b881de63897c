import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { printedBy } from '../support/printed.ts';

const main = join(import.meta.dirname, '../../functions/local/main.ts');

/** `npm start` as a process, with only these settings. */
function start(env: Record<string, string>, dataDir: string): ChildProcess {
  return spawn(process.execPath, [main], {
    env: { PATH: process.env.PATH, TRIBUTARY_DATA_DIR: dataDir, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** What the process printed so far, and what it printed and its exit code once it exits. */
function outcome(child: ChildProcess) {
  const printed = printedBy(child);
  const exited = once(child, 'exit').then(([code]) => ({ code, ...printed }));
  return Object.assign(exited, { printed });
}

describe('npm start', () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'tributary-start-'));
  });
  afterAll(() => rm(dataDir, { recursive: true, force: true }));

  it.each([
    [{ PORT: 'abc' }, /PORT must be an integer from 0 to 65535; got 'abc'/],
    [
      { TRIBUTARY_AUTH: 'on' },
      /TRIBUTARY_AUTH=on needs the bootstrap admin key: set TRIBUTARY_ADMIN_KEY/,
    ],
    [
      {
        TRIBUTARY_STORE: 'aws',
        TRIBUTARY_TABLE: 't',
        TRIBUTARY_BUCKET: 'b',
        AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: 'x',
        AWS_SECRET_ACCESS_KEY: 'x',
        // Nothing listens on port 9 (discard) here.
        AWS_ENDPOINT_URL_DYNAMODB: 'http://127.0.0.1:9',
        AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9',
      },
      /cannot reach DynamoDB at http:\/\/127\.0\.0\.1:9 \(AWS_ENDPOINT_URL_DYNAMODB\).*npm run emulators/,
    ],
  ])('refuses %j in one line that says what to do, and exits 1', async (env, said) => {
    const { code, stdout, stderr } = await outcome(start(env, dataDir));
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/^Tributary could not start: .+\n$/);
    expect(stderr).toMatch(said);
  });

  it('says so in one line when the port is taken', async () => {
    const taken = createServer().listen(0, '127.0.0.1');
    await once(taken, 'listening');
    const address = taken.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    try {
      const { code, stderr } = await outcome(start({ PORT: String(port) }, dataDir));
      expect(code).toBe(1);
      expect(stderr).toBe(
        `Tributary could not start: 127.0.0.1:${port} is already in use (another Tributary?). Stop that server, or choose another port: PORT=${port + 1} npm start, or tributary dev --port ${port + 1} (0 picks a free one).\n`,
      );
    } finally {
      taken.close();
    }
  });

  it('prints a first request to paste, the admin key in double quotes for the shell to expand', async () => {
    const child = start(
      { PORT: '0', TRIBUTARY_AUTH: 'on', TRIBUTARY_ADMIN_KEY: 'local-admin-key-change-me' },
      dataDir,
    );
    const done = outcome(child);
    await expect.poll(() => done.printed.stdout, { timeout: 10_000 }).toContain('Try:');
    child.kill('SIGTERM');
    await done;
    expect(done.printed.stdout).toContain(' -H "authorization: Bearer $TRIBUTARY_ADMIN_KEY" ');
  });

  it('logs one line per request at INFO, and none at WARN', async () => {
    for (const [level, lines] of [
      ['INFO', 1],
      ['WARN', 0],
    ] as const) {
      const child = start({ PORT: '0', TRIBUTARY_LOG_LEVEL: level }, dataDir);
      const done = outcome(child);
      await expect.poll(() => done.printed.stdout, { timeout: 10_000 }).toContain('Try:');
      const url = /listening on (http:\/\/\S+)/.exec(done.printed.stdout)?.[1];
      expect((await fetch(`${url}/v1/topics/nope`)).status).toBe(404);
      child.kill('SIGTERM');
      const { code, stdout } = await done;
      expect(code).toBe(0);
      const logged = stdout
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line));
      expect(logged).toHaveLength(lines);
      if (lines > 0) {
        expect(logged[0]).toMatchObject({
          level: 'INFO',
          message: expect.stringMatching(/^GET \/v1\/topics\/nope 404 \d+ ms$/),
          status: 404,
          requestId: expect.any(String),
        });
      }
    }
  });
});
