/**
 * The storage backends every store and API test runs against. Each `open()` gives fresh,
 * empty stores, so suites need no cleanup between them beyond `close()`.
 *
 * @example
 * describe.each(backends)('$name', (backend) => {
 *   let stores: OpenBackend;
 *   beforeAll(async () => { stores = await backend.open(); });
 *   afterAll(() => stores.close());
 * });
 */

import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteTableCommand } from '@aws-sdk/client-dynamodb';
import { inject } from 'vitest';
import {
  DynamoDbMetadataStore,
  ensureTable,
} from '../../functions/adapters/aws/dynamodb-metadata-store.ts';
import { ensureBucket, S3SegmentStore } from '../../functions/adapters/aws/s3-segment-store.ts';
import { FileSegmentStore } from '../../functions/adapters/embedded/file-segment-store.ts';
import { openSqliteMetadataStore } from '../../functions/adapters/embedded/sqlite-metadata-store.ts';
import type { MetadataStore } from '../../functions/core/ports/metadata-store.ts';
import type { SegmentStore } from '../../functions/core/ports/segment-store.ts';
import { dynamoDbClient, s3Client } from './emulators.ts';

export interface OpenBackend {
  readonly metadata: MetadataStore;
  readonly segments: SegmentStore;
  close(): Promise<void>;
}

export interface StorageBackend {
  readonly name: string;
  /**
   * Whether SegmentStore.list returns keys in UTF-8 byte order, as S3 does. False marks a
   * known emulator defect (fauxqs 2.4 sorts with `localeCompare`), not a contract change:
   * tests then check the listed set rather than its order.
   */
  readonly listsInByteOrder: boolean;
  open(): Promise<OpenBackend>;
}

export const embedded: StorageBackend = {
  name: 'embedded',
  listsInByteOrder: true,
  open: async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tributary-test-'));
    const metadata = openSqliteMetadataStore(join(dir, 'metadata.db'));
    const segments = new FileSegmentStore(join(dir, 'segments'));
    return {
      metadata,
      segments,
      close: async () => {
        metadata.close();
        await rm(dir, { recursive: true, force: true });
      },
    };
  },
};

export const emulatedAws: StorageBackend = {
  name: 'dynamodb-local+s3-emulator',
  listsInByteOrder: false,
  open: async () => {
    const endpoints = inject('emulators');
    // Table and bucket names: 3-63 lowercase letters, digits and hyphens suit both services.
    const name = `tributary-${randomUUID()}`;
    const dynamodb = dynamoDbClient(endpoints.dynamodb);
    const s3 = s3Client(endpoints.s3);
    await Promise.all([ensureTable(dynamodb, name), ensureBucket(s3, name)]);
    return {
      metadata: new DynamoDbMetadataStore(dynamodb, name),
      segments: new S3SegmentStore(s3, name),
      close: async () => {
        // DynamoDB Local keeps every table in memory for the whole run; drop ours.
        await dynamodb.send(new DeleteTableCommand({ TableName: name }));
        dynamodb.destroy();
        s3.destroy();
      },
    };
  },
};

export const backends: readonly StorageBackend[] = [embedded, emulatedAws];
