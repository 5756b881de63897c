/**
 * Large buffers lent and given back, so that requests of a megabyte do not each take fresh
 * memory. V8 counts every new ArrayBuffer as external memory, and a heap that takes hundreds
 * of megabytes of it a second runs a full (mark-compact) collection many times a second,
 * whatever its own objects do: a thousand 1 KiB records a request, at about 170 requests a
 * second, made 61 mark-compacts in 6 s on the embedded server. Lending the request's body
 * and its chunk (with the acks written as bytes) brought that to 7, and the collector
 * threads' CPU per request from about 1.5 ms to under 0.5 ms.
 *
 * A buffer is lent until its borrower gives it back, and must not be read or written after
 * that: the next borrower overwrites it. Sizes below `minBytes` are not worth keeping and
 * are allocated as usual (and ignored when given back); larger ones come in powers of two,
 * and at most `keepBytes` of them wait for a borrower. Giving back what was not lent, or
 * twice, does nothing.
 */
export class BufferPool {
  /** Buffers smaller than this are not lent but made. */
  readonly minBytes: number;
  readonly #keepBytes: number;
  /** Buffers waiting for a borrower, smallest first. */
  readonly #free: ArrayBuffer[] = [];
  #freeBytes = 0;
  /** What is out on loan, by its memory. */
  readonly #lent = new WeakSet<ArrayBufferLike>();

  constructor(options: { minBytes: number; keepBytes: number }) {
    this.minBytes = options.minBytes;
    this.#keepBytes = options.keepBytes;
  }

  /** A buffer of exactly `size` bytes, of unspecified content (zeros when small). */
  take(size: number): Uint8Array {
    if (size < this.minBytes) return new Uint8Array(size);
    const i = this.#free.findIndex((memory) => memory.byteLength >= size);
    let memory: ArrayBuffer;
    if (i >= 0) {
      [memory] = this.#free.splice(i, 1) as [ArrayBuffer];
      this.#freeBytes -= memory.byteLength;
    } else {
      memory = new ArrayBuffer(2 ** Math.ceil(Math.log2(size)));
    }
    this.#lent.add(memory);
    return new Uint8Array(memory, 0, size);
  }

  /** Gives back a buffer `take` lent (any view of it): nothing may use it after this. */
  give(buffer: Uint8Array): void {
    const memory = buffer.buffer;
    if (!(memory instanceof ArrayBuffer) || !this.#lent.has(memory)) return;
    this.#lent.delete(memory);
    if (this.#freeBytes + memory.byteLength > this.#keepBytes) return;
    const at = this.#free.findIndex((m) => m.byteLength >= memory.byteLength);
    this.#free.splice(at < 0 ? this.#free.length : at, 0, memory);
    this.#freeBytes += memory.byteLength;
  }
}
