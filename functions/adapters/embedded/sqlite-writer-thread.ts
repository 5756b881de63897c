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
 * Gathering. A request a commit answers is usually followed at once by its client's next
 * one. With clients each waiting for their answer, committing whatever is queued the moment
 * the last commit ends splits them into two groups that take turns, each waiting for the
 * other's fsync; waiting for the answered ones to come back first keeps them in one group,
 * one fsync per round. The wait is never longer than a commit takes (then the late ones
 * would have waited for this commit anyway), and there is none when every answered request
 * came back:
 *
 *   commit {A,B}  │ C,D arrive │ commit {C,D} │ A,B arrive  …   two groups take turns
 *   commit {A,B,C,D} │ A,B,C,D arrive │ commit {A,B,C,D} …      one group, one fsync
 *
 * While it expects them the thread looks every tenth of a millisecond rather than ask the
 * store to wake it: waking a sleeping thread costs the waker tens of microseconds (more in
 * a virtual machine), on the event loop every request goes through.
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
/** How often the thread looks for the requests it expects after a commit. */
const dozeMs = 0.1;

// workerData is untyped; the store passes exactly a WriterThreadData.
const { path, requests, answers, signal } = workerData as WriterThreadData;
const db = openWriteConnection(path);
const groups = new CommitGroups(db);
/** Ids of the requests applied since the last commit, in order. */
let queue: number[] = [];
/** Messages taken so far, counted as the store counts them in `signal[postedWord]`. */
let received = 0;
let closing = false;
/** Requests the last commit answered that have not been followed by a new one. */
let awaited = 0;
/** Until when to wait for them: the last commit's end plus about a commit's duration. */
let gatherUntil = 0;
/** How long a commit takes, smoothed. */
let commitMs = 1;

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
      if (awaited > 0) awaited--;
    }
  }
};

const commit = (): void => {
  const ids = queue;
  queue = [];
  const started = performance.now();
  const outcomes = groups.commit();
  const ended = performance.now();
  commitMs = 0.8 * commitMs + 0.2 * (ended - started);
  const reply: [number, WriteOutcome][] = ids.map((id, i) => [
    id,
    outcomes[i] ?? { kind: 'failed', message: 'no outcome' },
  ]);
  answers.postMessage(reply satisfies WriterAnswers);
  // What arrived during the commit was not sent in answer to it.
  drain();
  awaited = ids.length;
  gatherUntil = ended + commitMs;
};

/** Sleeps until the next message is posted, or `ms` passed. */
const sleep = (ms: number): void => {
  Atomics.store(signal, sleepingWord, 1);
  // A message posted from here on sees the thread asleep; one posted before is counted here.
  const posted = Atomics.load(signal, postedWord);
  if (posted === received) Atomics.wait(signal, postedWord, posted, ms);
  Atomics.store(signal, sleepingWord, 0);
};

/**
 * Sleeps `ms` at most, or less if a message is posted before it starts, without asking the
 * store to wake it: for the requests expected right after a commit, when checking every
 * fraction of a millisecond costs less than the store's notification (a wake-up of another
 * thread, expensive in a virtual machine) would.
 */
const doze = (ms: number): void => {
  Atomics.wait(signal, postedWord, Atomics.load(signal, postedWord), ms);
};

for (;;) {
  drain();
  if (closing) break;
  const now = performance.now();
  const expecting = awaited > 0 && now < gatherUntil;
  if (queue.length > 0 && !expecting) {
    commit();
  } else if (expecting) {
    doze(Math.min(dozeMs, gatherUntil - now));
  } else {
    sleep(idleWaitMs);
  }
}
if (queue.length > 0) commit();
db.close();
Atomics.store(signal, closedWord, 1);
Atomics.notify(signal, closedWord);
