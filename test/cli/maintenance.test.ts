import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from '../support/backends.ts';
import { type RunningServer, startServer } from '../support/server.ts';
import { cliAt } from './cli-process.ts';

describe.concurrent.each(backends)('tributary maintenance ($name)', (backend) => {
  let server: RunningServer;
  const run = cliAt(() => server.url);
  let now = Date.UTC(2026, 4, 1);

  beforeAll(async () => {
    server = await startServer(backend, { now: () => now });
  });
  afterAll(() => server.close());

  it('runs a pass and prints its report; describes it by id; shows partition sizes', async () => {
    await run(['topics', 'create', 'brief', '--config', 'retention.ms=60000']);
    await run(['produce', 'brief'], { input: 'one\ntwo\n' });
    const before = await run(['topics', 'describe', 'brief', '--output', 'json']);
    const size = JSON.parse(before.stdout).partitions[0].sizeBytes;
    expect(size).toBeGreaterThan(0);
    const text = await run(['topics', 'describe', 'brief']);
    expect(text.stdout).toContain('SIZE BYTES');
    now += 120_000;

    const pass = await run(['maintenance', 'run']);
    expect(pass).toMatchObject({ code: 0, stderr: '' });
    expect(pass.stdout).toMatch(/^Run: \S+ {2}status: SUCCEEDED/);
    expect(pass.stdout).toMatch(new RegExp(`bytes freed\\s+${size}\\n`));

    const json = await run(['maintenance', 'run', '--wait', '--output', 'json']);
    const { id, status, report } = JSON.parse(json.stdout);
    expect(status).toBe('SUCCEEDED');
    expect(report.failures).toBe(0);
    const described = await run(['maintenance', 'describe', id, '--output', 'json']);
    expect(JSON.parse(described.stdout)).toMatchObject({ id, status: 'SUCCEEDED', report });

    const missing = await run(['maintenance', 'describe', 'nope']);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain('MAINTENANCE_RUN_NOT_FOUND');
  });
});
