import { execFile } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { embedded } from '../support/backends.ts';
import { type RunningServer, startServer } from '../support/server.ts';

const run = promisify(execFile);
const root = join(import.meta.dirname, '../..');

let server: RunningServer;
beforeAll(async () => {
  server = await startServer(embedded);
});
afterAll(() => server.close());

it("runs the README's command line block as written, printing what its comment shows", async () => {
  const readme = await readFile(join(root, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Command line'));
  const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1];
  if (!block) throw new Error('no sh block under "## Command line"');
  // The block's `# → a` / `#   b` comment is the output it promises.
  const promised = [...block.matchAll(/^# (?:→| ) (.*)$/gm)].map(([, line]) => line);
  expect(promised.length).toBeGreaterThan(0);

  // As written, in the repository: npx finds the bin npm install linked. A config file of
  // no profiles keeps the developer's own ~/.config/tributary out of it.
  const config = join(await mkdtemp(join(tmpdir(), 'tributary-readme-')), 'config.json');
  await writeFile(config, '{"profiles": {}}');
  const { stdout } = await run('bash', ['-c', `set -euo pipefail\n${block}`], {
    cwd: root,
    env: { PATH: process.env.PATH, TRIBUTARY_URL: server.url, TRIBUTARY_CONFIG: config },
    timeout: 60_000,
  });
  // `topics create` says what it made; the rest is the consumer's output.
  expect(stdout.split('\n').slice(1, -1)).toEqual(promised);
});
