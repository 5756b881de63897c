import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { printedBy } from '../support/printed.ts';

const root = join(import.meta.dirname, '../..');
const started: ChildProcess[] = [];
let cwd: string | undefined;
afterAll(async () => {
  for (const child of started) if (child.exitCode === null) child.kill('SIGKILL');
  if (cwd) await rm(cwd, { recursive: true, force: true });
});

/** Starts `node <script>` and collects what it prints. */
function start(script: string, env: Record<string, string>) {
  const child = spawn(process.execPath, [join(root, script)], {
    env: { PATH: process.env.PATH, ...env },
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.push(child);
  return { child, printed: printedBy(child) };
}

it('npm run emulators prints the settings that run npm start on the AWS adapters, which then work', async () => {
  cwd = await mkdtemp(join(tmpdir(), 'tributary-emulators-'));
  const emulators = start('scripts/emulators.ts', { DYNAMODB_PORT: '0', S3_PORT: '0' });
  await expect
    .poll(() => emulators.printed.stdout, { timeout: 60_000, interval: 200 })
    .toContain('npm start');
  // The variables it prints, as the user would paste them.
  const settings = Object.fromEntries(
    [...emulators.printed.stdout.matchAll(/\b([A-Z][A-Z0-9_]+)=(\S+)/g)].map(
      ([, name = '', value = '']) => [name, value],
    ),
  );
  expect(settings).toMatchObject({ TRIBUTARY_STORE: 'aws', AWS_REGION: 'us-east-1' });

  const server = start('functions/local/main.ts', { ...settings, PORT: '0' });
  await expect
    .poll(() => server.printed.stdout + server.printed.stderr, { timeout: 30_000, interval: 100 })
    .toContain('Try:');
  expect(server.printed.stdout).toContain('DynamoDB table tributary, S3 bucket tributary-segments');
  const url = /listening on (http:\/\/\S+)/.exec(server.printed.stdout)?.[1];
  const json = { 'content-type': 'application/json' };
  const created = await fetch(`${url}/v1/topics`, {
    method: 'POST',
    headers: json,
    body: JSON.stringify({ name: 'emulated' }),
  });
  expect(created.status).toBe(201);
  const produced = await fetch(`${url}/v1/topics/emulated/records`, {
    method: 'POST',
    headers: json,
    body: JSON.stringify({ records: [{ value: 'through DynamoDB Local and S3' }] }),
  });
  expect(produced.status).toBe(200);
  const fetched = await fetch(`${url}/v1/topics/emulated/partitions/0/records?offset=0`);
  expect((await fetched.json()).records[0].value).toBe('through DynamoDB Local and S3');

  for (const { child } of [server, emulators]) {
    child.kill('SIGINT');
    const [code] = await once(child, 'exit');
    expect(code).toBe(0);
  }
});
