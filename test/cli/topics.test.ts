import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from '../support/backends.ts';
import { type RunningServer, startServer } from '../support/server.ts';
import { cliAt } from './cli-process.ts';

describe.concurrent.each(backends)('tributary topics ($name)', (backend) => {
  let server: RunningServer;
  const run = cliAt(() => server.url);
  beforeAll(async () => {
    server = await startServer(backend);
  });
  afterAll(() => server.close());

  it('alter prints the partition count and every config as the change left them', async () => {
    expect((await run(['topics', 'create', 'altered'])).stdout).toBe(
      'Topic altered has 1 partition(s).\n',
    );
    const altered = await run([
      'topics',
      'alter',
      'altered',
      '--config',
      'retention.ms=86400000',
      '--partitions',
      '2',
    ]);
    expect(altered).toMatchObject({ code: 0, stderr: '' });
    expect(altered.stdout).toBe(
      [
        'Topic altered altered: 2 partition(s).',
        'Config:',
        '  cleanup.policy=delete',
        '  delete.retention.ms=86400000',
        '  max.compaction.lag.ms=9223372036854775807',
        '  max.message.bytes=1048576',
        '  message.timestamp.type=CreateTime',
        '  min.cleanable.dirty.ratio=0.5',
        '  min.compaction.lag.ms=0',
        '  retention.bytes=-1',
        '  retention.ms=86400000',
        '',
      ].join('\n'),
    );
  });

  it('names the partitions a topic has when asked for one it lacks', async () => {
    await run(['topics', 'create', 'single']);
    const missing = await run(['consume', 'single', '--partition', '3', '--exit']);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain(
      "Topic 'single' has 1 partition (0); there is no partition 3.",
    );
  });

  it('describe shows how far compaction got on a compacted topic, and its dirty share', async () => {
    await run(['topics', 'create', 'table', '--config', 'cleanup.policy=compact']);
    const produced = await run(['produce', 'table', '--key-separator', ':'], {
      input: 'k:v1\nk:v2\n',
    });
    expect(produced.code).toBe(0);
    const dirty = await run(['topics', 'describe', 'table']);
    expect(dirty.stdout).toMatch(/CLEANED UP TO\s+DIRTY RATIO/);
    expect(dirty.stdout).toMatch(/\n0\s+0\s+2\s+\d+\s+0\s+1\.00\s+0\n/);
    // A delete-policy topic has no such columns.
    await run(['topics', 'create', 'plain']);
    expect((await run(['topics', 'describe', 'plain'])).stdout).not.toContain('DIRTY RATIO');
  });
});
