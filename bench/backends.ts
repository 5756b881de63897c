/**
 * The two storage backends the bench runs against, opened fresh and empty, with counting
 * decorators in front. Mirrors test/support/backends.ts without vitest.
 */

import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteTableCommand } from '@aws-sdk/client-dynamodb';
import {
  DynamoDbMetadataStore,
  ensureTable,
} from '../functions/adapters/aws/dynamodb-metadata-store.ts';
import { ensureBucket, S3SegmentStore } from '../functions/adapters/aws/s3-segment-store.ts';
import { FileSegmentStore } from '../functions/adapters/embedded/file-segment-store.ts';
import { openSqliteMetadataStore } from '../functions/adapters/embedded/sqlite-metadata-store.ts';
import type { MetadataStore } from '../functions/core/ports/metadata-store.ts';
import type { SegmentStore } from '../functions/core/ports/segment-store.ts';
import { dynamoDbClient, type EmulatorEndpoints, s3Client } from '../test/support/emulators.ts';
import {
  CountingMetadataStore,
  CountingSegmentStore,
  type StorageCounts,
  zeroCounts,
} from './counting-stores.ts';

export interface Stores {
  readonly metadata: MetadataStore;
  readonly segments: SegmentStore;
}

export interface CountedStores extends Stores {
  /**
   * The same stores without the counting in front: what `npm start` serves, for cells
   * that need no counts (counting estimates each item's size, on the server's event loop).
   */
  readonly uncounted: Stores;
  /** Starts a fresh set of counts and returns the previous one. */
  takeCounts(): StorageCounts;
  close(): Promise<void>;
}

export interface BenchBackend {
  readonly name: string;
  open(): Promise<CountedStores>;
}

function counted(
  metadata: MetadataStore,
  segments: SegmentStore,
  close: () => Promise<void>,
): CountedStores {
  const countingMetadata = new CountingMetadataStore(metadata);
  const countingSegments = new CountingSegmentStore(segments, countingMetadata.counts);
  return {
    metadata: countingMetadata,
    segments: countingSegments,
    uncounted: { metadata, segments },
    takeCounts: () => {
      const taken = countingMetadata.counts;
      const fresh = zeroCounts();
      countingMetadata.counts = fresh;
      countingSegments.counts = fresh;
      return taken;
    },
    close,
  };
}

/** SQLite and segment files in a temporary directory, removed on close. */
export const embeddedBackend: BenchBackend = {
  name: 'embedded',
  open: async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tributary-bench-'));
    const metadata = openSqliteMetadataStore(join(dir, 'metadata.db'));
    const segments = new FileSegmentStore(join(dir, 'segments'));
    return counted(metadata, segments, async () => {
      metadata.close();
      await rm(dir, { recursive: true, force: true });
    });
  },
};

/** A fresh table in DynamoDB Local and a fresh bucket in the S3 emulator. */
export const emulatedAwsBackend = (endpoints: EmulatorEndpoints): BenchBackend => ({
  name: 'dynamodb-local+fauxqs',
  open: async () => {
    const name = `tributary-bench-${randomUUID()}`;
    const dynamodb = dynamoDbClient(endpoints.dynamodb);
    const s3 = s3Client(endpoints.s3);
    await Promise.all([ensureTable(dynamodb, name), ensureBucket(s3, name)]);
    return counted(
      new DynamoDbMetadataStore(dynamodb, name),
      new S3SegmentStore(s3, name),
      async () => {
        try {
          await dynamodb.send(new DeleteTableCommand({ TableName: name }));
        } finally {
          dynamodb.destroy();
          s3.destroy();
        }
      },
    );
  },
});
