import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { embedded } from '../support/backends.ts';
import { type RunningServer, startServer } from '../support/server.ts';

const run = promisify(execFile);
const readme = join(import.meta.dirname, '../../README.md');

/** The n-th (from 0) sh block of a README section. */
async function shBlock(heading: string, n = 0): Promise<string> {
  const text = await readFile(readme, 'utf8');
  const section = text.slice(text.indexOf(`## ${heading}`));
  const block = [...section.matchAll(/```sh\n([\s\S]*?)```/g)][n]?.[1];
  if (!block) throw new Error(`no sh block ${n} under ${heading}`);
  return block;
}

describe('the README walkthrough', () => {
  let server: RunningServer;
  let cwd: string;
  beforeAll(async () => {
    server = await startServer(embedded);
    cwd = await mkdtemp(join(tmpdir(), 'tributary-readme-'));
  });
  afterAll(async () => {
    await server.close();
    await rm(cwd, { recursive: true, force: true });
  });

  /**
   * Runs a README section's sh block as written against the test server. Every curl call
   * prints a newline after its body and its status on stderr (so `$(curl …)` captures the
   * body alone); every status must be a success but those in `refused`, in order. Returns
   * each JSON answer, parsed.
   */
  async function runSection(
    heading: string,
    block = 0,
    url = server.url,
    refused: number[] = [],
    // biome-ignore lint/suspicious/noExplicitAny: tests assert on the answers field by field.
  ): Promise<any[]> {
    const walkthrough = (await shBlock(heading, block)).replaceAll('http://127.0.0.1:8080', url);
    const script = `set -euo pipefail
curl() { command curl -sS -w '\\n%{stderr}%{http_code}\\n' "$@"; }
${walkthrough}`;
    const { stdout, stderr } = await run('bash', ['-c', script], { cwd, timeout: 60_000 });
    const lines = stdout.split('\n');
    const statuses = stderr
      .split('\n')
      .filter((line) => /^\d{3}$/.test(line))
      .map(Number);
    expect(statuses.length).toBeGreaterThan(0);
    expect(statuses.filter((status) => status >= 300)).toEqual(refused);
    return lines
      .filter((line) => line.includes('{'))
      .map((line) => JSON.parse(line.slice(line.indexOf('{'))));
  }

  it('runs as written, every curl call succeeding', async () => {
    const answers = await runSection('Walkthrough with curl');
    expect(answers).toHaveLength(12); // 13 calls; DELETE answers 204 with no body
    const [created, produced, ndjson, fetched, waited, , , newest] = answers;
    expect(created.partitions).toHaveLength(3);
    // The partitions the README promises.
    expect(produced.offsets.map((o: { partition: number }) => o.partition)).toEqual([0, 1, 0]);
    expect(ndjson.offsets.map((o: { partition: number }) => o.partition)).toEqual([0, 2]);
    expect(fetched.records.map((r: { key: unknown; value: unknown }) => [r.key, r.value])).toEqual([
      ['alice', { clicked: 'buy' }],
      [null, 'no key, explicit partition'],
      ['alice', { clicked: 'pay' }],
    ]);
    expect(waited).toEqual({ records: [], nextOffset: 1, highWatermark: 1, logStartOffset: 0 });
    // The first of partition 0's records with the greatest timestamp.
    const records: { offset: number; timestamp: number }[] = fetched.records;
    const greatest = Math.max(...records.map((r) => r.timestamp));
    expect(newest).toMatchObject({
      offset: records.find((r) => r.timestamp === greatest)?.offset,
      timestamp: greatest,
    });
  });

  it('runs the idempotence walkthrough as written, with the answers it promises', async () => {
    // The one request the walkthrough shows refused: a gap in the sequence.
    const [, producer, first, replay, gap, conditional, leader, led] = await runSection(
      'Writes that never duplicate',
      0,
      server.url,
      [409],
    );
    expect(producer).toEqual({ producerId: 1, producerEpoch: 0 });
    expect(replay.offsets).toEqual(first.offsets);
    expect(gap.error.code).toBe('OUT_OF_ORDER_SEQUENCE');
    expect(conditional.offsets[0]).toMatchObject({ partition: 1, offset: 0 });
    expect(leader).toEqual({ topic: 'payments', partition: 1, leaderEpoch: 1 });
    expect(led.offsets[0]).toMatchObject({ partition: 1, offset: 1 });
    const payments = await fetch(`${server.url}/v1/topics/payments/partitions/0/records?offset=0`);
    expect((await payments.json()).records).toHaveLength(1);
  });

  it('runs the consumer group walkthrough as written', async () => {
    const [, , second, firstNow, polled, committed, offsets, group, afterLeave] =
      await runSection('Consumer groups');
    expect(second).toMatchObject({
      generation: 2,
      assignment: [{ topic: 'clicks', partitions: [2, 3] }],
    });
    expect(firstNow).toMatchObject({
      generation: 2,
      assignment: [{ topic: 'clicks', partitions: [0, 1] }],
    });
    expect(polled.records.map((r: { value: unknown }) => r.value).sort()).toEqual(['a', 'b']);
    expect(committed).toEqual({ committed: 2 });
    expect(offsets.offsets.map((o: { lag: number | null }) => o.lag)).toEqual([0, 0, null, null]);
    expect(group).toMatchObject({ group: 'reporting', state: 'Stable', generation: 2 });
    expect(afterLeave).toMatchObject({
      generation: 3,
      assignment: [{ topic: 'clicks', partitions: [0, 1, 2, 3] }],
    });
  });

  it('shows an error exactly as the server answers it, field for field and in order', async () => {
    const readmeText = await readFile(readme, 'utf8');
    const section = readmeText.slice(readmeText.indexOf('## Errors'));
    const shown = /```json\n([\s\S]*?)```/.exec(section)?.[1] ?? '';
    const other = await startServer(embedded);
    try {
      const json = { 'content-type': 'application/json' };
      await fetch(`${other.url}/v1/topics`, {
        method: 'POST',
        headers: json,
        body: JSON.stringify({ name: 'orders', partitions: 2 }),
      });
      await fetch(`${other.url}/v1/topics/orders/records`, {
        method: 'POST',
        headers: json,
        body: JSON.stringify({
          records: [
            { value: 1, partition: 1 },
            { value: 2, partition: 1 },
          ],
        }),
      });
      const answer = await fetch(`${other.url}/v1/topics/orders/partitions/1/records?offset=9`);
      expect(answer.status).toBe(416);
      expect(await answer.text()).toBe(JSON.stringify(JSON.parse(shown)));
    } finally {
      await other.close();
    }
  });

  it('runs the maintenance walkthrough as written: expired data is freed on demand', async () => {
    const [created, produced, pass, described] = await runSection(
      'Maintenance: retention that frees storage',
    );
    expect(created.config['retention.ms']).toBe('1000');
    expect(produced.offsets).toHaveLength(1);
    expect(pass.report).toMatchObject({ indexEntriesDeleted: 1, failures: 0 });
    expect(pass.report.bytesFreed).toBeGreaterThan(0);
    expect(described.partitions[0]).toMatchObject({ logStartOffset: 1, sizeBytes: 0 });
  });

  it('runs the compaction walkthrough as written: the latest value of each key, the tombstone kept', async () => {
    const [created, produced, pass, read, described] = await runSection(
      'Compaction: a topic as a table',
    );
    expect(created.config['cleanup.policy']).toBe('compact');
    expect(produced.offsets).toHaveLength(4);
    expect(pass.report).toMatchObject({ compactionRounds: 1, recordsRemoved: 2, failures: 0 });
    expect(
      read.records.map((r: { offset: number; key: string; value: unknown }) => [
        r.offset,
        r.key,
        r.value,
      ]),
    ).toEqual([
      [2, 'alice', { plan: 'pro' }],
      [3, 'bob', null],
    ]);
    expect(read.nextOffset).toBe(4);
    expect(described.partitions[0]).toMatchObject({ cleanedUpTo: 4, dirtyRatio: 0 });
  });

  it('runs the authentication walkthrough as written, against a server with auth on', async () => {
    const secured = await startServer(embedded, { adminKey: 'local-admin-key-change-me' });
    try {
      const [key, write, read, acls, keys] = await runSection(
        'Authentication and ACLs',
        1,
        secured.url,
      );
      expect(key.key).toMatch(/^trb_/);
      expect(write).toMatchObject({ operation: 'WRITE', patternType: 'PREFIXED' });
      expect(read).toMatchObject({ operation: 'READ', resourceType: 'GROUP' });
      expect(acls.acls).toHaveLength(2);
      expect(keys.keys.map((k: { principal: string }) => k.principal)).toEqual(['billing-service']);
    } finally {
      await secured.close();
    }
  });
});
