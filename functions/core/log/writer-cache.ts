import type { ItemKey, StoredItem } from '../ports/metadata-store.ts';
import type { Topic } from '../topics/topic.ts';

/**
 * What a writer remembers between requests so that, in the steady state, a produce costs
 * one segment PUT and one metadata transaction: topics it read lately, and the versioned
 * items its commits are conditioned on (partition heads, producer state). Nothing here can
 * cause a wrong write: the commit is conditioned on every remembered version, and a
 * failed condition sends the writer back to the store.
 */
export class WriterCache {
  readonly #topicTtlMs: number;
  readonly #maxItems: number;
  readonly #topics = new Map<string, { readonly topic: Topic; readonly readAt: number }>();
  // Map keeps insertion order: the first key is the least recently used.
  readonly #items = new Map<string, StoredItem>();

  constructor(options: { topicTtlMs: number; maxItems: number }) {
    this.#topicTtlMs = options.topicTtlMs;
    this.#maxItems = options.maxItems;
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

  item(key: ItemKey): StoredItem | undefined {
    const id = itemId(key);
    const item = this.#items.get(id);
    if (item) {
      this.#items.delete(id);
      this.#items.set(id, item);
    }
    return item;
  }

  rememberItem(item: StoredItem): void {
    const id = itemId(item);
    this.#items.delete(id);
    this.#items.set(id, item);
    if (this.#items.size > this.#maxItems) {
      const oldest = this.#items.keys().next();
      if (!oldest.done) this.#items.delete(oldest.value);
    }
  }

  forgetItem(key: ItemKey): void {
    this.#items.delete(itemId(key));
  }
}

const itemId = (key: ItemKey) => `${key.pk}\u0000${key.sk}`;
