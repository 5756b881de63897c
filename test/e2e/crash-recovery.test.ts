import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createTopic, fetchAll } from '../support/api.ts';

const mainScript = join(import.meta.dirname, '../../functions/local/main.ts');

/** Starts the local server as `npm start` does, in its own process; resolves with its URL. */
async function startProcess(dataDir: string): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, [mainScript], {
    env: { ...process.env, TRIBUTARY_DATA_DIR: dataDir, PORT: '0' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let output = '';
  for await (const chunk of child.stdout ?? []) {
    output += String(chunk);
    const match = output.match(/listening on (http:\/\/[\d.:]+)/);
    if (match?.[1]) return { url: match[1], child };
  }
  throw new Error(`server exited before listening: ${output}`);
}

/** A record's value without its padding: `<writer>-<n>/<partition>`. */
const nameOf = (value: unknown) => String(value).split('|')[0] ?? '';

describe('the embedded store survives a killed server', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  // Batches up to 2 KiB are held in their index entries; larger ones go to chunk files,
  // written durably before the commit that refers to them.
  it.each([
    ['held inline', ''],
    ['in chunk files', `|${'x'.repeat(3000)}`],
  ])(
    'keeps every acknowledged record, and each request whole or not at all, after kill -9 (batches %s)',
    async (_, padding) => {
      const dataDir = await mkdtemp(join(tmpdir(), 'tributary-crash-'));
      dirs.push(dataDir);
      const first = await startProcess(dataDir);
      await createTopic(first.url, 'durable', 4);

      // Writers keep producing multi-partition requests until the process dies under them.
      const acked = new Map<string, { partition: number; offset: number }>();
      let sent = 0;
      const writer = async (id: number) => {
        for (let n = 0; ; n++) {
          const request = `${id}-${n}`;
          const records = [0, 1, 2, 3].map((partition) => ({
            value: `${request}/${partition}${padding}`,
            partition,
          }));
          sent++;
          try {
            const response = await fetch(`${first.url}/v1/topics/durable/records`, {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify({ records }),
            });
            const body = await response.json();
            for (const [i, { partition, offset }] of body.offsets.entries()) {
              acked.set(nameOf(records[i]?.value), { partition, offset });
            }
          } catch {
            return; // the server is gone
          }
        }
      };
      const writers = Array.from({ length: 4 }, (_, id) => writer(id));
      while (acked.size < 400) await new Promise((resolve) => setTimeout(resolve, 10));
      first.child.kill('SIGKILL');
      await once(first.child, 'exit');
      await Promise.all(writers);

      const second = await startProcess(dataDir);
      try {
        const found = new Map<string, { partition: number; offset: number }>();
        for (let partition = 0; partition < 4; partition++) {
          const records = await fetchAll(second.url, 'durable', partition);
          expect(records.map((r) => r.offset)).toEqual(records.map((_, i) => i));
          for (const r of records) found.set(nameOf(r.value), { partition, offset: r.offset });
        }
        for (const [value, ack] of acked) expect(found.get(value), value).toEqual(ack);
        // A request is all four of its records or none of them.
        const requests = new Set([...found.keys()].map((v) => v.split('/')[0]));
        for (const request of requests) {
          for (const partition of [0, 1, 2, 3])
            expect(found.has(`${request}/${partition}`)).toBe(true);
        }
        expect(found.size).toBeGreaterThanOrEqual(acked.size);
        expect(found.size).toBeLessThanOrEqual(sent * 4);
      } finally {
        second.child.kill('SIGTERM');
        await once(second.child, 'exit');
      }
    },
  );
});
