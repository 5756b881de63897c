import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ObjectWriter } from '../../../../functions/adapters/embedded/file-object-writer.ts';

describe('ObjectWriter', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tributary-object-writer-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('writes every object of many asked for at once, more than it has threads', async () => {
    const writer = new ObjectWriter();
    const bodies = Array.from({ length: 12 }, (_, i) => {
      // Plain memory and shared memory at an offset, as a produce's chunk comes.
      const bytes =
        i % 2 === 0
          ? new Uint8Array(70_000)
          : new Uint8Array(new SharedArrayBuffer(70_010), 10, 70_000);
      bytes.fill(i);
      return bytes;
    });
    await Promise.all(bodies.map((body, i) => writer.write(join(dir, 'many', `${i}~`), body)));
    for (const [i, body] of bodies.entries()) {
      expect(new Uint8Array(await readFile(join(dir, 'many', `${i}~`)))).toEqual(
        new Uint8Array(body),
      );
    }
  });

  it('fails one write with its cause and goes on with the others', async () => {
    const writer = new ObjectWriter();
    // A file where the object's directory would be.
    await writeFile(join(dir, 'blocked'), 'not a directory');
    const results = await Promise.allSettled([
      writer.write(join(dir, 'blocked', 'sub', 'a~'), new Uint8Array([1])),
      writer.write(join(dir, 'fine', 'b~'), new Uint8Array([2])),
    ]);
    expect(results[0]).toMatchObject({ status: 'rejected', reason: { code: 'ENOTDIR' } });
    expect(results[1]).toMatchObject({ status: 'fulfilled' });
    expect([...(await readFile(join(dir, 'fine', 'b~')))]).toEqual([2]);
  });
});
