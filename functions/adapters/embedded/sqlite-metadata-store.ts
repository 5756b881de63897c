/**
 * The embedded MetadataStore: one SQLite file (node:sqlite, built into Node), for `npm start`
 * and tests. It mirrors what the DynamoDB adapter does, including its limits, so code that
 * runs here does not break in the cloud.
 *
 * Durability: WAL journal with synchronous=FULL, so a transaction that resolved has been
 * fsynced and survives a killed process (and a power cut).
 * Writes: one connection in a worker thread (sqlite-writer-thread.ts) makes every write, so
 * that the fsync of a commit never blocks the event loop, and commits the transactions that
 * arrive meanwhile together, one savepoint each, with one fsync (sqlite-commit-group.ts).
 * Each transaction still applies whole or not at all and resolves only after its COMMIT.
 * Reads: a connection of this thread, which sees a commit once it is durable. A database in
 * memory cannot be shared with another thread: there this connection writes too, in the same
 * groups.
 * Order: `sk` is TEXT with SQLite's default BINARY collation, i.e. memcmp over the UTF-8
 * encoding — the same byte order DynamoDB sorts string sort keys by.
 * Expiry: items past `expiresAt` stay readable until {@link SqliteMetadataStore.sweepExpired}
 * removes them, as DynamoDB TTL deletes lazily (up to days later).
 */

import type { DatabaseSync, SQLInputValue, StatementSync } from 'node:sqlite';
import {
  MessageChannel,
  type MessagePort,
  receiveMessageOnPort,
  Worker,
} from 'node:worker_threads';
import {
  ConditionFailedError,
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
import {
  CommitGroups,
  type EncodedOp,
  type ItemRow,
  openWriteConnection,
  toItemRow,
  type WriteOutcome,
  type WriteRequest,
} from './sqlite-commit-group.ts';
import {
  closedWord,
  postedWord,
  signalWords,
  sleepingWord,
  type WriterAnswers,
  type WriterMessage,
  type WriterThreadData,
} from './sqlite-writer-protocol.ts';

export class SqliteMetadataStore implements MetadataStore {
  readonly #db: DatabaseSync;
  readonly #statements = new Map<string, StatementSync>();
  readonly #writer: Writer;

  constructor(path: string) {
    // This connection creates the table, so it exists before the writer thread opens the file.
    this.#db = openWriteConnection(path);
    this.#writer = path === ':memory:' ? new ThisThreadWriter(this.#db) : new WriterThread(path);
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
      .map((row) => toStoredItem(toItemRow(row)));
  }

  async transact(ops: readonly WriteOp[]): Promise<void> {
    assertTransaction(ops);
    if (ops.length === 0) return;
    throwIfNotDone(await this.#writer.write({ kind: 'transact', ops: ops.map(encodeOp) }));
  }

  async deleteMany(keys: readonly ItemKey[]): Promise<void> {
    for (const key of keys) assertKey(key);
    if (keys.length === 0) return;
    const plainKeys = keys.map(({ pk, sk }) => ({ pk, sk }));
    throwIfNotDone(await this.#writer.write({ kind: 'delete', keys: plainKeys }));
  }

  /**
   * Deletes items whose `expiresAt` is before `nowMs`, as DynamoDB TTL eventually does.
   * Embedded only (tests). Returns how many items were deleted.
   */
  sweepExpired(nowMs: number): number {
    const result = this.#statement(
      'DELETE FROM items WHERE expires_at IS NOT NULL AND expires_at < ?',
    ).run(nowMs);
    return Number(result.changes);
  }

  /** Commits and answers every write already asked for, then closes both connections. */
  close(): void {
    this.#writer.close();
    this.#statements.clear();
    if (this.#db.isOpen) this.#db.close();
  }

  #read(key: ItemKey): StoredItem | undefined {
    const row = this.#statement(
      'SELECT pk, sk, version, data, expires_at FROM items WHERE pk = ? AND sk = ?',
    ).get(key.pk, key.sk);
    return row === undefined ? undefined : toStoredItem(toItemRow(row));
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

/** Where write requests go to be committed in groups. */
interface Writer {
  write(request: WriteRequest): Promise<WriteOutcome>;
  /** Commits and answers what was asked for, then stops; later writes are refused. */
  close(): void;
}

/** How long close waits for the writer thread to commit what it holds and close. */
const closeWaitMs = 10_000;

/** The writer thread: see sqlite-writer-thread.ts. */
class WriterThread implements Writer {
  readonly #worker: Worker;
  readonly #requests: MessagePort;
  readonly #answers: MessagePort;
  readonly #signal = new Int32Array(new SharedArrayBuffer(4 * signalWords));
  readonly #pending = new Map<
    number,
    { resolve(outcome: WriteOutcome): void; reject(error: unknown): void }
  >();
  #nextId = 0;
  #stopped: Error | undefined;

  constructor(path: string) {
    const requests = new MessageChannel();
    const answers = new MessageChannel();
    this.#requests = requests.port1;
    this.#answers = answers.port1;
    const workerData: WriterThreadData = {
      path,
      requests: requests.port2,
      answers: answers.port2,
      signal: this.#signal,
    };
    this.#worker = new Worker(new URL('./sqlite-writer-thread.ts', import.meta.url), {
      workerData,
      transferList: [requests.port2, answers.port2],
    });
    // The port carries only what the writer thread posts: WriterAnswers.
    this.#answers.on('message', (answers: WriterAnswers) => this.#settle(answers));
    const stopped = (cause: unknown) =>
      this.#stop(
        new StorageUnavailableError('the SQLite writer thread stopped', {
          throttled: false,
          cause,
        }),
      );
    this.#worker.on('error', stopped);
    this.#worker.on('exit', stopped);
    this.#idle();
  }

  write(request: WriteRequest): Promise<WriteOutcome> {
    if (this.#stopped) return Promise.reject(this.#stopped);
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      if (this.#pending.size === 0) {
        this.#worker.ref();
        this.#answers.ref();
      }
      this.#pending.set(id, { resolve, reject });
      this.#post({ id, request });
    });
  }

  close(): void {
    if (this.#stopped) return;
    this.#post({ close: true });
    // Synchronously, as SQLite's own close is: the thread answers everything it was sent
    // before the close, then closes its connection.
    Atomics.wait(this.#signal, closedWord, 0, closeWaitMs);
    for (let m = receiveMessageOnPort(this.#answers); m; m = receiveMessageOnPort(this.#answers)) {
      // The port carries only what the writer thread posts: WriterAnswers.
      this.#settle(m.message as WriterAnswers);
    }
    this.#stop(new StorageUnavailableError('the metadata store is closed', { throttled: false }));
    this.#requests.close();
    this.#answers.close();
    void this.#worker.terminate();
  }

  #post(message: WriterMessage): void {
    this.#requests.postMessage(message);
    Atomics.add(this.#signal, postedWord, 1);
    // Waking a thread costs tens of microseconds: only when it sleeps until the next message.
    if ('close' in message || Atomics.load(this.#signal, sleepingWord) === 1) {
      Atomics.notify(this.#signal, postedWord);
    }
  }

  #settle(answers: WriterAnswers): void {
    for (const [id, outcome] of answers) {
      this.#pending.get(id)?.resolve(outcome);
      this.#pending.delete(id);
    }
    if (this.#pending.size === 0) this.#idle();
  }

  /** Fails every pending write (its fate unknown) and refuses later ones. */
  #stop(error: Error): void {
    this.#stopped ??= error;
    for (const { reject } of this.#pending.values()) reject(error);
    this.#pending.clear();
    this.#idle();
  }

  /** With nothing pending, the thread does not keep the process alive. */
  #idle(): void {
    this.#worker.unref();
    this.#answers.unref();
  }
}

/** Writes on the reading connection, in groups all the same: for a database in memory. */
class ThisThreadWriter implements Writer {
  readonly #groups: CommitGroups;
  #queue: { readonly request: WriteRequest; resolve(outcome: WriteOutcome): void }[] = [];
  #scheduled = false;
  #closed = false;

  constructor(db: DatabaseSync) {
    this.#groups = new CommitGroups(db);
  }

  write(request: WriteRequest): Promise<WriteOutcome> {
    if (this.#closed) {
      return Promise.reject(
        new StorageUnavailableError('the metadata store is closed', { throttled: false }),
      );
    }
    return new Promise((resolve) => {
      this.#queue.push({ request, resolve });
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => this.#flush());
      }
    });
  }

  close(): void {
    this.#flush();
    this.#closed = true;
  }

  #flush(): void {
    this.#scheduled = false;
    const group = this.#queue;
    this.#queue = [];
    for (const entry of group) this.#groups.add(entry.request);
    const outcomes = this.#groups.commit();
    for (const [i, entry] of group.entries()) {
      entry.resolve(outcomes[i] ?? { kind: 'failed', message: 'no outcome' });
    }
  }
}

const encodeOp = (op: WriteOp): EncodedOp => ({
  type: op.type,
  pk: op.key.pk,
  sk: op.key.sk,
  data: op.type === 'put' ? JSON.stringify(op.data) : null,
  expiresAt: op.type === 'put' ? (op.expiresAt ?? null) : null,
  expect: op.expect,
});

/** Turns a refused write into the port's error. */
const throwIfNotDone = (outcome: WriteOutcome): void => {
  switch (outcome.kind) {
    case 'done':
      return;
    case 'condition-failed':
      throw new ConditionFailedError(
        outcome.failures.map(({ index, current }) => ({
          index,
          current: current === null ? undefined : toStoredItem(current),
        })),
      );
    case 'busy':
      throw new TransactionContentionError(outcome.message);
    case 'unavailable':
      throw new StorageUnavailableError(outcome.message, { throttled: false });
    case 'failed':
      throw Object.assign(new Error(outcome.message), { errcode: outcome.errcode });
  }
};

const toStoredItem = (row: ItemRow): StoredItem => {
  const { pk, sk, version, data, expires_at: expiresAt } = row;
  // JSON.parse is untyped; `data` was written by JSON.stringify of a JsonObject in encodeOp.
  const parsed: JsonObject = JSON.parse(data);
  return expiresAt === null
    ? { pk, sk, version, data: parsed }
    : { pk, sk, version, data: parsed, expiresAt };
};
