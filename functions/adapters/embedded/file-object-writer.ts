import { Worker } from 'node:worker_threads';

/**
 * Writes object files durably on a thread of their own (file-object-writer-thread.ts), for
 * FileSegmentStore.put.
 *
 * A durable write is about ten file system calls (mkdir, open, write, fsync, close,
 * rename, the directory's open, fsync and close), each a trip through libuv's thread
 * pool whose answer then waits its turn on the event loop. On a server busy reading and
 * encoding requests those waits, not the disk, made most of a 1 MB put's time. The thread
 * makes them on an event loop with nothing else to do; the server waits for one answer.
 *
 * The bytes travel in a SharedArrayBuffer. Bytes already in one (a produce encodes its
 * chunk into shared memory) go as they are: the caller leaves them be until the write is
 * answered. Others are copied into one taken from a small pool, memory already mapped, not
 * a new allocation or a transfer of the caller's buffer (which the caller may still use).
 */
export class ObjectWriter {
  #worker: Worker | undefined;
  readonly #pending = new Map<number, Pending>();
  #nextId = 0;
  readonly #free: SharedArrayBuffer[] = [];
  #freeBytes = 0;

  async write(path: string, body: Uint8Array): Promise<void> {
    if (body.buffer instanceof SharedArrayBuffer) {
      await this.#send(path, body.buffer, body.byteOffset, body.byteLength);
      return;
    }
    const buffer = this.#take(body.byteLength);
    new Uint8Array(buffer, 0, body.byteLength).set(body);
    try {
      await this.#send(path, buffer, 0, body.byteLength);
    } finally {
      this.#give(buffer);
    }
  }

  #send(path: string, buffer: SharedArrayBuffer, offset: number, length: number): Promise<void> {
    const worker = this.#thread();
    const id = this.#nextId++;
    return new Promise<void>((resolve, reject) => {
      if (this.#pending.size === 0) worker.ref();
      this.#pending.set(id, { resolve, reject });
      const request: WriteRequest = { id, path, buffer, offset, length };
      worker.postMessage(request);
    });
  }

  #thread(): Worker {
    if (this.#worker) return this.#worker;
    const worker = new Worker(new URL('./file-object-writer-thread.ts', import.meta.url));
    // The thread posts only WriteAnswer messages.
    worker.on('message', (answer: WriteAnswer) => this.#settle(answer));
    const stopped = (cause: unknown) => {
      // Writes under way have an unknown fate, as after a crash; the next starts a thread.
      if (this.#worker === worker) this.#worker = undefined;
      const error = new Error('the object writer thread stopped', { cause });
      for (const { reject } of this.#pending.values()) reject(error);
      this.#pending.clear();
    };
    worker.on('error', stopped);
    worker.on('exit', stopped);
    worker.unref();
    this.#worker = worker;
    return worker;
  }

  #settle(answer: WriteAnswer): void {
    const pending = this.#pending.get(answer.id);
    this.#pending.delete(answer.id);
    // With nothing under way, the thread does not keep the process alive.
    if (this.#pending.size === 0) this.#worker?.unref();
    if (!pending) return;
    if (answer.error === undefined) {
      pending.resolve();
    } else {
      const { message, code } = answer.error;
      pending.reject(Object.assign(new Error(message), code === undefined ? {} : { code }));
    }
  }

  /** A buffer of at least `size` bytes: a free one, or a new one of the next power of two. */
  #take(size: number): SharedArrayBuffer {
    const i = this.#free.findIndex((buffer) => buffer.byteLength >= size);
    if (i >= 0) {
      const [buffer] = this.#free.splice(i, 1) as [SharedArrayBuffer];
      this.#freeBytes -= buffer.byteLength;
      return buffer;
    }
    return new SharedArrayBuffer(Math.max(minBufferBytes, 2 ** Math.ceil(Math.log2(size))));
  }

  #give(buffer: SharedArrayBuffer): void {
    if (this.#freeBytes + buffer.byteLength > poolBytes) return;
    this.#free.push(buffer);
    this.#freeBytes += buffer.byteLength;
  }
}

/** Buffers kept for reuse, at most this many bytes in all (four 8 MiB chunks). */
const poolBytes = 32 * 1024 * 1024;
const minBufferBytes = 64 * 1024;

interface Pending {
  resolve(): void;
  reject(error: unknown): void;
}

export interface WriteRequest {
  readonly id: number;
  /** Where the object goes: FileSegmentStore's path for its key. */
  readonly path: string;
  /** The object is the `length` bytes from `offset`. */
  readonly buffer: SharedArrayBuffer;
  readonly offset: number;
  readonly length: number;
}

export interface WriteAnswer {
  readonly id: number;
  /** Absent when the object is durably in place. */
  readonly error?: { readonly message: string; readonly code?: string };
}
