import { describe, expect, it } from 'vitest';
import { WriterCache } from '../../../../functions/core/log/writer-cache.ts';

const head = (partition: number) => ({ pk: `log#t#${partition}`, sk: 'head' });

describe('commit turns in one process', () => {
  it('run commits on one item one after another, in the order they asked', async () => {
    const writers = new WriterCache({ topicTtlMs: 5_000, maxItems: 100 });
    const events: string[] = [];
    const commit = async (name: string, partitions: number[]) => {
      const endTurn = await writers.takeTurn(partitions.map(head));
      events.push(`${name} starts`);
      // Another commit's turn may come while this one waits for its store.
      await new Promise((resolve) => setImmediate(resolve));
      events.push(`${name} ends`);
      endTurn();
    };
    await Promise.all([
      commit('a', [0]),
      commit('b', [0, 1]),
      commit('c', [1]),
      commit('d', [2]),
      commit('e', [0]),
    ]);
    // d touches no partition another holds: it does not wait. b waits for a, c for b, e for b.
    expect(events.indexOf('d starts')).toBeLessThan(events.indexOf('a ends'));
    expect(events.indexOf('b starts')).toBeGreaterThan(events.indexOf('a ends'));
    expect(events.indexOf('c starts')).toBeGreaterThan(events.indexOf('b ends'));
    expect(events.indexOf('e starts')).toBeGreaterThan(events.indexOf('b ends'));
  });

  it('lets the next commit go when one fails', async () => {
    const writers = new WriterCache({ topicTtlMs: 5_000, maxItems: 100 });
    const failing = (async () => {
      const endTurn = await writers.takeTurn([head(0)]);
      try {
        throw new Error('the store refused');
      } finally {
        endTurn();
      }
    })();
    const next = writers.takeTurn([head(0)]).then((endTurn) => endTurn());
    await expect(failing).rejects.toThrow('the store refused');
    await next;
  });
});
