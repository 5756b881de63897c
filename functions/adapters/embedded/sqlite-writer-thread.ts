/**
 * The embedded metadata store's writer: a worker thread holding the one connection that
 * writes, so that a commit's fsync never blocks the server's event loop. Requests that
 * arrive while a commit is under way wait for it and go into the next group together
 * (sqlite-commit-group.ts): one fsync for all of them.
 *
 * Protocol (sqlite-writer-protocol.ts). The store posts `{ id, request }` or
 * `{ close: true }` on `requests`, then adds one to `signal[postedWord]`, and notifies that
 * word if the thread sleeps until the next message. The thread sleeps on that word
 * (Atomics.wait), not in an event loop, so it can also wait a fraction of a millisecond.
 * Answers go back on `answers`, `[id, outcome][]` once per group, after its COMMIT. On close
 * the queue is committed and answered first, the connection closed, and then
 * `signal[closedWord]` set to 1 and notified, so the store can wait for it synchronously.
 *
 * Each request is applied as soon as the thread takes it, in the open transaction of the
 * next group; the group is committed as soon as the thread is free, that is, once the
 * commit before has returned: what arrives during a commit goes into the next one.
 *
 * Between commits the thread looks for new requests every tenth of a millisecond for a
 * while, rather than sleep until the store wakes it: waking a sleeping thread costs the
 * waker tens of microseconds (more in a virtual machine), on the event loop every request
 * goes through. Only when no request came for a while does it sleep until the next.
 */

import { receiveMessageOnPort, workerData } from 'node:worker_threads';
import { CommitGroups, openWriteConnection, type WriteOutcome } from './sqlite-commit-group.ts';
import {
  closedWord,
  postedWord,
  sleepingWord,
  type WriterAnswers,
  type WriterMessage,
  type WriterThreadData,
} from './sqlite-writer-protocol.ts';

/** How long an idle thread sleeps before looking again (it is woken on every request). */
const idleWaitMs = 1_000;
/** How often the thread looks for requests after a commit, and for how long. */
const dozeMs = 0.1;
const dozeForMs = 2;

// workerData is untyped; the store passes exactly a WriterThreadData.
const { path, requests, answers, signal } = workerData as WriterThreadData;
const db = openWriteConnection(path);
const groups = new CommitGroups(db);
/** Ids of the requests applied since the last commit, in order. */
let queue: number[] = [];
/** Messages taken so far, counted as the store counts them in `signal[postedWord]`. */
let received = 0;
let closing = false;
/** When the thread last committed. */
let busyAt = 0;

/** Takes every message posted so far. */
const drain = (): void => {
  for (let m = receiveMessageOnPort(requests); m; m = receiveMessageOnPort(requests)) {
    // The port carries only what the store posts: WriterMessage.
    const message = m.message as WriterMessage;
    received = (received + 1) | 0;
    if ('close' in message) {
      closing = true;
    } else {
      // Applied at once, in the group's open transaction: the commit then only has to COMMIT.
      groups.add(message.request);
      queue.push(message.id);
    }
  }
};

const commit = (): void => {
  const ids = queue;
  queue = [];
  const outcomes = groups.commit();
  const reply: [number, WriteOutcome][] = ids.map((id, i) => [
    id,
    outcomes[i] ?? { kind: 'failed', message: 'no outcome' },
  ]);
  answers.postMessage(reply satisfies WriterAnswers);
  busyAt = performance.now();
};

/** Sleeps until the next message is posted, or `ms` passed. */
const sleep = (ms: number): void => {
  Atomics.store(signal, sleepingWord, 1);
  // A message posted from here on sees the thread asleep; one posted before is counted here.
  const posted = Atomics.load(signal, postedWord);
  if (posted === received) Atomics.wait(signal, postedWord, posted, ms);
  Atomics.store(signal, sleepingWord, 0);
};

/** Sleeps `ms` at most, or less if a message is posted before it starts; no notify is asked. */
const doze = (ms: number): void => {
  Atomics.wait(signal, postedWord, Atomics.load(signal, postedWord), ms);
};

for (;;) {
  drain();
  if (closing) break;
  if (queue.length > 0) {
    commit();
  } else if (performance.now() - busyAt < dozeForMs) {
    doze(dozeMs);
  } else {
    sleep(idleWaitMs);
  }
}
if (queue.length > 0) commit();
db.close();
Atomics.store(signal, closedWord, 1);
Atomics.notify(signal, closedWord);
