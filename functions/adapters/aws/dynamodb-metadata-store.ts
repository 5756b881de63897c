/**
 * The MetadataStore on one DynamoDB table.
 *
 * Item layout (the table is created by {@link createTableInput}):
 *   pk  S  partition key          sk   S  sort key
 *   v   N  version                d    M  the data (JSON object, as attribute values)
 *   exp N  expiresAt, epoch ms    ttl  N  expiresAt in epoch seconds, rounded up: the
 *                                         table's TTL attribute (DynamoDB deletes lazily)
 *
 * Every read is strongly consistent. Transactions are TransactWriteItems, except that a
 * transaction of one put or delete is a single conditional UpdateItem or DeleteItem, which
 * DynamoDB bills at half the capacity. Either way condition failures come back with the item
 * as it is now (ReturnValuesOnConditionCheckFailure: ALL_OLD), so the caller can recover
 * without another read.
 */

import {
  type AttributeValue,
  BatchGetItemCommand,
  BatchWriteItemCommand,
  type CancellationReason,
  ConditionalCheckFailedException,
  type ConditionCheck,
  CreateTableCommand,
  type CreateTableCommandInput,
  type Delete,
  DeleteItemCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  type DynamoDBClient,
  QueryCommand,
  type QueryCommandInput,
  TransactionCanceledException,
  type TransactWriteItem,
  TransactWriteItemsCommand,
  type Update,
  UpdateItemCommand,
  UpdateTimeToLiveCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import {
  ConditionFailedError,
  type Expectation,
  type FailedExpectation,
  type ItemKey,
  type JsonObject,
  type JsonValue,
  type MetadataStore,
  type QueryOptions,
  StorageUnavailableError,
  type StoredItem,
  TransactionContentionError,
  type WriteOp,
} from '../../core/ports/metadata-store.ts';
import { assertKey, assertQuery, assertTransaction } from '../item-limits.ts';
import { errorName, errorTranslation, messageOf } from './aws-errors.ts';

/** BatchGetItem's limit on keys per request. */
const batchGetSize = 100;
/** BatchWriteItem's limit on requests per call. */
const batchWriteSize = 25;
/** Attempts at a batch's unprocessed keys before giving up as throttled. */
const maxBatchAttempts = 8;

// Named condition parts. `#pk` exists on every stored item, so its absence means no item.
const itemAbsent = 'attribute_not_exists(#pk)';
// Optimistic concurrency on the version. Two writers race on a partition head at v3:
//   A reads v3 ─ B reads v3 ─ A commits `v = :3` → v4 ─ B's `v = :3` fails
// B gets the head at v4 back in the ConditionFailedError (ALL_OLD) and re-sequences from it.
const itemAtExpectedVersion = '#v = :expected';
// A check op that expects nothing still needs a condition; this one always holds.
const anything = 'attribute_exists(#pk) OR attribute_not_exists(#pk)';

const { translate, translated } = errorTranslation({
  throttledCodes: new Set([
    'ProvisionedThroughputExceededException',
    'ThrottlingException',
    'RequestLimitExceeded',
  ]),
  unavailableCodes: new Set(['InternalServerError', 'ServiceUnavailable']),
});
const throttlingReasons = new Set(['ThrottlingError', 'ProvisionedThroughputExceeded']);

type PutOp = Extract<WriteOp, { type: 'put' }>;
type DeleteOp = Extract<WriteOp, { type: 'delete' }>;
type CheckOp = Extract<WriteOp, { type: 'check' }>;

export class DynamoDbMetadataStore implements MetadataStore {
  readonly #client: DynamoDBClient;
  readonly #table: string;

  constructor(client: DynamoDBClient, tableName: string) {
    this.#client = client;
    this.#table = tableName;
  }

  async get(key: ItemKey): Promise<StoredItem | undefined> {
    const [item] = await this.getMany([key]);
    return item;
  }

  async getMany(keys: readonly ItemKey[]): Promise<(StoredItem | undefined)[]> {
    for (const key of keys) assertKey(key);
    // BatchGetItem refuses duplicate keys in one request: fetch each key once.
    const unique = new Map<string, ItemKey>();
    for (const key of keys) unique.set(keyId(key), key);
    const found = new Map<string, StoredItem>();
    for (const chunk of chunks([...unique.values()], batchGetSize)) {
      let pending: Record<string, AttributeValue>[] = chunk.map(toKey);
      for (let attempt = 1; pending.length > 0; attempt++) {
        if (attempt > 1) await backoff(attempt, 'BatchGetItem');
        const response = await translated(
          this.#client.send(
            new BatchGetItemCommand({
              RequestItems: { [this.#table]: { Keys: pending, ConsistentRead: true } },
            }),
          ),
        );
        for (const attributes of response.Responses?.[this.#table] ?? []) {
          const item = toStoredItem(attributes);
          found.set(keyId(item), item);
        }
        pending = response.UnprocessedKeys?.[this.#table]?.Keys ?? [];
      }
    }
    return keys.map((key) => found.get(keyId(key)));
  }

  async query(pk: string, options: QueryOptions = {}): Promise<StoredItem[]> {
    assertQuery(pk, options);
    const { from, to, reverse = false, limit } = options;
    if (limit === 0) return [];
    // An empty bound is no bound (DynamoDB refuses '' in a key condition).
    const lower = from === '' ? undefined : from;
    const upper = to;
    if (upper === '') return []; // nothing sorts at or below ''
    // BETWEEN with crossed bounds is a ValidationException; the answer is simply nothing.
    if (lower !== undefined && upper !== undefined && compareUtf8(lower, upper) > 0) return [];

    const values: Record<string, AttributeValue> = { ':pk': { S: pk } };
    let condition = '#pk = :pk';
    if (lower !== undefined && upper !== undefined) {
      condition += ' AND #sk BETWEEN :from AND :to';
      values[':from'] = { S: lower };
      values[':to'] = { S: upper };
    } else if (lower !== undefined) {
      condition += ' AND #sk >= :from';
      values[':from'] = { S: lower };
    } else if (upper !== undefined) {
      condition += ' AND #sk <= :to';
      values[':to'] = { S: upper };
    }
    const names: Record<string, string> = { '#pk': 'pk' };
    if (lower !== undefined || upper !== undefined) names['#sk'] = 'sk';

    const items: StoredItem[] = [];
    let startKey: QueryCommandInput['ExclusiveStartKey'];
    do {
      const response = await translated(
        this.#client.send(
          new QueryCommand({
            TableName: this.#table,
            KeyConditionExpression: condition,
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: values,
            ConsistentRead: true,
            ScanIndexForward: !reverse,
            ExclusiveStartKey: startKey,
            Limit: limit === undefined ? undefined : limit - items.length,
          }),
        ),
      );
      for (const attributes of response.Items ?? []) items.push(toStoredItem(attributes));
      startKey = response.LastEvaluatedKey;
    } while (startKey !== undefined && (limit === undefined || items.length < limit));
    return items;
  }

  async transact(ops: readonly WriteOp[]): Promise<void> {
    assertTransaction(ops);
    const [first] = ops;
    if (first === undefined) return;
    // A check alone stays a transaction: DynamoDB has no single-item ConditionCheck call.
    if (ops.length === 1 && first.type !== 'check') return this.#writeOne(first);
    const command = new TransactWriteItemsCommand({
      TransactItems: ops.map((op) => this.#toTransactItem(op)),
      // ClientRequestToken is filled in by the SDK and kept across its retries, so a retry
      // of a commit whose response was lost is idempotent instead of failing its conditions.
    });
    try {
      await this.#client.send(command);
    } catch (error: unknown) {
      if (error instanceof TransactionCanceledException) {
        throw fromCancellation(error, error.CancellationReasons ?? []);
      }
      throw fromWriteError(error);
    }
  }

  async deleteMany(keys: readonly ItemKey[]): Promise<void> {
    for (const key of keys) assertKey(key);
    // BatchWriteItem refuses two requests on one key in a call.
    const unique = new Map<string, ItemKey>();
    for (const key of keys) unique.set(keyId(key), key);
    for (const chunk of chunks([...unique.values()], batchWriteSize)) {
      let pending = chunk.map((key) => ({ DeleteRequest: { Key: toKey(key) } }));
      for (let attempt = 1; pending.length > 0; attempt++) {
        if (attempt > 1) await backoff(attempt, 'BatchWriteItem');
        const response = await translated(
          this.#client.send(
            new BatchWriteItemCommand({ RequestItems: { [this.#table]: pending } }),
          ),
        );
        pending = (response.UnprocessedItems?.[this.#table] ?? []).flatMap((request) =>
          request.DeleteRequest?.Key === undefined
            ? []
            : [{ DeleteRequest: { Key: request.DeleteRequest.Key } }],
        );
      }
    }
  }

  /**
   * One put or delete as a plain conditional write, the same Update or Delete a transaction
   * would carry: DynamoDB bills a transactional write at twice the capacity, and heartbeats,
   * joins, poll positions, leadership and producer init all send transactions of one op.
   *
   * Unlike a transaction it has no ClientRequestToken: if the write applied but its response
   * was lost (a 500, a dropped connection), the SDK's retry fails the condition and reports
   * the item the first attempt wrote as `current`.
   */
  async #writeOne(op: PutOp | DeleteOp): Promise<void> {
    try {
      if (op.type === 'put') await this.#client.send(new UpdateItemCommand(this.#toUpdate(op)));
      else await this.#client.send(new DeleteItemCommand(this.#toDelete(op)));
    } catch (error: unknown) {
      if (error instanceof ConditionalCheckFailedException) {
        const current = error.Item === undefined ? undefined : toStoredItem(error.Item);
        throw new ConditionFailedError([{ index: 0, current }]);
      }
      throw fromWriteError(error);
    }
  }

  #toTransactItem(op: WriteOp): TransactWriteItem {
    switch (op.type) {
      case 'put':
        return { Update: this.#toUpdate(op) };
      case 'delete':
        return { Delete: this.#toDelete(op) };
      case 'check':
        return { ConditionCheck: this.#toConditionCheck(op) };
    }
  }

  #toUpdate(op: PutOp): Update {
    const condition = conditionFor(op.expect);
    const names: Record<string, string> = {
      ...condition.names,
      '#d': 'd',
      '#v': 'v',
      '#exp': 'exp',
      '#ttl': 'ttl',
    };
    const values: Record<string, AttributeValue> = {
      ...condition.values,
      ':d': { M: toMap(op.data) },
      ':one': { N: '1' },
    };
    // A put replaces the whole item, so an expiry it does not carry is removed.
    let update: string;
    if (op.expiresAt === undefined) {
      update = 'SET #d = :d ADD #v :one REMOVE #exp, #ttl';
    } else {
      update = 'SET #d = :d, #exp = :exp, #ttl = :ttl ADD #v :one';
      values[':exp'] = { N: String(op.expiresAt) };
      values[':ttl'] = { N: String(Math.ceil(op.expiresAt / 1000)) };
    }
    // ADD on a missing attribute starts from 0, so a new item gets version 1.
    return {
      TableName: this.#table,
      Key: toKey(op.key),
      UpdateExpression: update,
      ConditionExpression: condition.expression,
      ExpressionAttributeNames: names,
      ExpressionAttributeValues: values,
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    };
  }

  #toDelete(op: DeleteOp): Delete {
    const condition = conditionFor(op.expect);
    return {
      TableName: this.#table,
      Key: toKey(op.key),
      ConditionExpression: condition.expression,
      ExpressionAttributeNames: emptyToUndefined(condition.names),
      ExpressionAttributeValues: emptyToUndefined(condition.values),
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    };
  }

  #toConditionCheck(op: CheckOp): ConditionCheck {
    const condition = conditionFor(op.expect);
    return {
      TableName: this.#table,
      Key: toKey(op.key),
      ConditionExpression: condition.expression ?? anything,
      ExpressionAttributeNames:
        condition.expression === undefined ? { '#pk': 'pk' } : condition.names,
      ExpressionAttributeValues: emptyToUndefined(condition.values),
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    };
  }
}

/** CreateTable input for the metadata table: pk/sk strings, on-demand billing. */
export const createTableInput = (tableName: string): CreateTableCommandInput => ({
  TableName: tableName,
  BillingMode: 'PAY_PER_REQUEST',
  AttributeDefinitions: [
    { AttributeName: 'pk', AttributeType: 'S' },
    { AttributeName: 'sk', AttributeType: 'S' },
  ],
  KeySchema: [
    { AttributeName: 'pk', KeyType: 'HASH' },
    { AttributeName: 'sk', KeyType: 'RANGE' },
  ],
});

/**
 * Creates the metadata table unless it exists, waits until it is ACTIVE and enables TTL on
 * `ttl`. For tests and the local server in aws mode; deployed stacks get the table from CDK.
 */
export const ensureTable = async (client: DynamoDBClient, tableName: string): Promise<void> => {
  try {
    await client.send(new DescribeTableCommand({ TableName: tableName }));
  } catch (error: unknown) {
    if (errorName(error) !== 'ResourceNotFoundException') throw error;
    try {
      await client.send(new CreateTableCommand(createTableInput(tableName)));
    } catch (createError: unknown) {
      // Someone else created it in the meantime: fine, wait for it below.
      if (errorName(createError) !== 'ResourceInUseException') throw createError;
    }
  }
  await waitUntilTableExists(
    { client, minDelay: 1, maxDelay: 2, maxWaitTime: 120 },
    { TableName: tableName },
  );
  try {
    const ttl = await client.send(new DescribeTimeToLiveCommand({ TableName: tableName }));
    const status = ttl.TimeToLiveDescription?.TimeToLiveStatus;
    if (status === 'ENABLED' || status === 'ENABLING') return;
    await client.send(
      new UpdateTimeToLiveCommand({
        TableName: tableName,
        TimeToLiveSpecification: { Enabled: true, AttributeName: 'ttl' },
      }),
    );
  } catch (error: unknown) {
    // TTL is a backstop for retention, not something correctness depends on; emulators
    // that lack it must not stop the local server.
    const name = errorName(error);
    if (name !== 'ValidationException' && name !== 'UnknownOperationException') throw error;
  }
};

interface Condition {
  readonly expression: string | undefined;
  readonly names: Record<string, string>;
  readonly values: Record<string, AttributeValue>;
}

const conditionFor = (expect: Expectation): Condition => {
  switch (expect.kind) {
    case 'absent':
      return { expression: itemAbsent, names: { '#pk': 'pk' }, values: {} };
    case 'version':
      return {
        expression: itemAtExpectedVersion,
        names: { '#v': 'v' },
        values: { ':expected': { N: String(expect.version) } },
      };
    case 'any':
      return { expression: undefined, names: {}, values: {} };
  }
};

/**
 * A write's failure other than a failed condition. A transaction in flight on the item
 * refuses a single write as well as another transaction (TransactionConflictException).
 */
const fromWriteError = (error: unknown): unknown => {
  const name = errorName(error);
  if (name === 'TransactionConflictException' || name === 'TransactionInProgressException') {
    return new TransactionContentionError(messageOf(error), { cause: error });
  }
  return translate(error);
};

/**
 * A cancelled transaction names a reason per op, in op order. A failed condition wins over
 * contention: the caller must learn the current items, and a retry would fail again anyway.
 */
const fromCancellation = (error: unknown, reasons: readonly CancellationReason[]): Error => {
  const failures: FailedExpectation[] = [];
  reasons.forEach((reason, index) => {
    if (reason.Code === 'ConditionalCheckFailed') {
      failures.push({
        index,
        current: reason.Item === undefined ? undefined : toStoredItem(reason.Item),
      });
    }
  });
  if (failures.length > 0) return new ConditionFailedError(failures);
  const codes = reasons.map((reason) => reason.Code ?? 'None');
  if (codes.includes('TransactionConflict')) {
    return new TransactionContentionError(messageOf(error), { cause: error });
  }
  if (codes.some((code) => throttlingReasons.has(code))) {
    return new StorageUnavailableError(messageOf(error), { throttled: true, cause: error });
  }
  return new Error(`DynamoDB cancelled the transaction: ${codes.join(', ')}`, { cause: error });
};

const toKey = (key: ItemKey): Record<string, AttributeValue> => ({
  pk: { S: key.pk },
  sk: { S: key.sk },
});

const toStoredItem = (attributes: Record<string, AttributeValue>): StoredItem => {
  const { pk, sk, v, d, exp } = attributes;
  if (pk?.S === undefined || sk?.S === undefined || v?.N === undefined || d?.M === undefined) {
    throw new Error(`malformed metadata item ${pk?.S} ${sk?.S}`);
  }
  const item = { pk: pk.S, sk: sk.S, version: Number(v.N), data: fromMap(d.M) };
  return exp?.N === undefined ? item : { ...item, expiresAt: Number(exp.N) };
};

/**
 * JSON data as attribute values. util-dynamodb's `marshall` builds each map by assignment
 * into a `{}`, where a member named `__proto__` sets the prototype instead and is never
 * sent; here maps are built with `Object.fromEntries`, which keeps it. Numbers were checked
 * by item-limits before (finite, safe integers, within DynamoDB's range). Undefined members
 * are left out, as JSON.stringify leaves them out of the embedded store.
 */
const toAttributeValue = (value: JsonValue): AttributeValue => {
  if (typeof value === 'string') return { S: value };
  if (typeof value === 'number') return { N: String(value) };
  if (typeof value === 'boolean') return { BOOL: value };
  if (value === null) return { NULL: true };
  if (Array.isArray(value)) {
    return { L: value.filter((v) => v !== undefined).map(toAttributeValue) };
  }
  return { M: toMap(value) };
};

const toMap = (data: JsonObject): Record<string, AttributeValue> =>
  Object.fromEntries(
    Object.entries(data)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => [k, toAttributeValue(v)]),
  );

/** Typed inverse of {@link toAttributeValue} (util-dynamodb's `unmarshall` returns `any`). */
const fromAttributeValue = (value: AttributeValue): JsonValue => {
  if (value.S !== undefined) return value.S;
  if (value.N !== undefined) return Number(value.N);
  if (value.BOOL !== undefined) return value.BOOL;
  if (value.NULL !== undefined) return null;
  if (value.L !== undefined) return value.L.map(fromAttributeValue);
  if (value.M !== undefined) return fromMap(value.M);
  throw new Error(`unexpected non-JSON attribute ${Object.keys(value).join(',')}`);
};

const fromMap = (map: Record<string, AttributeValue>): JsonObject =>
  Object.fromEntries(Object.entries(map).map(([k, v]) => [k, fromAttributeValue(v)]));

const keyId = (key: ItemKey): string => JSON.stringify([key.pk, key.sk]);

const chunks = <T>(values: readonly T[], size: number): T[][] => {
  const result: T[][] = [];
  for (let i = 0; i < values.length; i += size) result.push(values.slice(i, i + size));
  return result;
};

/** Exponential backoff with full jitter; throws once the attempts are used up. */
const backoff = async (attempt: number, operation: string): Promise<void> => {
  if (attempt > maxBatchAttempts) {
    throw new StorageUnavailableError(
      `${operation} left items unprocessed ${maxBatchAttempts} times`,
      {
        throttled: true,
      },
    );
  }
  const capMs = Math.min(2_000, 25 * 2 ** attempt);
  await new Promise((resolve) => setTimeout(resolve, Math.random() * capMs));
};

const compareUtf8 = (a: string, b: string): number =>
  Buffer.compare(Buffer.from(a), Buffer.from(b));

const emptyToUndefined = <T>(record: Record<string, T>): Record<string, T> | undefined =>
  Object.keys(record).length === 0 ? undefined : record;
