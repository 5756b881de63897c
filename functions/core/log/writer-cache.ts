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
  /** Per item: settles when the last commit that took a turn on it is done. */
  readonly #turns = new Map<string, Promise<void>>();

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

  /**
   * Waits until no commit of this process that took a turn on any of `keys` before is still
   * under way, and holds the turn on them until the returned function is called. Commits
   * conditioned on one item then go one after another, each on the version the one before
   * left here, rather than all on the same version, where all but one would fail and retry.
   *
   *   without turns: A, B read head 7 ─ both commit ─ A ✓, B ✗ reads 10, commits again ✓
   *   with turns:    A reads head 7, commits ✓ head 10 ─ B reads 10, commits ✓
   *
   * A store that commits asynchronously (the embedded one groups commits on another thread)
   * leaves room for such races that a synchronous one did not. Turns only order this
   * process's commits; the conditions still guard against every other writer.
   */
  async takeTurn(keys: readonly ItemKey[]): Promise<() => void> {
    const ids = keys.map(itemId);
    const before = ids.flatMap((id) => this.#turns.get(id) ?? []);
    let done = () => {};
    const mine = new Promise<void>((resolve) => {
      done = resolve;
    });
    for (const id of ids) this.#turns.set(id, mine);
    // Each earlier turn waited for the ones before it: waiting for the last is enough, and
    // a turn only waits for earlier ones, so turns never wait on each other in a circle.
    await Promise.all(before);
    return () => {
      done();
      for (const id of ids) if (this.#turns.get(id) === mine) this.#turns.delete(id);
    };
  }
}

const itemId = (key: ItemKey) => `${key.pk}\u0000${key.sk}`;
