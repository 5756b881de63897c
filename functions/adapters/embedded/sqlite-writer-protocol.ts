/**
 * What the embedded metadata store and its writer thread (sqlite-writer-thread.ts) pass
 * each other. A module of its own, since importing the thread's module would run it.
 */

import type { MessagePort } from 'node:worker_threads';
import type { WriteOutcome, WriteRequest } from './sqlite-commit-group.ts';

export interface WriterThreadData {
  readonly path: string;
  /** The store posts {@link WriterMessage}s here. */
  readonly requests: MessagePort;
  /** The thread posts {@link WriterAnswers} here. */
  readonly answers: MessagePort;
  /** Int32 words: see {@link postedWord} and the words after it. */
  readonly signal: Int32Array;
}

/** Messages posted so far: the store adds one after each (it wraps round past 2^31 - 1). */
export const postedWord = 0;
/** 1 while the thread sleeps until the next message, else 0: only then does it want a notify. */
export const sleepingWord = 1;
/** 0 while open; the thread sets 1, and notifies, once its connection is closed. */
export const closedWord = 2;
export const signalWords = 3;

export type WriterMessage =
  | { readonly id: number; readonly request: WriteRequest }
  | { readonly close: true };

/** One group's answers, after its COMMIT. */
export type WriterAnswers = readonly (readonly [id: number, outcome: WriteOutcome])[];
