/**
 * What DynamoDB can store, checked before anything is written. Every MetadataStore adapter
 * calls these, so the embedded store refuses exactly what the cloud would and code that runs
 * locally does not break when deployed. They are DynamoDB's limits, not domain rules: the
 * core does not import this module.
 *
 * Every refusal is a RangeError, thrown before the adapter touches storage.
 */

import {
  type ItemKey,
  type JsonValue,
  maxTransactionOps,
  type QueryOptions,
  type WriteOp,
} from '../core/ports/metadata-store.ts';

const maxPartitionKeyBytes = 2048;
const maxSortKeyBytes = 1024;
const maxItemBytes = 400 * 1024;
/** DynamoDB numbers: 38 digits, magnitudes down to 1e-130; marshall refuses unsafe integers. */
const minNumberMagnitude = 1e-130;
const loneSurrogate = /\p{Cs}/u;

const assertKeyPart = (value: string, name: string, maxBytes: number): void => {
  if (value === '') throw new RangeError(`${name} must not be empty`);
  if (loneSurrogate.test(value)) throw new RangeError(`${name} is not well-formed UTF-16`);
  if (Buffer.byteLength(value, 'utf8') > maxBytes) {
    throw new RangeError(`${name} is longer than ${maxBytes} UTF-8 bytes`);
  }
};

/** Refuses an item key DynamoDB cannot store. */
export const assertKey = (key: ItemKey): void => {
  assertKeyPart(key.pk, 'pk', maxPartitionKeyBytes);
  assertKeyPart(key.sk, 'sk', maxSortKeyBytes);
};

/** Refuses a query on a partition key DynamoDB cannot store, or with a meaningless limit. */
export const assertQuery = (pk: string, { limit }: QueryOptions): void => {
  assertKeyPart(pk, 'pk', maxPartitionKeyBytes);
  if (limit !== undefined && !(Number.isInteger(limit) && limit >= 0)) {
    throw new RangeError(`query limit must be a non-negative integer, got ${limit}`);
  }
};

/**
 * Refuses numbers DynamoDB cannot hold exactly and empty map keys, and returns an upper
 * bound of the value's DynamoDB size (strings and names in UTF-8 bytes, numbers at most 21
 * bytes, 3 bytes per map or list plus 1 per element).
 */
const storedSize = (value: JsonValue, path: string): number => {
  if (value === null || typeof value === 'boolean') return 1;
  if (typeof value === 'string') return Buffer.byteLength(value, 'utf8');
  if (typeof value === 'number') {
    const magnitude = Math.abs(value);
    if (
      !Number.isFinite(value) ||
      magnitude > Number.MAX_SAFE_INTEGER ||
      (magnitude !== 0 && magnitude < minNumberMagnitude)
    ) {
      throw new RangeError(`${path} = ${value} cannot be stored exactly`);
    }
    return 21;
  }
  if (Array.isArray(value)) {
    return value.reduce<number>((size, v, i) => size + 1 + storedSize(v, `${path}[${i}]`), 3);
  }
  let size = 3;
  for (const [name, v] of Object.entries(value)) {
    if (name === '') throw new RangeError(`${path} has an empty key`);
    size += 1 + Buffer.byteLength(name, 'utf8') + storedSize(v, `${path}.${name}`);
  }
  return size;
};

/**
 * Refuses a transaction DynamoDB would refuse: more than {@link maxTransactionOps} ops, two
 * ops on one key, a key, version, expiry or data it cannot store, or an item over 400 KB.
 */
export const assertTransaction = (ops: readonly WriteOp[]): void => {
  if (ops.length > maxTransactionOps) {
    throw new RangeError(`a transaction holds at most ${maxTransactionOps} ops, got ${ops.length}`);
  }
  const seen = new Set<string>();
  for (const op of ops) {
    assertKey(op.key);
    const id = JSON.stringify([op.key.pk, op.key.sk]);
    if (seen.has(id)) {
      throw new RangeError(`a transaction touches ${op.key.pk} ${op.key.sk} more than once`);
    }
    seen.add(id);
    if (op.expect.kind === 'version' && !Number.isSafeInteger(op.expect.version)) {
      throw new RangeError(`expected version must be an integer, got ${op.expect.version}`);
    }
    if (op.type !== 'put') continue;
    if (op.expiresAt !== undefined && !Number.isSafeInteger(Math.ceil(op.expiresAt))) {
      throw new RangeError(`expiresAt must be epoch milliseconds, got ${op.expiresAt}`);
    }
    // Keys, version, expiry and the attribute names around the data: well under 4 KB.
    const size = 4 * 1024 + storedSize(op.data, 'data');
    if (size > maxItemBytes) {
      throw new RangeError(`item ${op.key.pk} ${op.key.sk} may exceed DynamoDB's 400 KB limit`);
    }
  }
};
