import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { FileSegmentStore } from '../adapters/embedded/file-segment-store.ts';
import { openSqliteMetadataStore } from '../adapters/embedded/sqlite-metadata-store.ts';
import type { Stores } from './stores.ts';

/** The embedded store: SQLite and files under one data directory. */
export function openEmbeddedStores(dataDir: string): Stores {
  mkdirSync(dataDir, { recursive: true });
  const metadata = openSqliteMetadataStore(join(dataDir, 'metadata.sqlite'));
  const segments = new FileSegmentStore(join(dataDir, 'segments'));
  return { metadata, segments, close: async () => metadata.close() };
}
