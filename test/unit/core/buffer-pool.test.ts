import { describe, expect, it } from 'vitest';
import { BufferPool } from '../../../functions/core/buffer-pool.ts';

describe('BufferPool', () => {
  const pool = () => new BufferPool({ minBytes: 1024, keepBytes: 16 * 1024 });

  it('lends a buffer of exactly the size asked', () => {
    const p = pool();
    expect(p.take(1500).byteLength).toBe(1500);
    expect(p.take(100).byteLength).toBe(100);
  });

  it('lends again what was given back, and never what is still out', () => {
    const p = pool();
    const a = p.take(3000);
    const b = p.take(3000);
    expect(b.buffer).not.toBe(a.buffer);
    p.give(a);
    const c = p.take(2500);
    expect(c.buffer).toBe(a.buffer);
    expect(p.take(3000).buffer).not.toBe(b.buffer);
  });

  it('keeps nothing below its minimum size', () => {
    const p = pool();
    // Node lends small buffers from memory it shares among them: never to be lent again here.
    const small = p.take(512);
    p.give(small);
    expect(p.take(2000).buffer).not.toBe(small.buffer);
  });

  it('takes a buffer back once, however often it is given', () => {
    const p = pool();
    const a = p.take(3000);
    p.give(a);
    p.give(a);
    const b = p.take(3000);
    const c = p.take(3000);
    expect(b.buffer).toBe(a.buffer);
    expect(c.buffer).not.toBe(a.buffer);
  });

  it('ignores buffers it did not lend', () => {
    const p = pool();
    const foreign = Buffer.alloc(4096);
    p.give(foreign);
    expect(p.take(4096).buffer).not.toBe(foreign.buffer);
  });

  it('keeps no more than its bound waiting', () => {
    const p = pool();
    // 8 KiB each (the next power of two): two fit the 16 KiB bound, the third is let go.
    const lent = [p.take(5000), p.take(5000), p.take(5000)];
    for (const buffer of lent) p.give(buffer);
    const again = [p.take(5000), p.take(5000), p.take(5000)].map((b) => b.buffer);
    expect(again.filter((memory) => lent.some((b) => b.buffer === memory))).toHaveLength(2);
  });
});
