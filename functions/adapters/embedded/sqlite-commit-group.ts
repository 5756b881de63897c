/**
 * Group commit for the embedded metadata store: the write requests that arrive while the
 * previous commit is being made are applied in one SQLite transaction, each inside a
 * savepoint of its own as it arrives, and made durable by one COMMIT (one fsync of the WAL).
 *
 *   BEGIN IMMEDIATE
 *   A: SAVEPOINT ─ checks hold ─ writes ─────────── RELEASE
 *   B: SAVEPOINT ─ a check fails ─ nothing written ─ RELEASE
 *   C: SAVEPOINT ─ checks hold ─ writes ─────────── RELEASE
 *   COMMIT (one fsync), then the answers to A, B and C
 *
 * Each request keeps its own all-or-nothing outcome: its checks run against what the
 * requests before it in the group left (as if they had committed one after another), a
 * failed check writes nothing, and an error inside one request rolls back to its savepoint
 * and touches no other. No answer leaves before the COMMIT has returned: with
 * synchronous=FULL that is after the fsync, and other connections see the group only then.
 * A crash before it loses the whole group and acknowledged nothing of it. Should the COMMIT
 * itself fail, every request of the group fails with it (the items a failed check saw may
 * never have been committed, so they are not reported).
 *
 * The writer thread (sqlite-writer-thread.ts) runs this; so does the store itself for a
 * database in memory, which another thread cannot open.
 */

import { DatabaseSync, type StatementSync } from 'node:sqlite';
import type { Expectation, ItemKey } from '../../core/ports/metadata-store.ts';

export const schema = `
  CREATE TABLE IF NOT EXISTS items (
    pk TEXT NOT NULL,
    sk TEXT NOT NULL,
    version INTEGER NOT NULL,
    data TEXT NOT NULL,
    expires_at INTEGER,
    PRIMARY KEY (pk, sk)
  ) WITHOUT ROWID`;

/** How long a writer waits for another process's write lock before reporting contention. */
export const busyTimeoutMs = 5_000;

/** An item as SQLite holds it: `data` is JSON text. */
export interface ItemRow {
  readonly pk: string;
  readonly sk: string;
  readonly version: number;
  readonly data: string;
  readonly expires_at: number | null;
}

/** A WriteOp with its data already JSON text, ready to cross to the writer thread. */
export interface EncodedOp {
  readonly type: 'put' | 'delete' | 'check';
  readonly pk: string;
  readonly sk: string;
  /** JSON text of a put's data; null for the other ops. */
  readonly data: string | null;
  readonly expiresAt: number | null;
  readonly expect: Expectation;
}

export type WriteRequest =
  /** All or nothing, if every expectation holds. */
  | { readonly kind: 'transact'; readonly ops: readonly EncodedOp[] }
  /** Unconditional deletes. */
  | { readonly kind: 'delete'; readonly keys: readonly ItemKey[] };

export type WriteOutcome =
  | { readonly kind: 'done' }
  /** Nothing of the request was written; each failed op with the item it found. */
  | {
      readonly kind: 'condition-failed';
      readonly failures: readonly { readonly index: number; readonly current: ItemRow | null }[];
    }
  /** Another process holds the database's write lock; nothing was written. */
  | { readonly kind: 'busy'; readonly message: string }
  /** The write transaction could not start; nothing was written. */
  | { readonly kind: 'unavailable'; readonly message: string }
  /** SQLite refused or failed; nothing of the request was written. */
  | { readonly kind: 'failed'; readonly message: string; readonly errcode?: number };

/**
 * Opens a connection that writes: WAL journal, and synchronous=FULL so that the WAL is
 * fsynced at every commit, not only at checkpoints (NORMAL would lose the last transactions
 * on power loss). Creates the table if needed.
 */
export function openWriteConnection(path: string): DatabaseSync {
  const db = new DatabaseSync(path, { timeout: busyTimeoutMs });
  db.exec('PRAGMA journal_mode = WAL');
  db.exec('PRAGMA synchronous = FULL');
  db.exec(schema);
  return db;
}

/** Applies write requests in one transaction per group; see the top of this file. */
export class CommitGroups {
  readonly #db: DatabaseSync;
  readonly #begin: StatementSync;
  readonly #commit: StatementSync;
  readonly #rollback: StatementSync;
  readonly #savepoint: StatementSync;
  readonly #release: StatementSync;
  readonly #rollbackToSavepoint: StatementSync;
  readonly #read: StatementSync;
  readonly #put: StatementSync;
  readonly #delete: StatementSync;
  /** Outcomes of the requests added since the last commit, in order. */
  #outcomes: WriteOutcome[] = [];
  /** Index in #outcomes of the first request the open transaction holds. */
  #firstInTransaction = 0;

  constructor(db: DatabaseSync) {
    this.#db = db;
    // BEGIN IMMEDIATE takes the write lock at once, so the reads that check expectations
    // see what the group will write over.
    this.#begin = db.prepare('BEGIN IMMEDIATE');
    this.#commit = db.prepare('COMMIT');
    this.#rollback = db.prepare('ROLLBACK');
    this.#savepoint = db.prepare('SAVEPOINT request');
    this.#release = db.prepare('RELEASE request');
    this.#rollbackToSavepoint = db.prepare('ROLLBACK TO request');
    this.#read = db.prepare(
      'SELECT pk, sk, version, data, expires_at FROM items WHERE pk = ? AND sk = ?',
    );
    this.#put = db.prepare(
      `INSERT INTO items (pk, sk, version, data, expires_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (pk, sk) DO UPDATE SET
         version = excluded.version, data = excluded.data, expires_at = excluded.expires_at`,
    );
    this.#delete = db.prepare('DELETE FROM items WHERE pk = ? AND sk = ?');
  }

  /**
   * Applies `request` in a savepoint of the group's transaction (begun by the first request
   * added), and keeps its outcome for {@link commit}. Nothing is visible to other
   * connections, or answered, before then.
   */
  add(request: WriteRequest): void {
    if (!this.#db.isTransaction) {
      try {
        this.#begin.run();
      } catch (error: unknown) {
        const message = messageOf(error);
        this.#outcomes.push(
          isBusy(error)
            ? { kind: 'busy', message: `another process holds the database write lock: ${message}` }
            : { kind: 'unavailable', message: `cannot start a SQLite transaction: ${message}` },
        );
        return;
      }
      this.#firstInTransaction = this.#outcomes.length;
    }
    try {
      this.#savepoint.run();
      const outcome = this.#apply(request);
      this.#release.run();
      this.#outcomes.push(outcome);
    } catch (error: unknown) {
      // Some errors (a full disk, an I/O error) make SQLite roll back the whole transaction:
      // the requests before this one in the group are gone with it.
      if (!this.#db.isTransaction) {
        this.#outcomes.push(failed(error));
        this.#loseTransaction(error);
        return;
      }
      try {
        this.#rollbackToSavepoint.run();
        this.#release.run();
        this.#outcomes.push(failed(error));
      } catch (rollbackError: unknown) {
        this.#outcomes.push(failed(error));
        this.#loseTransaction(rollbackError);
      }
    }
  }

  /**
   * Commits the requests added since the last commit, with one COMMIT, and returns their
   * outcomes in the order they were added.
   */
  commit(): WriteOutcome[] {
    if (this.#db.isTransaction) {
      try {
        this.#commit.run();
      } catch (error: unknown) {
        this.#loseTransaction(error);
      }
    }
    const outcomes = this.#outcomes;
    this.#outcomes = [];
    this.#firstInTransaction = 0;
    return outcomes;
  }

  /** Rolls the transaction back, if SQLite did not, and fails every request it held. */
  #loseTransaction(error: unknown): void {
    try {
      if (this.#db.isTransaction) this.#rollback.run();
    } catch {
      // Nothing of it was committed either way: the requests it held fail below.
    }
    for (let i = this.#firstInTransaction; i < this.#outcomes.length; i++) {
      this.#outcomes[i] = failed(error);
    }
  }

  #apply(request: WriteRequest): WriteOutcome {
    if (request.kind === 'delete') {
      for (const key of request.keys) this.#delete.run(key.pk, key.sk);
      return { kind: 'done' };
    }
    // Every expectation is checked before anything is written, so the answer can name all
    // failed ops with the item each one found.
    const currents = request.ops.map((op) => this.#readRow(op.pk, op.sk));
    const failures = request.ops.flatMap((op, index) => {
      const current = currents[index] ?? null;
      return holds(op.expect, current) ? [] : [{ index, current }];
    });
    if (failures.length > 0) return { kind: 'condition-failed', failures };
    request.ops.forEach((op, index) => {
      if (op.type === 'put') {
        const version = (currents[index]?.version ?? 0) + 1;
        this.#put.run(op.pk, op.sk, version, op.data ?? 'null', op.expiresAt);
      } else if (op.type === 'delete') {
        this.#delete.run(op.pk, op.sk);
      }
    });
    return { kind: 'done' };
  }

  #readRow(pk: string, sk: string): ItemRow | undefined {
    const row = this.#read.get(pk, sk);
    return row === undefined ? undefined : toItemRow(row);
  }
}

const holds = (expect: Expectation, current: ItemRow | null): boolean => {
  switch (expect.kind) {
    case 'absent':
      return current === null;
    case 'version':
      return current !== null && current.version === expect.version;
    case 'any':
      return true;
  }
};

export const toItemRow = (row: Record<string, unknown>): ItemRow => {
  const { pk, sk, version, data, expires_at } = row;
  if (
    typeof pk !== 'string' ||
    typeof sk !== 'string' ||
    typeof version !== 'number' ||
    typeof data !== 'string' ||
    !(expires_at === null || typeof expires_at === 'number')
  ) {
    throw new Error(`malformed metadata row ${String(pk)} ${String(sk)}`);
  }
  return { pk, sk, version, data, expires_at };
};

const messageOf = (error: unknown): string =>
  error instanceof Error ? error.message : String(error);

const failed = (error: unknown): WriteOutcome => {
  const errcode = errcodeOf(error);
  return errcode === undefined
    ? { kind: 'failed', message: messageOf(error) }
    : { kind: 'failed', message: messageOf(error), errcode };
};

const errcodeOf = (error: unknown): number | undefined =>
  error instanceof Error && 'errcode' in error && typeof error.errcode === 'number'
    ? error.errcode
    : undefined;

/** SQLITE_BUSY (5) or SQLITE_LOCKED (6); extended codes keep the primary code in the low byte. */
export const isBusy = (error: unknown): boolean => {
  const code = errcodeOf(error);
  return code !== undefined && ((code & 0xff) === 5 || (code & 0xff) === 6);
};
