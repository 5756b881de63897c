import type { Topic } from '../topics/topic.ts';
import type { PartitionHead } from './partition-items.ts';

/**
 * What a writer remembers between requests so that, in the steady state, a produce costs
 * one segment PUT and one metadata transaction. Nothing here can cause a wrong write: the
 * commit is conditioned on the topic's and each head's version, and a failed condition
 * hands back the current item, which replaces what was remembered.
 */
export class WriterCache {
  readonly #topicTtlMs: number;
  readonly #maxHeads: number;
  readonly #topics = new Map<string, { readonly topic: Topic; readonly readAt: number }>();
  readonly #heads = new Map<string, PartitionHead>();

  constructor(options: { topicTtlMs: number; maxHeads: number }) {
    this.#topicTtlMs = options.topicTtlMs;
    this.#maxHeads = options.maxHeads;
  }

  topic(name: string, now: number): Topic | undefined {
    const entry = this.#topics.get(name);
    if (entry && now - entry.readAt <= this.#topicTtlMs) return entry.topic;
    this.#topics.delete(name);
    return undefined;
  }

  rememberTopic(topic: Topic, now: number): void {
    this.#topics.set(topic.name, { topic, readAt: now });
  }

  forgetTopic(name: string): void {
    this.#topics.delete(name);
  }

  head(topicId: string, partition: number): PartitionHead | undefined {
    return this.#heads.get(`${topicId}#${partition}`);
  }

  rememberHead(topicId: string, partition: number, head: PartitionHead): void {
    const key = `${topicId}#${partition}`;
    this.#heads.delete(key);
    this.#heads.set(key, head);
    if (this.#heads.size > this.#maxHeads) {
      const oldest = this.#heads.keys().next();
      if (!oldest.done) this.#heads.delete(oldest.value);
    }
  }
}
