import { Worker } from 'node:worker_threads';

/**
 * Writes object files durably on threads of their own (file-object-writer-thread.ts), for
 * FileSegmentStore.put.
 *
 * A durable write is about ten file system calls (mkdir, open, write, fsync, close,
 * rename, the directory's open, fsync and close). Made from the server's event loop, each
 * is a trip through libuv's thread pool whose answer then waits its turn on that loop: on
 * a server busy reading and encoding requests, those waits, not the disk, made most of a
 * 1 MB put's time. A thread makes them instead, synchronously, one write at a time, and
 * the server waits for one answer. Up to {@link maxThreads} threads write at once, as
 * concurrent produces would, so that their fsyncs overlap as the disk allows; a write
 * waits when all are busy.
 *
 * The bytes travel in a SharedArrayBuffer taken from a small pool, so a put costs the
 * server one copy into memory already mapped, not a new allocation or a transfer of the
 * caller's buffer (which the caller may still use).
 */
export class ObjectWriter {
  /** Threads started, each writing at most one object at a time. */
  readonly #threads: Thread[] = [];
  /** Writes waiting for a thread, in the order asked. */
  readonly #waiting: Request[] = [];
  #nextId = 0;
  readonly #free: SharedArrayBuffer[] = [];
  #freeBytes = 0;

  async write(path: string, body: Uint8Array): Promise<void> {
    const buffer = this.#take(body.byteLength);
    new Uint8Array(buffer, 0, body.byteLength).set(body);
    try {
      await this.#send(path, buffer, body.byteLength);
    } finally {
      this.#give(buffer);
    }
  }

  #send(path: string, buffer: SharedArrayBuffer, length: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const message: WriteRequest = { id: this.#nextId++, path, buffer, length };
      this.#waiting.push({ message, resolve, reject });
      this.#dispatch();
    });
  }

  /** Hands waiting writes to idle threads, starting threads up to the limit. */
  #dispatch(): void {
    while (this.#waiting.length > 0) {
      let thread = this.#threads.find((t) => t.writing === undefined);
      if (!thread && this.#threads.length < maxThreads) thread = this.#start();
      if (!thread) return;
      const request = this.#waiting.shift() as Request;
      thread.writing = request;
      thread.worker.ref();
      thread.worker.postMessage(request.message);
    }
  }

  #start(): Thread {
    const worker = new Worker(new URL('./file-object-writer-thread.ts', import.meta.url));
    const thread: Thread = { worker, writing: undefined };
    // The thread posts only WriteAnswer messages, one per request.
    worker.on('message', (answer: WriteAnswer) => {
      const request = thread.writing;
      thread.writing = undefined;
      // With nothing under way, the thread does not keep the process alive.
      worker.unref();
      if (request?.message.id === answer.id) settle(request, answer);
      this.#dispatch();
    });
    const stopped = (cause: unknown) => {
      // A write under way has an unknown fate, as after a crash; the next starts a thread.
      const at = this.#threads.indexOf(thread);
      if (at >= 0) this.#threads.splice(at, 1);
      thread.writing?.reject(new Error('an object writer thread stopped', { cause }));
      thread.writing = undefined;
      this.#dispatch();
    };
    worker.on('error', stopped);
    worker.on('exit', stopped);
    worker.unref();
    this.#threads.push(thread);
    return thread;
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

/** Threads writing at once, at most: as many as the concurrent writes of a busy server. */
const maxThreads = 4;

interface Request {
  readonly message: WriteRequest;
  resolve(): void;
  reject(error: unknown): void;
}

interface Thread {
  readonly worker: Worker;
  /** The write it was handed and has not answered. */
  writing: Request | undefined;
}

function settle(request: Request, answer: WriteAnswer): void {
  if (answer.error === undefined) {
    request.resolve();
  } else {
    const { message, code } = answer.error;
    request.reject(Object.assign(new Error(message), code === undefined ? {} : { code }));
  }
}

export interface WriteRequest {
  readonly id: number;
  /** Where the object goes: FileSegmentStore's path for its key. */
  readonly path: string;
  /** The object is the first `length` bytes. */
  readonly buffer: SharedArrayBuffer;
  readonly length: number;
}

export interface WriteAnswer {
  readonly id: number;
  /** Absent when the object is durably in place. */
  readonly error?: { readonly message: string; readonly code?: string };
}
