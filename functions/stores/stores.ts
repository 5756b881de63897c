import type { MetadataStore } from '../core/ports/metadata-store.ts';
import type { SegmentStore } from '../core/ports/segment-store.ts';

/** An open pair of stores the app runs on. */
export interface Stores {
  readonly metadata: MetadataStore;
  readonly segments: SegmentStore;
  close(): Promise<void>;
}
