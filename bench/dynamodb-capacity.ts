/**
 * Estimates of what DynamoDB would bill for the metadata store's calls, from the items as
 * the DynamoDB adapter lays them out (pk S, sk S, v N, d M, and exp N + ttl N when the item
 * expires). DynamoDB Local does not report consumed capacity the way AWS does, so the bench
 * computes it from AWS's published rules instead:
 *
 * Item size — https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html
 *   the sum of attribute names and values: a string is its UTF-8 bytes; a number about
 *   1 byte per two significant digits + 1; null and booleans 1 byte; a list or map 3 bytes
 *   plus 1 byte per element plus its elements (names included).
 *
 * Reads — https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html
 *   per 4 KB of item, rounded up: 0.5 RCU eventually consistent, 1 RCU strongly consistent,
 *   2 RCU transactional (TransactGetItems). The adapter reads strongly consistent only
 *   (GetItem, BatchGetItem and Query with ConsistentRead), so every read here is priced at
 *   1 RCU per 4 KB: each item rounded up on its own for GetItem and BatchGetItem (the
 *   adapter's `get` and `getMany`); a read of an absent item still costs the minimum. A
 *   Query sums the sizes of the items it returns and rounds the total up to 4 KB, and costs
 *   at least the minimum even when it finds nothing.
 *
 * Writes — same page, and https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html
 *   a single-item PutItem, UpdateItem or DeleteItem costs 1 WCU per 1 KB, rounded up; an
 *   update is sized by the larger of the item before and after. The adapter sends a
 *   `transact` of one put or delete as one conditional UpdateItem or DeleteItem, so it is
 *   priced so. TransactWriteItems performs two underlying writes of every item (prepare and
 *   commit), so each of its items costs 2 WCU per 1 KB, rounded up per item. A
 *   ConditionCheck inside TransactWriteItems is billed like a write of the checked item
 *   (2 WCU per KB): the docs do not say so outright, measured against AWS in
 *   https://martinhicks.dev/articles/what-a-conditional-dynamodb-transaction-costs. A
 *   check alone stays a transaction (DynamoDB has no single-item ConditionCheck call).
 *   BatchWriteItem deletes are standard writes, 1 WCU per KB each. A write refused by its
 *   condition is counted as billed (DynamoDB bills a failed conditional write; a cancelled
 *   transaction's prepare phase ran); the bench reports such failures separately so they
 *   can be discounted.
 */

import type {
  ItemKey,
  JsonValue,
  StoredItem,
  WriteOp,
} from '../functions/core/ports/metadata-store.ts';

const readUnitBytes = 4 * 1024;
const writeUnitBytes = 1024;
/** Read units per 4 KB, by how the item is read. */
export const readUnitsPer4Kb = { eventual: 0.5, strong: 1, transactional: 2 } as const;
export type ReadConsistency = keyof typeof readUnitsPer4Kb;
/** Write units per 1 KB: a standard write once, a transactional one twice (prepare + commit). */
const writeUnitsPerKb = { standard: 1, transactional: 2 } as const;

/** The adapter's attribute names. */
const attribute = { pk: 'pk', sk: 'sk', version: 'v', data: 'd', expiresAt: 'exp', ttl: 'ttl' };

const utf8Bytes = (text: string): number => Buffer.byteLength(text, 'utf8');

/** Size of a number: 1 byte per two significant digits, plus 1. */
export function numberSize(value: number): number {
  const digits = Math.abs(value)
    .toString()
    .replace(/e.*$/, '')
    .replace('.', '')
    .replace(/^0+/, '')
    .replace(/0+$/, '');
  return Math.ceil(Math.max(digits.length, 1) / 2) + 1;
}

/** Size of a JSON value marshalled as a DynamoDB attribute value (without its name). */
export function valueSize(value: JsonValue): number {
  if (value === null || typeof value === 'boolean') return 1;
  if (typeof value === 'string') return utf8Bytes(value);
  if (typeof value === 'number') return numberSize(value);
  if (Array.isArray(value)) {
    return 3 + value.reduce<number>((sum, element) => sum + 1 + valueSize(element), 0);
  }
  let size = 3;
  for (const [name, element] of Object.entries(value))
    size += 1 + utf8Bytes(name) + valueSize(element);
  return size;
}

export interface ItemShape extends ItemKey {
  readonly version: number;
  readonly data: StoredItem['data'];
  readonly expiresAt?: number;
}

/** Bytes of the item as the DynamoDB adapter stores it. */
export function itemSize(item: ItemShape): number {
  let size =
    attribute.pk.length +
    utf8Bytes(item.pk) +
    attribute.sk.length +
    utf8Bytes(item.sk) +
    attribute.version.length +
    numberSize(item.version) +
    attribute.data.length +
    valueSize(item.data);
  if (item.expiresAt !== undefined) {
    size += attribute.expiresAt.length + numberSize(item.expiresAt);
    size += attribute.ttl.length + numberSize(Math.ceil(item.expiresAt / 1000));
  }
  return size;
}

/** One item read by GetItem or BatchGetItem; an absent item costs the minimum. */
export const itemReadUnits = (
  size: number | undefined,
  consistency: ReadConsistency = 'strong',
): number => readUnitsPer4Kb[consistency] * Math.max(1, Math.ceil((size ?? 0) / readUnitBytes));

/** A strongly consistent GetItem (or one key of BatchGetItem), as the adapter reads. */
export const strongReadUnits = (size: number | undefined): number => itemReadUnits(size);

/** A Query page returning items of these sizes: their sum, rounded up once. */
export const queryReadUnits = (
  sizes: readonly number[],
  consistency: ReadConsistency = 'strong',
): number =>
  readUnitsPer4Kb[consistency] *
  Math.max(1, Math.ceil(sizes.reduce((a, b) => a + b, 0) / readUnitBytes));

/** One item of a TransactWriteItems, sized by the larger of before and after. */
export const transactionalWriteUnits = (size: number): number =>
  writeUnitsPerKb.transactional * Math.max(1, Math.ceil(size / writeUnitBytes));

/** One standard write: PutItem, UpdateItem, DeleteItem, or a BatchWriteItem request. */
export const standardWriteUnits = (size: number): number =>
  writeUnitsPerKb.standard * Math.max(1, Math.ceil(size / writeUnitBytes));

/**
 * The size DynamoDB bills for one op of a transaction: puts by the larger of the item
 * before and after, deletes and checks by the item as it is. `known` is the item's size as
 * last seen, when it has been seen.
 */
export function transactOpSize(op: WriteOp, known: KnownItem | undefined): number {
  if (op.type !== 'put') return known?.size ?? 0;
  const after = itemSize({
    pk: op.key.pk,
    sk: op.key.sk,
    version: (known?.version ?? 0) + 1,
    data: op.data,
    ...(op.expiresAt !== undefined && { expiresAt: op.expiresAt }),
  });
  return Math.max(after, known?.size ?? 0);
}

export interface KnownItem {
  readonly size: number;
  readonly version: number;
}
