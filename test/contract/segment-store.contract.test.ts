/**
 * What every SegmentStore must do, run against each backend in test/support/backends.ts.
 */

import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  SegmentNotFoundError,
  type SegmentObject,
  type SegmentStore,
} from '../../functions/core/ports/segment-store.ts';
import { backends, type OpenBackend } from '../support/backends.ts';

/** Every byte value, twice, then a tail that is not a multiple of anything. */
const allBytes = Uint8Array.from({ length: 515 }, (_, i) => i % 256);

const rejectionOf = async (promise: Promise<unknown>): Promise<unknown> => {
  try {
    await promise;
  } catch (error: unknown) {
    return error;
  }
  throw new Error('expected a rejection');
};

const byteOrder = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));

describe.each(backends)('SegmentStore contract: $name', (backend) => {
  let opened: OpenBackend;
  let store: SegmentStore;
  /** Every test writes under its own prefix, so listings never see other tests' objects. */
  const folder = (): string => `t-${randomUUID()}/`;

  /** Every page of a listing, following cursors to the end. */
  const listAll = async (prefix: string): Promise<SegmentObject[][]> => {
    const pages: SegmentObject[][] = [];
    let cursor: string | undefined;
    do {
      const page = await store.list(prefix, cursor);
      pages.push([...page.objects]);
      cursor = page.cursor;
    } while (cursor !== undefined);
    return pages;
  };
  const keysUnder = async (prefix: string): Promise<string[]> =>
    (await listAll(prefix)).flat().map((object) => object.key);

  beforeAll(async () => {
    opened = await backend.open();
    store = opened.segments;
  });
  afterAll(async () => {
    await opened?.close();
  });

  it('returns exactly the bytes put, all 256 values included', async () => {
    const key = `${folder()}chunk`;
    await store.put(key, allBytes);
    expect(await store.get(key)).toStrictEqual(allBytes);
  });

  it('stores exactly the view it is given, of plain or shared memory', async () => {
    // Chunks are encoded into lent shared memory, at no particular offset in it.
    for (const memory of [new ArrayBuffer(600), new SharedArrayBuffer(600)]) {
      const whole = new Uint8Array(memory);
      whole.fill(0xee);
      const view = whole.subarray(7, 7 + allBytes.length);
      view.set(allBytes);
      const key = `${folder()}view`;
      await store.put(key, view);
      expect(await store.get(key)).toStrictEqual(allBytes);
    }
  });

  it('stores an empty object', async () => {
    const key = `${folder()}empty`;
    await store.put(key, new Uint8Array(0));
    expect(await store.get(key)).toStrictEqual(new Uint8Array(0));
  });

  it('reads byte ranges: first byte, last byte, middle, whole, and cut at the end', async () => {
    const key = `${folder()}chunk`;
    await store.put(key, allBytes);
    const size = allBytes.length;
    expect(await store.get(key, { offset: 0, length: 1 })).toStrictEqual(allBytes.slice(0, 1));
    expect(await store.get(key, { offset: size - 1, length: 1 })).toStrictEqual(
      allBytes.slice(size - 1),
    );
    expect(await store.get(key, { offset: 200, length: 100 })).toStrictEqual(
      allBytes.slice(200, 300),
    );
    expect(await store.get(key, { offset: 0, length: size })).toStrictEqual(allBytes);
    // As S3: a range running past the end returns what there is.
    expect(await store.get(key, { offset: size - 3, length: 10 })).toStrictEqual(
      allBytes.slice(size - 3),
    );
  });

  it('refuses ranges that start past the end or are empty or negative', async () => {
    const key = `${folder()}chunk`;
    await store.put(key, allBytes);
    for (const range of [
      { offset: allBytes.length, length: 1 },
      { offset: 0, length: 0 },
      { offset: -1, length: 2 },
      { offset: 1.5, length: 2 },
    ]) {
      expect(await rejectionOf(store.get(key, range))).toBeInstanceOf(RangeError);
    }
  });

  it('reports a missing object as SegmentNotFoundError, whole or ranged', async () => {
    const dir = folder();
    await store.put(`${dir}present/child`, allBytes);
    for (const key of [`${dir}absent`, `${dir}present`, `${dir}present/child/deeper`]) {
      const whole = await rejectionOf(store.get(key));
      expect(whole).toBeInstanceOf(SegmentNotFoundError);
      expect(whole).toMatchObject({ key });
      expect(await rejectionOf(store.get(key, { offset: 0, length: 1 }))).toBeInstanceOf(
        SegmentNotFoundError,
      );
    }
  });

  it('deletes present objects and ignores absent ones', async () => {
    const dir = folder();
    const keys = [`${dir}a`, `${dir}b/c`, `${dir}b/d`];
    for (const key of keys) await store.put(key, allBytes);

    await store.delete([`${dir}a`, `${dir}b/c`, `${dir}never`, `${dir}x/y/z`, `${dir}a`]);
    expect(await rejectionOf(store.get(`${dir}a`))).toBeInstanceOf(SegmentNotFoundError);
    expect(await rejectionOf(store.get(`${dir}b/c`))).toBeInstanceOf(SegmentNotFoundError);
    expect(await store.get(`${dir}b/d`)).toStrictEqual(allBytes);
    expect(await keysUnder(dir)).toStrictEqual([`${dir}b/d`]);

    await store.delete([]);
    await store.delete([`${dir}b/d`]);
    expect(await keysUnder(dir)).toStrictEqual([]);
    // A key whose folder was emptied and removed can be written again.
    await store.put(`${dir}b/e`, allBytes);
    expect(await keysUnder(dir)).toStrictEqual([`${dir}b/e`]);
  });

  it('lists by prefix in key byte order, with sizes and times, keys with slashes included', async () => {
    const dir = folder();
    const names = [
      'a',
      'a/b',
      'a/b/c',
      'a/b~',
      'a-b',
      'a0',
      'a b',
      'a%2F',
      'ab/c/d/e',
      'B',
      'é',
      '\u{FFFD}',
      '\u{1F600}',
      'z.chunk',
    ];
    const before = Date.now();
    for (const [i, name] of names.entries()) {
      await store.put(`${dir}${name}`, allBytes.subarray(0, i));
    }
    const expected = names.map((name) => `${dir}${name}`).sort(byteOrder);

    const [page, ...more] = await listAll(dir);
    expect(more).toStrictEqual([]);
    const listed = page?.map((object) => object.key) ?? [];
    if (backend.listsInByteOrder) expect(listed).toStrictEqual(expected);
    else expect([...listed].sort(byteOrder)).toStrictEqual(expected);
    for (const object of page ?? []) {
      expect(object.size).toBe(names.indexOf(object.key.slice(dir.length)));
      // Second-precision clocks (S3) may round down; allow a little skew.
      expect(object.lastModified).toBeGreaterThan(before - 5_000);
      expect(object.lastModified).toBeLessThan(Date.now() + 5_000);
    }

    expect(await keysUnder(`${dir}a/`)).toStrictEqual([`${dir}a/b`, `${dir}a/b/c`, `${dir}a/b~`]);
    expect(await keysUnder(`${dir}a/b`)).toStrictEqual([`${dir}a/b`, `${dir}a/b/c`, `${dir}a/b~`]);
    const underA = await keysUnder(`${dir}a`);
    expect(backend.listsInByteOrder ? underA : [...underA].sort(byteOrder)).toStrictEqual(
      expected.filter((key) => key.startsWith(`${dir}a`)),
    );
    expect(await keysUnder(`${dir}ab/c/d/`)).toStrictEqual([`${dir}ab/c/d/e`]);
    expect(await keysUnder(`${dir}nothing`)).toStrictEqual([]);
    for (const key of expected) {
      expect((await store.get(key)).length).toBe(names.indexOf(key.slice(dir.length)));
    }
  });

  it('pages through more than 1,000 objects with a cursor', async () => {
    const dir = folder();
    const keys = Array.from(
      { length: 1_050 },
      (_, i) => `${dir}${i % 3}/${String(i).padStart(5, '0')}`,
    );
    for (let i = 0; i < keys.length; i += 50) {
      await Promise.all(
        keys.slice(i, i + 50).map((key) => store.put(key, allBytes.subarray(0, 8))),
      );
    }
    await store.put(`${folder()}outside`, allBytes);

    const pages = await listAll(dir);
    expect(pages.map((page) => page.length)).toStrictEqual([1_000, 50]);
    expect(pages.flat().map((object) => object.key)).toStrictEqual([...keys].sort(byteOrder));

    // A narrower prefix that fits in one page comes back without a cursor.
    const first = await store.list(`${dir}1/`);
    expect(first.cursor).toBeUndefined();
    expect(first.objects).toHaveLength(350);
  });

  it('lists from the first key after startAfter, then on with the cursor', async () => {
    const dir = folder();
    // Keys as the log names chunks: a 13-digit time, then a unique id.
    const keys = Array.from(
      { length: 1_010 },
      (_, i) => `${dir}${String(1_700_000_000_000 + i).padStart(13, '0')}-${randomUUID()}`,
    );
    for (let i = 0; i < keys.length; i += 50) {
      await Promise.all(
        keys.slice(i, i + 50).map((key) => store.put(key, allBytes.subarray(0, 4))),
      );
    }
    const after = `${dir}${String(1_700_000_000_004).padStart(13, '0')}.`;
    const first = await store.list(dir, undefined, after);
    expect(first.objects[0]?.key).toBe(keys[5]);
    expect(first.objects).toHaveLength(1_000);
    expect(first.cursor).toBeDefined();
    const second = await store.list(dir, first.cursor, after);
    expect(second.objects.map((o) => o.key)).toStrictEqual(keys.slice(1_005));
    expect(second.cursor).toBeUndefined();
    const past = await store.list(dir, undefined, `${dir}9`);
    expect(past.objects).toStrictEqual([]);
  });
});
