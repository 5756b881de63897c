/**
 * The embedded SegmentStore: one file per object under a root directory.
 *
 * Layout. A key is split on '/'; every segment but the last is a directory, the last names
 * the object file. S3 lets `a` and `a/b` both exist, so a file and a directory must never
 * share a name: object files end in `~`, directories do not, and `~` (with `%` and NUL) is
 * percent-escaped inside segments. Temporary files contain `~` elsewhere and are never
 * listed:
 *
 *   key  chunks/orders/0/00042.chunk  →  <root>/chunks/orders/0/00042.chunk~
 *   key  chunks/orders                →  <root>/chunks/orders~
 *   temp (while writing)              →  <root>/chunks/orders/0/00042.chunk~tmp-<random>
 *
 * Keys with empty segments ('a//b', '/a', 'a/'), '.' or '..' segments are refused: they
 * could escape the root or alias another key.
 *
 * Durability. put writes a temp file, fsyncs it, renames it into place and fsyncs the
 * directory (and any directory it had to create), so after put resolves the object is
 * complete on disk, and a crash never leaves a partial object under its key. Those calls
 * run on a thread of their own (file-object-writer.ts), off the server's event loop.
 */

import { randomBytes } from 'node:crypto';
import {
  closeSync,
  type Dirent,
  fsyncSync,
  mkdirSync,
  openSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { type FileHandle, open, readdir, rmdir, stat, unlink } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import {
  type ByteRange,
  SegmentNotFoundError,
  type SegmentObject,
  type SegmentPage,
  type SegmentStore,
} from '../../core/ports/segment-store.ts';
import { ObjectWriter } from './file-object-writer.ts';

/** Objects per list page, as S3's ListObjectsV2 default. */
const pageSize = 1000;
const objectSuffix = '~';
const tempMarker = '~tmp-';

export class FileSegmentStore implements SegmentStore {
  readonly #root: string;
  readonly #writer = new ObjectWriter();

  constructor(root: string) {
    this.#root = resolve(root);
  }

  async put(key: string, body: Uint8Array): Promise<void> {
    await this.#writer.write(this.#pathOf(key), body);
  }

  async get(key: string, range?: ByteRange): Promise<Uint8Array> {
    const path = this.#pathOf(key);
    if (range !== undefined) assertRange(range);
    let file: FileHandle;
    try {
      file = await open(path, 'r');
    } catch (error: unknown) {
      if (errorCode(error) === 'ENOENT' || errorCode(error) === 'ENOTDIR') {
        throw new SegmentNotFoundError(key);
      }
      throw error;
    }
    try {
      const { size } = await file.stat();
      let position = 0;
      let length = size;
      if (range !== undefined) {
        // S3 semantics: a range starting past the end is an error, one running past it is cut.
        if (range.offset >= size) {
          throw new RangeError(`range starts at ${range.offset}, past the end of ${key} (${size})`);
        }
        position = range.offset;
        length = Math.min(range.length, size - range.offset);
      }
      const buffer = new Uint8Array(length);
      let filled = 0;
      while (filled < length) {
        const { bytesRead } = await file.read(buffer, filled, length - filled, position + filled);
        if (bytesRead === 0) break;
        filled += bytesRead;
      }
      return filled === length ? buffer : buffer.subarray(0, filled);
    } finally {
      await file.close();
    }
  }

  async delete(keys: readonly string[]): Promise<void> {
    const paths = keys.map((key) => this.#pathOf(key));
    for (const path of paths) {
      try {
        await unlink(path);
      } catch (error: unknown) {
        if (errorCode(error) !== 'ENOENT' && errorCode(error) !== 'ENOTDIR') throw error;
        continue;
      }
      await this.#removeEmptyDirectories(dirname(path));
    }
  }

  async list(prefix: string, cursor?: string, startAfter?: string): Promise<SegmentPage> {
    const objects: SegmentObject[] = [];
    // One more than a page tells whether another page follows. A cursor is the last key
    // of the page before, so both resume the same way.
    for await (const object of this.#walk(this.#root, '', prefix, cursor ?? startAfter)) {
      objects.push(object);
      if (objects.length > pageSize) break;
    }
    if (objects.length <= pageSize) return { objects };
    const page = objects.slice(0, pageSize);
    return { objects: page, cursor: page[page.length - 1]?.key };
  }

  /**
   * Objects under `dir` (whose keys start with `keyPrefix`) in key byte order, skipping
   * subtrees that cannot hold a key starting with `prefix` and sorting after `cursor`.
   */
  async *#walk(
    dir: string,
    keyPrefix: string,
    prefix: string,
    cursor: string | undefined,
  ): AsyncGenerator<SegmentObject> {
    let entries: Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (error: unknown) {
      if (errorCode(error) === 'ENOENT') return;
      throw error;
    }
    const children: { path: string; key: string; order: Buffer; isDirectory: boolean }[] = [];
    for (const entry of entries) {
      const isDirectory = entry.isDirectory() && !entry.name.includes('~');
      if (!isDirectory && !(entry.isFile() && isObjectFileName(entry.name))) continue;
      const segment = unescapeSegment(
        isDirectory ? entry.name : entry.name.slice(0, -objectSuffix.length),
      );
      const key = `${keyPrefix}${segment}${isDirectory ? '/' : ''}`;
      // Every key below directory `a` starts with `a/`, so `a/` is where it sorts among
      // its siblings: after the object `a`, before `a0`, after `a-b`.
      children.push({ path: join(dir, entry.name), key, order: Buffer.from(key), isDirectory });
    }
    children.sort((a, b) => Buffer.compare(a.order, b.order));
    for (const child of children) {
      if (child.isDirectory) {
        const couldMatch = child.key.startsWith(prefix) || prefix.startsWith(child.key);
        const allBeforeCursor =
          cursor !== undefined &&
          !cursor.startsWith(child.key) &&
          compareKeys(cursor, child.key) > 0;
        if (couldMatch && !allBeforeCursor)
          yield* this.#walk(child.path, child.key, prefix, cursor);
        continue;
      }
      if (!child.key.startsWith(prefix)) continue;
      if (cursor !== undefined && compareKeys(child.key, cursor) <= 0) continue;
      try {
        const stats = await stat(child.path);
        yield { key: child.key, size: stats.size, lastModified: Math.floor(stats.mtimeMs) };
      } catch (error: unknown) {
        // Deleted while we were listing: it is simply not there.
        if (errorCode(error) !== 'ENOENT') throw error;
      }
    }
  }

  /** Removes directories emptied by a delete, up to (not including) the root. */
  async #removeEmptyDirectories(dir: string): Promise<void> {
    for (let d = dir; d !== this.#root && d.startsWith(this.#root + sep); d = dirname(d)) {
      try {
        await rmdir(d);
      } catch {
        return; // not empty (or already gone): stop climbing
      }
    }
  }

  #pathOf(key: string): string {
    const segments = key.split('/');
    for (const segment of segments) {
      if (segment === '' || segment === '.' || segment === '..') {
        throw new RangeError(`invalid segment key ${JSON.stringify(key)}`);
      }
    }
    const names = segments.map(escapeSegment);
    const last = names.length - 1;
    names[last] = `${names[last]}${objectSuffix}`;
    return join(this.#root, ...names);
  }
}

/**
 * Writes `body` durably as the object file `path`: a temp file, fsynced, renamed into
 * place, then the directory fsynced (and any directory it had to create). Runs on an
 * object writer thread (file-object-writer.ts), whose only work it is: its calls are
 * synchronous, each a system call and no more.
 */
export function writeObject(path: string, body: Uint8Array): void {
  const dir = dirname(path);
  // A concurrent delete may remove an emptied directory between mkdir and open; retry then.
  for (let attempt = 1; ; attempt++) {
    try {
      const created = mkdirSync(dir, { recursive: true });
      const temp = `${path.slice(0, -objectSuffix.length)}${tempMarker}${randomBytes(8).toString('hex')}`;
      writeDurably(temp, body);
      try {
        renameSync(temp, path);
      } catch (error: unknown) {
        rmSync(temp, { force: true });
        throw error;
      }
      syncDirectory(dir);
      // New directories are only durable once their own parent directory is synced.
      if (created !== undefined) {
        for (let d = dir; d !== dirname(created); d = dirname(d)) syncDirectory(dirname(d));
      }
      return;
    } catch (error: unknown) {
      if (attempt >= 3 || errorCode(error) !== 'ENOENT') throw error;
    }
  }
}

const writeDurably = (path: string, body: Uint8Array): void => {
  const file = openSync(path, 'wx');
  try {
    let written = 0;
    while (written < body.length) {
      written += writeSync(file, body, written, body.length - written);
    }
    fsyncSync(file);
  } catch (error: unknown) {
    closeSync(file);
    rmSync(path, { force: true });
    throw error;
  }
  closeSync(file);
};

const syncDirectory = (dir: string): void => {
  const handle = openSync(dir, 'r');
  try {
    fsyncSync(handle);
  } finally {
    closeSync(handle);
  }
};

const assertRange = (range: ByteRange): void => {
  if (!Number.isSafeInteger(range.offset) || range.offset < 0) {
    throw new RangeError(`range offset must be a non-negative integer, got ${range.offset}`);
  }
  if (!Number.isSafeInteger(range.length) || range.length < 1) {
    throw new RangeError(`range length must be a positive integer, got ${range.length}`);
  }
};

/** Byte order of the UTF-8 encodings, which is S3's key order. */
const compareKeys = (a: string, b: string): number =>
  Buffer.compare(Buffer.from(a), Buffer.from(b));

const isObjectFileName = (name: string): boolean =>
  name.endsWith(objectSuffix) && !name.slice(0, -objectSuffix.length).includes('~');

const escapeSegment = (segment: string): string =>
  segment.replace(
    /[%~\0]/g,
    (c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0').toUpperCase()}`,
  );

const unescapeSegment = (name: string): string =>
  name.replace(/%([0-9A-F]{2})/g, (_, hex: string) =>
    String.fromCharCode(Number.parseInt(hex, 16)),
  );

const errorCode = (error: unknown): unknown =>
  error instanceof Error && 'code' in error ? error.code : undefined;
