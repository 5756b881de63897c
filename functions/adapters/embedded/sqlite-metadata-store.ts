/**
 * The embedded MetadataStore: one SQLite file (node:sqlite, built into Node), for `npm start`
 * and tests. It mirrors what the DynamoDB adapter does, including its limits, so code that
 * runs here does not break in the cloud.
 *
 * Durability: WAL journal with synchronous=FULL, so a transaction that resolved has been
 * fsynced and survives a killed process (and a power cut).
 * Order: `sk` is TEXT with SQLite's default BINARY collation, i.e. memcmp over the UTF-8
 * encoding — the same byte order DynamoDB sorts string sort keys by.
 * Expiry: items past `expiresAt` stay readable until {@link SqliteMetadataStore.sweepExpired}
 * removes them, as DynamoDB TTL deletes lazily (up to days later).
 */

import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';
import {
  ConditionFailedError,
  type Expectation,
  type FailedExpectation,
  type ItemKey,
  type JsonObject,
  type MetadataStore,
  type QueryOptions,
  StorageUnavailableError,
  type StoredItem,
  TransactionContentionError,
  type WriteOp,
} from '../../core/ports/metadata-store.ts';
import { assertKey, assertQuery, assertTransaction } from '../item-limits.ts';

const schema = `
  CREATE TABLE IF NOT EXISTS items (
    pk TEXT NOT NULL,
    sk TEXT NOT NULL,
    version INTEGER NOT NULL,
    data TEXT NOT NULL,
    expires_at INTEGER,
    PRIMARY KEY (pk, sk)
  ) WITHOUT ROWID`;

/** How long a writer waits for another process's write lock before reporting contention. */
const busyTimeoutMs = 5_000;

export class SqliteMetadataStore implements MetadataStore {
  readonly #db: DatabaseSync;
  readonly #statements = new Map<string, StatementSync>();

  constructor(path: string) {
    this.#db = new DatabaseSync(path, { timeout: busyTimeoutMs });
    this.#db.exec('PRAGMA journal_mode = WAL');
    // FULL: the WAL is fsynced at every commit, not only at checkpoints (NORMAL would lose
    // the last transactions on power loss).
    this.#db.exec('PRAGMA synchronous = FULL');
    this.#db.exec(schema);
  }

  async get(key: ItemKey): Promise<StoredItem | undefined> {
    assertKey(key);
    return this.#read(key);
  }

  async getMany(keys: readonly ItemKey[]): Promise<(StoredItem | undefined)[]> {
    for (const key of keys) assertKey(key);
    return keys.map((key) => this.#read(key));
  }

  async query(pk: string, options: QueryOptions = {}): Promise<StoredItem[]> {
    assertQuery(pk, options);
    const { from, to, reverse = false, limit } = options;
    if (limit === 0) return [];
    const conditions = ['pk = ?'];
    const params: SQLInputValue[] = [pk];
    // An empty bound is no bound: every key is >= '' (DynamoDB refuses '' in key conditions).
    if (from !== undefined && from !== '') {
      conditions.push('sk >= ?');
      params.push(from);
    }
    if (to !== undefined) {
      conditions.push('sk <= ?');
      params.push(to);
    }
    let sql = `SELECT pk, sk, version, data, expires_at FROM items WHERE ${conditions.join(' AND ')} ORDER BY sk ${reverse ? 'DESC' : 'ASC'}`;
    if (limit !== undefined) {
      sql += ' LIMIT ?';
      params.push(limit);
    }
    return this.#statement(sql)
      .all(...params)
      .map(toStoredItem);
  }

  async transact(ops: readonly WriteOp[]): Promise<void> {
    assertTransaction(ops);
    if (ops.length === 0) return;
    this.#begin();
    try {
      // Every expectation is checked before anything is written, so the error can name all
      // failed ops with the item each one found.
      const failures: FailedExpectation[] = [];
      const currents = ops.map((op, index) => {
        const current = this.#read(op.key);
        if (!holds(op.expect, current)) failures.push({ index, current });
        return current;
      });
      if (failures.length > 0) throw new ConditionFailedError(failures);
      ops.forEach((op, index) => {
        if (op.type === 'put') {
          const version = (currents[index]?.version ?? 0) + 1;
          this.#statement(
            `INSERT INTO items (pk, sk, version, data, expires_at) VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (pk, sk) DO UPDATE SET
               version = excluded.version, data = excluded.data, expires_at = excluded.expires_at`,
          ).run(op.key.pk, op.key.sk, version, JSON.stringify(op.data), op.expiresAt ?? null);
        } else if (op.type === 'delete') {
          this.#statement('DELETE FROM items WHERE pk = ? AND sk = ?').run(op.key.pk, op.key.sk);
        }
      });
      this.#db.exec('COMMIT');
    } catch (error: unknown) {
      if (this.#db.isTransaction) this.#db.exec('ROLLBACK');
      throw error;
    }
  }

  async deleteMany(keys: readonly ItemKey[]): Promise<void> {
    for (const key of keys) assertKey(key);
    if (keys.length === 0) return;
    this.#begin();
    try {
      const remove = this.#statement('DELETE FROM items WHERE pk = ? AND sk = ?');
      for (const key of keys) remove.run(key.pk, key.sk);
      this.#db.exec('COMMIT');
    } catch (error: unknown) {
      if (this.#db.isTransaction) this.#db.exec('ROLLBACK');
      throw error;
    }
  }

  /**
   * Deletes items whose `expiresAt` is before `nowMs`, as DynamoDB TTL eventually does.
   * Embedded only (tests, maintenance). Returns how many items were deleted.
   */
  sweepExpired(nowMs: number): number {
    const result = this.#statement(
      'DELETE FROM items WHERE expires_at IS NOT NULL AND expires_at < ?',
    ).run(nowMs);
    return Number(result.changes);
  }

  close(): void {
    this.#statements.clear();
    if (this.#db.isOpen) this.#db.close();
  }

  #read(key: ItemKey): StoredItem | undefined {
    const row = this.#statement(
      'SELECT pk, sk, version, data, expires_at FROM items WHERE pk = ? AND sk = ?',
    ).get(key.pk, key.sk);
    return row === undefined ? undefined : toStoredItem(row);
  }

  /** Takes the write lock now, so the reads that check expectations see what we will write over. */
  #begin(): void {
    try {
      this.#db.exec('BEGIN IMMEDIATE');
    } catch (error: unknown) {
      if (isBusy(error)) {
        throw new TransactionContentionError('another process holds the database write lock', {
          cause: error,
        });
      }
      throw new StorageUnavailableError('cannot start a SQLite transaction', {
        throttled: false,
        cause: error,
      });
    }
  }

  #statement(sql: string): StatementSync {
    let statement = this.#statements.get(sql);
    if (statement === undefined) {
      statement = this.#db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }
}

/** Opens (creating if needed) the database at `path`; ':memory:' for a throwaway store. */
export const openSqliteMetadataStore = (path: string): SqliteMetadataStore =>
  new SqliteMetadataStore(path);

const holds = (expect: Expectation, current: StoredItem | undefined): boolean => {
  switch (expect.kind) {
    case 'absent':
      return current === undefined;
    case 'version':
      return current !== undefined && current.version === expect.version;
    case 'any':
      return true;
  }
};

const toStoredItem = (row: Record<string, unknown>): StoredItem => {
  const { pk, sk, version, data, expires_at: expiresAt } = row;
  if (
    typeof pk !== 'string' ||
    typeof sk !== 'string' ||
    typeof version !== 'number' ||
    typeof data !== 'string' ||
    !(expiresAt === null || typeof expiresAt === 'number')
  ) {
    throw new Error(`malformed metadata row ${String(pk)} ${String(sk)}`);
  }
  // JSON.parse is untyped; `data` was written by JSON.stringify of a JsonObject in transact().
  const parsed: JsonObject = JSON.parse(data);
  return expiresAt === null
    ? { pk, sk, version, data: parsed }
    : { pk, sk, version, data: parsed, expiresAt };
};

const isBusy = (error: unknown): boolean => {
  if (!(error instanceof Error) || !('errcode' in error)) return false;
  // SQLITE_BUSY (5) and SQLITE_LOCKED (6); extended codes keep the primary code in the low byte.
  const code = Number(error.errcode) & 0xff;
  return code === 5 || code === 6;
};
