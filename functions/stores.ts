import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { DynamoDbMetadataStore, ensureTable } from './adapters/aws/dynamodb-metadata-store.ts';
import { ensureBucket, S3SegmentStore } from './adapters/aws/s3-segment-store.ts';
import { FileSegmentStore } from './adapters/embedded/file-segment-store.ts';
import { openSqliteMetadataStore } from './adapters/embedded/sqlite-metadata-store.ts';
import type { Config } from './config.ts';
import type { MetadataStore } from './core/ports/metadata-store.ts';
import type { SegmentStore } from './core/ports/segment-store.ts';

export interface Stores {
  readonly metadata: MetadataStore;
  readonly segments: SegmentStore;
  close(): Promise<void>;
}

/** The embedded store: SQLite and files under one data directory. */
export function openEmbeddedStores(dataDir: string): Stores {
  mkdirSync(dataDir, { recursive: true });
  const metadata = openSqliteMetadataStore(join(dataDir, 'metadata.sqlite'));
  const segments = new FileSegmentStore(join(dataDir, 'segments'));
  return { metadata, segments, close: async () => metadata.close() };
}

/**
 * DynamoDB and S3 through the SDK's default configuration, which honours the standard
 * endpoint variables (AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL_S3) for DynamoDB Local,
 * an S3 emulator or LocalStack. Against such endpoints the table and bucket are created
 * when missing; in AWS they come from the deployment.
 */
export async function openAwsStores(
  config: Pick<Config, 'tableName' | 'bucketName'>,
  env: Record<string, string | undefined> = process.env,
): Promise<Stores> {
  const dynamodb = new DynamoDBClient({});
  // Emulators serve buckets by path, not by virtual host.
  const s3 = new S3Client({ forcePathStyle: Boolean(env.AWS_ENDPOINT_URL_S3) });
  if (env.AWS_ENDPOINT_URL_DYNAMODB) await ensureTable(dynamodb, config.tableName);
  if (env.AWS_ENDPOINT_URL_S3) await ensureBucket(s3, config.bucketName);
  return {
    metadata: new DynamoDbMetadataStore(dynamodb, config.tableName),
    segments: new S3SegmentStore(s3, config.bucketName),
    close: async () => {
      dynamodb.destroy();
      s3.destroy();
    },
  };
}

export function openStores(config: Config): Promise<Stores> | Stores {
  return config.store === 'aws' ? openAwsStores(config) : openEmbeddedStores(config.dataDir);
}
