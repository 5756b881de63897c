import { describe, expect, it } from 'vitest';
import { backends } from '../support/backends.ts';
import { eventually } from '../support/dispatch.ts';
import { dispatchSuite } from '../support/dispatch-suite.ts';
import { cliAt, lines } from './cli-process.ts';

describe.each(backends)('tributary subscriptions ($name)', (backend) => {
  const suite = dispatchSuite(backend);
  const run = cliAt(() => suite.server.url);

  it('creates, lists, describes, updates and deletes; records produced reach the function', async () => {
    const seen: number[] = [];
    suite.lambda.functions.set('cli-fn', {
      handler: async (event) => {
        const records = Object.values(
          (event as { records: Record<string, { offset: number }[]> }).records,
        );
        seen.push(...records.flat().map((r) => r.offset));
        return null;
      },
    });
    expect((await run(['topics', 'create', 'cli-orders'])).code).toBe(0);
    const created = await run([
      'subscriptions',
      'create',
      'cli-orders',
      'projector',
      '--function',
      'cli-fn',
      '--batch-size',
      '5',
      '--starting-position',
      'TRIM_HORIZON',
    ]);
    expect(created).toMatchObject({ code: 0, stderr: '' });
    expect(created.stdout).toContain('Subscription cli-orders/projector created.');
    expect((await run(['produce', 'cli-orders'], { input: 'a\nb\nc\n' })).code).toBe(0);
    await eventually(() => seen.length === 3, 'three records');

    const listed = await run(['subscriptions', 'list', 'cli-orders']);
    expect(lines(listed.stdout)).toEqual(['projector\tlambda\tcli-fn\tenabled']);
    const described = await run([
      'subscriptions',
      'describe',
      'cli-orders',
      'projector',
      '--output',
      'json',
    ]);
    expect(JSON.parse(described.stdout)).toMatchObject({ lag: 0, batchSize: 5, state: 'active' });
    const text = await run(['subscriptions', 'describe', 'cli-orders', 'projector']);
    expect(text.stdout).toMatch(/^Subscription: cli-orders\/projector {2}target: lambda cli-fn/);

    const updated = await run(['subscriptions', 'update', 'cli-orders', 'projector', '--disable']);
    expect(updated.stdout).toContain('updated: disabled');
    expect((await run(['subscriptions', 'delete', 'cli-orders', 'projector'])).code).toBe(0);
    const missing = await run(['subscriptions', 'describe', 'cli-orders', 'projector']);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain('SUBSCRIPTION_NOT_FOUND');
    expect(
      (await run(['subscriptions', 'delete', 'cli-orders', 'projector', '--if-exists'])).code,
    ).toBe(0);
  });

  it('prints a webhook secret once, and refuses a bad target or setting', async () => {
    await run(['topics', 'create', 'cli-hooks']);
    const created = await run([
      'subscriptions',
      'create',
      'cli-hooks',
      'hook',
      '--webhook',
      'http://127.0.0.1:9/x',
      '--disabled',
      '--header',
      'x-team=payments',
    ]);
    expect(created.stderr).toBe('');
    expect(created.stdout).toMatch(/Signing secret \(shown once\): whsec_\S+/);
    const both = await run([
      'subscriptions',
      'create',
      'cli-hooks',
      'x',
      '--webhook',
      'https://a',
      '--function',
      'f',
    ]);
    expect(both.code).toBe(2);
    const bad = await run([
      'subscriptions',
      'create',
      'cli-hooks',
      'x',
      '--function',
      'f',
      '--filter',
      '{"type":["a"]}',
    ]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('INVALID_SUBSCRIPTION');
  });
});
