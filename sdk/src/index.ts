/**
 * The Tributary SDK: a typed client of the Tributary REST API with no dependencies beyond
 * the global `fetch`, for Node.js, browsers, Deno and Bun.
 *
 * @example
 * import { Tributary } from '@tributary/sdk';
 *
 * const tributary = new Tributary({ url: 'http://127.0.0.1:8080' });
 * const producer = tributary.producer();
 * await producer.send({ topic: 'orders', records: [{ key: 'alice', value: { clicked: 'buy' } }] });
 * await producer.close();
 *
 * @packageDocumentation
 */

export type { Acl, ApiKey, ApiKeySummary } from './access.ts';
export { Acls, ApiKeys } from './access.ts';
export type {
  FetchRequest,
  FetchResult,
  ProduceRequest,
  ProducerIdentity,
  RecordMetadata,
  TransactionRequest,
} from './client.ts';
export { Tributary } from './client.ts';
export type { Consumer, ConsumerBatch, ConsumerOptions } from './consumer.ts';
export { type ErrorBody, type ErrorCode, errorCodes, isRetryable } from './error-codes.ts';
export {
  type ClientErrorCode,
  clientErrorCodes,
  isClientErrorCode,
  isErrorCode,
  retryableCode,
  TributaryError,
  type TributaryErrorCode,
  type TributaryErrorInit,
} from './errors.ts';
export type {
  GroupDescription,
  GroupMemberDescription,
  GroupSummary,
  OffsetCommit,
  PartitionLag,
  ResetTarget,
  TopicPartitions,
} from './groups.ts';
export { Groups } from './groups.ts';
export type { FetchLike } from './http.ts';
export type { Admin, MaintenanceReport, MaintenanceRun } from './maintenance.ts';
export { Maintenance } from './maintenance.ts';
export type { TributaryOptions } from './options.ts';
export { murmur2, partitionForKey, toPositive } from './partitioner.ts';
export type { Producer, ProducerOptions, SendRequest } from './producer.ts';
export type { PartitionReader, ReaderBatch, ReaderOptions, ReadFrom } from './reader.ts';
export type {
  ConsumedRecord,
  KeyOf,
  ProducerHeaders,
  ProducerRecord,
  ReadFormat,
  ValueFormat,
  ValueOf,
} from './records.ts';
export { backoffDelay, defaultRetryPolicy, type RetryOptions, type RetryPolicy } from './retry.ts';
export type {
  CreateSubscription,
  SubscriptionDescription,
  SubscriptionEvent,
  SubscriptionEventRecord,
  SubscriptionEventResponse,
  SubscriptionPartition,
  SubscriptionPatch,
  SubscriptionSettings,
  SubscriptionSummary,
  SubscriptionTarget,
} from './subscriptions.ts';
export { Subscriptions, verifySignature } from './subscriptions.ts';
export type {
  CreateTopic,
  OffsetLookup,
  OffsetSpec,
  PartitionDescription,
  TopicConfig,
  TopicConfigPatch,
  TopicDescription,
  TopicSummary,
} from './topics.ts';
export { Topics } from './topics.ts';
export type { Transaction, TransactionOffsets, TransactionResult } from './transaction.ts';
