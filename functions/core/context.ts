import type { MetadataStore } from './ports/metadata-store.ts';
import type { SegmentStore } from './ports/segment-store.ts';

/** What the core needs from the outside world, injected so tests can control it. */
export interface CoreContext {
  readonly metadata: MetadataStore;
  readonly segments: SegmentStore;
  /** Epoch milliseconds. */
  readonly now: () => number;
  /** A fresh unique id (topic ids, chunk keys). */
  readonly newId: () => string;
}
