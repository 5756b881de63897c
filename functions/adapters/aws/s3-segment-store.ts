/**
 * The SegmentStore on one S3 bucket: one object per key, written once.
 *
 * S3 writes are durable (replicated across availability zones) when PutObject returns, and
 * reads after writes are strongly consistent, so put/get need nothing more.
 */

import {
  CreateBucketCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { StorageUnavailableError } from '../../core/ports/metadata-store.ts';
import {
  type ByteRange,
  SegmentNotFoundError,
  type SegmentPage,
  type SegmentStore,
} from '../../core/ports/segment-store.ts';
import { errorName, errorTranslation, httpStatus } from './aws-errors.ts';

/** DeleteObjects' limit on keys per request. */
const deleteBatchSize = 1000;
/** Objects per list page (ListObjectsV2's maximum and default). */
const pageSize = 1000;

const throttlingErrors = new Set(['SlowDown', 'ThrottlingException', 'RequestLimitExceeded']);
const { translate, translated } = errorTranslation({
  throttledCodes: throttlingErrors,
  unavailableCodes: new Set(['InternalError', 'ServiceUnavailable']),
  throttledStatuses: new Set([503]),
  unavailableStatuses: new Set([500]),
});

export class S3SegmentStore implements SegmentStore {
  readonly #client: S3Client;
  readonly #bucket: string;

  constructor(client: S3Client, bucket: string) {
    this.#client = client;
    this.#bucket = bucket;
  }

  async put(key: string, body: Uint8Array): Promise<void> {
    await translated(
      this.#client.send(
        new PutObjectCommand({
          Bucket: this.#bucket,
          Key: key,
          Body: body,
          ContentLength: body.length,
          ContentType: 'application/octet-stream',
        }),
      ),
    );
  }

  async get(key: string, range?: ByteRange): Promise<Uint8Array> {
    if (range !== undefined) assertRange(range);
    try {
      const response = await this.#client.send(
        new GetObjectCommand({
          Bucket: this.#bucket,
          Key: key,
          // Inclusive on both ends; a range running past the end is cut short by S3.
          Range:
            range === undefined
              ? undefined
              : `bytes=${range.offset}-${range.offset + range.length - 1}`,
        }),
      );
      return response.Body === undefined
        ? new Uint8Array(0)
        : await response.Body.transformToByteArray();
    } catch (error: unknown) {
      if (errorName(error) === 'NoSuchKey') throw new SegmentNotFoundError(key);
      if (errorName(error) === 'InvalidRange' || httpStatus(error) === 416) {
        throw new RangeError(`range starting at ${range?.offset} is past the end of ${key}`, {
          cause: error,
        });
      }
      throw translate(error);
    }
  }

  async delete(keys: readonly string[]): Promise<void> {
    const unique = [...new Set(keys)];
    for (let i = 0; i < unique.length; i += deleteBatchSize) {
      const batch = unique.slice(i, i + deleteBatchSize);
      const response = await translated(
        this.#client.send(
          new DeleteObjectsCommand({
            Bucket: this.#bucket,
            // Quiet: only failures come back. Absent keys are not failures in S3.
            Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true },
          }),
        ),
      );
      const failed = response.Errors ?? [];
      if (failed.length > 0) {
        const codes = failed.map((e) => e.Code);
        const message = `could not delete ${failed.length} objects: ${failed
          .map((e) => `${e.Key} (${e.Code})`)
          .slice(0, 5)
          .join(', ')}`;
        if (codes.some((code) => code !== undefined && throttlingErrors.has(code))) {
          throw new StorageUnavailableError(message, { throttled: true });
        }
        throw new Error(message);
      }
    }
  }

  async list(prefix: string, cursor?: string, startAfter?: string): Promise<SegmentPage> {
    const response = await translated(
      this.#client.send(
        new ListObjectsV2Command({
          Bucket: this.#bucket,
          Prefix: prefix === '' ? undefined : prefix,
          ContinuationToken: cursor,
          // S3 ignores it once a continuation token is given.
          StartAfter: startAfter,
          MaxKeys: pageSize,
        }),
      ),
    );
    const objects = (response.Contents ?? []).flatMap((object) =>
      object.Key === undefined
        ? []
        : [
            {
              key: object.Key,
              size: object.Size ?? 0,
              lastModified: object.LastModified?.getTime() ?? 0,
            },
          ],
    );
    return response.IsTruncated && response.NextContinuationToken !== undefined
      ? { objects, cursor: response.NextContinuationToken }
      : { objects };
  }
}

/** Creates the bucket unless it exists. For tests and the local server in aws mode. */
export const ensureBucket = async (client: S3Client, bucket: string): Promise<void> => {
  try {
    await client.send(new HeadBucketCommand({ Bucket: bucket }));
    return;
  } catch (error: unknown) {
    if (errorName(error) !== 'NotFound' && httpStatus(error) !== 404) throw error;
  }
  try {
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
  } catch (error: unknown) {
    if (errorName(error) !== 'BucketAlreadyOwnedByYou') throw error;
  }
};

const assertRange = (range: ByteRange): void => {
  if (!Number.isSafeInteger(range.offset) || range.offset < 0) {
    throw new RangeError(`range offset must be a non-negative integer, got ${range.offset}`);
  }
  // A zero-length range cannot be written as an HTTP Range, and S3 would ignore an invalid
  // one and send the whole object.
  if (!Number.isSafeInteger(range.length) || range.length < 1) {
    throw new RangeError(`range length must be a positive integer, got ${range.length}`);
  }
};
