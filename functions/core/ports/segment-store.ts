/**
 * The segment store: immutable objects (segment chunks) under string keys. S3 in the cloud,
 * files under a data directory on a laptop. Objects are written once and never changed,
 * so a byte range read once may be cached forever.
 */

export interface ByteRange {
  /** First byte, from 0. */
  readonly offset: number;
  readonly length: number;
}

export interface SegmentObject {
  readonly key: string;
  readonly size: number;
  /** Epoch milliseconds. */
  readonly lastModified: number;
}

export interface SegmentPage {
  readonly objects: readonly SegmentObject[];
  /** Pass back to get the next page; absent on the last page. */
  readonly cursor?: string;
}

export interface SegmentStore {
  /** Stores the object durably before resolving. Keys are never reused. */
  put(key: string, body: Uint8Array): Promise<void>;
  /** The whole object, or the given byte range of it. Throws {@link SegmentNotFoundError}. */
  get(key: string, range?: ByteRange): Promise<Uint8Array>;
  /** Deletes objects; absent keys are ignored. */
  delete(keys: readonly string[]): Promise<void>;
  /**
   * Objects whose key starts with `prefix`, in key order, a page at a time: from the first,
   * or from the first key after `startAfter`, then from a page's `cursor`.
   */
  list(prefix: string, cursor?: string, startAfter?: string): Promise<SegmentPage>;
}

export class SegmentNotFoundError extends Error {
  override readonly name = 'SegmentNotFoundError';
  readonly key: string;
  constructor(key: string) {
    super(`segment object ${key} not found`);
    this.key = key;
  }
}
