/**
 * The metadata store: small versioned items, conditional multi-item transactions and
 * ordered range queries. DynamoDB implements it in the cloud, SQLite on a laptop.
 *
 * Items live under a partition key `pk` and are ordered by sort key `sk` (byte order of
 * the UTF-8 string). Every item carries a `version`, starting at 1 on creation and
 * increasing by one on every put; conditions compare against it. Adapters hold no domain
 * rules: the core decides what the items mean.
 */

export type JsonValue =
  | string
  | number
  | boolean
  | null
  | JsonValue[]
  | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

export interface ItemKey {
  readonly pk: string;
  readonly sk: string;
}

export interface StoredItem extends ItemKey {
  readonly version: number;
  readonly data: JsonObject;
  /** Epoch milliseconds after which the store may delete the item (DynamoDB TTL). */
  readonly expiresAt?: number;
}

/** What must be true of an item for a write to apply. */
export type Expectation =
  | { readonly kind: 'absent' }
  | { readonly kind: 'version'; readonly version: number }
  | { readonly kind: 'any' };

export const expectAbsent: Expectation = { kind: 'absent' };
export const expectAny: Expectation = { kind: 'any' };
export const expectVersion = (version: number): Expectation => ({ kind: 'version', version });

export type WriteOp =
  /** Create or replace the item's data; its version becomes the previous version + 1 (1 if new). */
  | {
      readonly type: 'put';
      readonly key: ItemKey;
      readonly data: JsonObject;
      readonly expiresAt?: number;
      readonly expect: Expectation;
    }
  | { readonly type: 'delete'; readonly key: ItemKey; readonly expect: Expectation }
  /** Writes nothing; the transaction applies only if the expectation holds. */
  | { readonly type: 'check'; readonly key: ItemKey; readonly expect: Expectation };

export interface QueryOptions {
  /** Inclusive lower bound on `sk`. */
  readonly from?: string;
  /** Inclusive upper bound on `sk`. */
  readonly to?: string;
  /** Descending `sk` order. */
  readonly reverse?: boolean;
  /** At most this many items (all matching items when absent). */
  readonly limit?: number;
}

export interface MetadataStore {
  /** A strongly consistent read of one item. */
  get(key: ItemKey): Promise<StoredItem | undefined>;
  /** Strongly consistent reads of several items, returned in the order of `keys` (undefined where absent). */
  getMany(keys: readonly ItemKey[]): Promise<(StoredItem | undefined)[]>;
  /** Items of one partition key in `sk` order, strongly consistent. */
  query(pk: string, options?: QueryOptions): Promise<StoredItem[]>;
  /**
   * Applies every op or none. At most {@link maxTransactionOps} ops, each on a distinct key.
   * Throws {@link ConditionFailedError} when an expectation does not hold and
   * {@link TransactionContentionError} when a concurrent transaction got in the way.
   */
  transact(ops: readonly WriteOp[]): Promise<void>;
  /** Deletes items unconditionally, not atomically (for cleanup of data nothing can see). */
  deleteMany(keys: readonly ItemKey[]): Promise<void>;
}

/** DynamoDB's TransactWriteItems limit, which every adapter enforces alike. */
export const maxTransactionOps = 100;

export interface FailedExpectation {
  /** Index of the op in the transaction. */
  readonly index: number;
  /** The item as it is now, so the caller can recover (re-sequence, report). */
  readonly current: StoredItem | undefined;
}

/** An expectation did not hold; nothing was written. */
export class ConditionFailedError extends Error {
  override readonly name = 'ConditionFailedError';
  readonly failures: readonly FailedExpectation[];
  constructor(failures: readonly FailedExpectation[]) {
    super(`condition failed on op ${failures.map((f) => f.index).join(', ')}`);
    this.failures = failures;
  }
}

/** Another transaction on the same items was in flight; nothing was written. Safe to retry. */
export class TransactionContentionError extends Error {
  override readonly name = 'TransactionContentionError';
}

/** A storage service throttled or did not answer; nothing is known to be written. */
export class StorageUnavailableError extends Error {
  override readonly name = 'StorageUnavailableError';
  readonly throttled: boolean;
  constructor(message: string, options: { throttled: boolean; cause?: unknown }) {
    super(message, { cause: options.cause });
    this.throttled = options.throttled;
  }
}

export const isConditionFailed = (error: unknown): error is ConditionFailedError =>
  error instanceof ConditionFailedError;

/**
 * Whether a failed write lost a race — its condition failed, or a concurrent transaction
 * on the same items cancelled it — so reading again and retrying is right. After
 * contention it first waits a short random while, so racing writers spread out.
 */
export async function lostRace(error: unknown): Promise<boolean> {
  if (error instanceof ConditionFailedError) return true;
  if (!(error instanceof TransactionContentionError)) return false;
  await new Promise((resolve) => setTimeout(resolve, Math.random() * 50));
  return true;
}
