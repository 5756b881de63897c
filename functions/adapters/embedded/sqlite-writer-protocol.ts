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
  /** Int32 words: {@link postedWord} and {@link closedWord}. */
  readonly signal: Int32Array;
}

/** Requests posted so far: the store adds one after each message, and notifies. */
export const postedWord = 0;
/** 0 while open; the thread sets 1, and notifies, once its connection is closed. */
export const closedWord = 1;

export type WriterMessage =
  | { readonly id: number; readonly request: WriteRequest }
  | { readonly close: true };

/** One group's answers, after its COMMIT. */
export type WriterAnswers = readonly (readonly [id: number, outcome: WriteOutcome])[];
