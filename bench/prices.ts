/**
 * us-east-1 list prices, as docs/deploy.md gives them ("Prices used"), and what the storage
 * calls the bench counts would cost at them. The one place the bench's dollar figures take
 * their prices from.
 */

import type { StorageCounts } from './counting-stores.ts';

export const prices = {
  /** API Gateway HTTP API, per request (metered per 512 KB). */
  apiGatewayRequest: 1.0 / 1e6,
  lambdaRequest: 0.2 / 1e6,
  /** arm64. */
  lambdaGbSecond: 0.0000133334,
  /** DynamoDB on demand: per read request unit and write request unit. */
  readUnit: 0.125 / 1e6,
  writeUnit: 0.625 / 1e6,
  s3Get: 0.0004 / 1000,
  /** PUT, COPY, POST and LIST requests share a price; DELETE requests are free. */
  s3Put: 0.005 / 1000,
  s3List: 0.005 / 1000,
  /** CloudWatch Logs, per GB (10^9 bytes) ingested. */
  logsIngestedGb: 0.5,
} as const;

/**
 * Dollars for the DynamoDB capacity and the S3 requests of `counts`: on-demand read and
 * write units, GETs, PUTs and LISTs. Not the Lambda time or Step Functions transitions
 * that ran them, nor storage.
 */
export const storageDollars = (counts: StorageCounts): number =>
  counts.readUnits * prices.readUnit +
  counts.writeUnits * prices.writeUnit +
  counts.segmentGets * prices.s3Get +
  counts.segmentPuts * prices.s3Put +
  counts.segmentLists * prices.s3List;

/** Dollars for one Lambda invocation of `ms` at `memoryMb`: the request and its GB-seconds. */
export const lambdaDollars = (ms: number, memoryMb: number): number =>
  prices.lambdaRequest + (ms / 1000) * (memoryMb / 1024) * prices.lambdaGbSecond;
