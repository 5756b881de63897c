import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { DynamoDbMetadataStore, ensureTable } from '../adapters/aws/dynamodb-metadata-store.ts';
import { ensureBucket, S3SegmentStore } from '../adapters/aws/s3-segment-store.ts';
import type { Stores } from './stores.ts';

/**
 * DynamoDB and S3 through the SDK's default configuration, which honours the standard
 * endpoint variables (AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL_S3) for DynamoDB Local,
 * an S3 emulator or LocalStack. Against such endpoints the table and bucket are created
 * when missing; in AWS they come from the deployment.
 */
export async function openAwsStores(
  names: { readonly tableName: string; readonly bucketName: string },
  env: Record<string, string | undefined> = process.env,
): Promise<Stores> {
  const dynamodb = new DynamoDBClient({});
  // Emulators serve buckets by path, not by virtual host.
  const s3 = new S3Client({ forcePathStyle: Boolean(env.AWS_ENDPOINT_URL_S3) });
  const endpoints = [
    ['DynamoDB', 'AWS_ENDPOINT_URL_DYNAMODB', () => ensureTable(dynamodb, names.tableName)],
    ['S3', 'AWS_ENDPOINT_URL_S3', () => ensureBucket(s3, names.bucketName)],
  ] as const;
  for (const [service, variable, ensure] of endpoints) {
    const endpoint = env[variable];
    if (!endpoint) continue;
    try {
      await ensure();
    } catch (error: unknown) {
      dynamodb.destroy();
      s3.destroy();
      const reason = error instanceof Error ? error.message || error.name : String(error);
      throw new Error(
        `cannot reach ${service} at ${endpoint} (${variable}): ${reason}. Start the local emulators with npm run emulators, or point ${variable} at a running one.`,
        { cause: error },
      );
    }
  }
  return {
    metadata: new DynamoDbMetadataStore(dynamodb, names.tableName),
    segments: new S3SegmentStore(s3, names.bucketName),
    close: async () => {
      dynamodb.destroy();
      s3.destroy();
    },
  };
}
