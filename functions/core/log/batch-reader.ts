import type { SegmentStore } from '../ports/segment-store.ts';
import { type DecodedBatch, decodeBatch } from './batch-codec.ts';
import type { IndexEntry } from './partition-items.ts';

/**
 * Reads committed batches by their index entry: one byte-range read of the segment store
 * (none for a batch held inline in its entry), checked and decoded once, then cached forever because segment objects never change. The
 * LRU is bounded by the batches' encoded bytes, so hot tails (many consumers reading the
 * same recent batches) are served from memory.
 */
export class BatchReader {
  readonly #segments: SegmentStore;
  readonly #maxBytes: number;
  #bytes = 0;
  // Map keeps insertion order: the first key is the least recently used.
  readonly #cache = new Map<string, { readonly batch: DecodedBatch; readonly size: number }>();

  constructor(segments: SegmentStore, cacheBytes: number) {
    this.#segments = segments;
    this.#maxBytes = cacheBytes;
  }

  async read(entry: IndexEntry): Promise<DecodedBatch> {
    // A batch held in its entry: decoding a few KB costs less than remembering it.
    if (entry.inline) return decodeBatch(entry.inline);
    const key = `${entry.chunk}@${entry.byteOffset}+${entry.byteLength}`;
    const cached = this.#cache.get(key);
    if (cached) {
      // Move to the most recently used end.
      this.#cache.delete(key);
      this.#cache.set(key, cached);
      return cached.batch;
    }
    const bytes = await this.#segments.get(entry.chunk, {
      offset: entry.byteOffset,
      length: entry.byteLength,
    });
    const batch = decodeBatch(bytes);
    this.#remember(key, batch, bytes.byteLength);
    return batch;
  }

  #remember(key: string, batch: DecodedBatch, size: number): void {
    // Two concurrent reads of one batch both miss; keep one copy.
    if (size > this.#maxBytes / 4 || this.#cache.has(key)) return;
    this.#bytes += size;
    this.#cache.set(key, { batch, size });
    for (const [oldKey, old] of this.#cache) {
      if (this.#bytes <= this.#maxBytes) break;
      this.#cache.delete(oldKey);
      this.#bytes -= old.size;
    }
  }
}
