import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CoreContext } from '../../functions/core/context.ts';
import { findTopic } from '../../functions/core/topics/topic.ts';
import { compactStep } from '../../functions/maintenance/compaction.ts';
import { mergeStep } from '../../functions/maintenance/merge.ts';
import type { StepOutcome } from '../../functions/maintenance/retention.ts';
import { createTopic, fetchAll, produce } from '../support/api.ts';
import { backends } from '../support/backends.ts';
import { call, type RunningServer, startServer } from '../support/server.ts';
import { expectStoredExactly, indexItems } from '../support/storage.ts';

const minute = 60_000;

/**
 * Rewrites racing on one partition: four workers step its merge, then its compaction, at
 * the same time, over and over, while a producer appends. Every step reads the partition's
 * state and conditions its writes on it, so of rewrites that overlap one lands and the
 * others write nothing (or clean up after themselves): the records removed are counted
 * once, the log tiles its offsets, and storage ends holding exactly what it refers to.
 */
describe.each(backends)('rewrites racing on one partition ($name)', (backend) => {
  let server: RunningServer;
  let now = Date.UTC(2026, 10, 1);
  beforeAll(async () => {
    server = await startServer(backend, { now: () => now });
  });
  afterAll(() => server.close());

  it('lets one of overlapping swaps land, and the log and its storage stay whole', async () => {
    await createTopic(server.url, 'raced', 1, { 'cleanup.policy': 'compact' });
    const keys = 10;
    const versions = 6;
    for (let version = 0; version < versions; version++) {
      for (let key = 0; key < keys; key++) {
        await produce(server.url, 'raced', [{ key: `k${key}`, value: `k${key} v${version}` }]);
      }
    }
    now += 6 * minute;
    const ctx: CoreContext = {
      metadata: server.stores.metadata,
      segments: server.stores.segments,
      now: () => now,
      newId: randomUUID,
    };
    const topic = await findTopic(ctx, 'raced');
    if (!topic) throw new Error('no topic');

    let appended = 0;
    let removed = 0;
    let merged = 0;
    for (const step of [mergeStep, compactStep]) {
      for (let round = 0; ; round++) {
        expect(round, 'the racing steps come to an end').toBeLessThan(300);
        const [outcomes] = await Promise.all([
          Promise.all(Array.from({ length: 4 }, () => step(ctx, topic, 0))),
          produce(server.url, 'raced', [{ key: `new-${appended}`, value: `new ${appended++}` }]),
        ]);
        for (const { counts } of outcomes as StepOutcome[]) {
          removed += counts.recordsRemoved ?? 0;
          merged += counts.batchesMerged ?? 0;
        }
        if ((outcomes as StepOutcome[]).every((o) => !o.more)) break;
      }
    }
    // Every superseded version went, once; the records appended meanwhile are all there.
    expect(removed).toBe(keys * (versions - 1));
    expect(merged).toBeGreaterThan(0);
    const log = await fetchAll(server.url, 'raced', 0);
    expect(log.map((r) => [r.offset, r.value])).toEqual([
      ...Array.from({ length: keys }, (_, key) => [
        (versions - 1) * keys + key,
        `k${key} v${versions - 1}`,
      ]),
      ...Array.from({ length: appended }, (_, i) => [versions * keys + i, `new ${i}`]),
    ]);
    // The entries tile the offsets from 0 to the high watermark, none twice.
    const entries = (await indexItems(server.stores, topic.id, 0)).map((item) => [
      Number(item.data.baseOffset),
      Number(item.data.lastOffset),
    ]);
    expect(entries[0]?.[0]).toBe(0);
    for (let i = 1; i < entries.length; i++) {
      expect(entries[i]?.[0]).toBe(Number(entries[i - 1]?.[1]) + 1);
    }
    expect(entries.at(-1)?.[1]).toBe(versions * keys + appended - 1);

    // Past the reader grace, a pass releases what the losers and the winners let go of.
    now += 6 * minute;
    const pass = await call(server.url, 'POST', '/v1/admin/maintenance');
    expect(pass.body.report.failures).toBe(0);
    now += 6 * minute;
    await call(server.url, 'POST', '/v1/admin/maintenance');
    await expectStoredExactly(server, 'raced');
  }, 120_000);
});
