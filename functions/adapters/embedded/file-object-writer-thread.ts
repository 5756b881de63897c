/**
 * An object writer thread: writes each object it is sent durably (FileSegmentStore's
 * writeObject), one at a time, and answers when it is in place. See file-object-writer.ts.
 */

import { parentPort } from 'node:worker_threads';
import type { WriteAnswer, WriteRequest } from './file-object-writer.ts';
import { writeObject } from './file-segment-store.ts';

const port = parentPort;
if (!port) throw new Error('file-object-writer-thread.ts runs as a worker thread');

// The store posts only WriteRequest messages, one at a time.
port.on('message', ({ id, path, buffer, length }: WriteRequest) => {
  let answer: WriteAnswer;
  try {
    writeObject(path, new Uint8Array(buffer, 0, length));
    answer = { id };
  } catch (error: unknown) {
    const message = error instanceof Error ? error.message : String(error);
    const code = error instanceof Error && 'code' in error ? String(error.code) : undefined;
    answer = { id, error: { message, ...(code !== undefined && { code }) } };
  }
  port.postMessage(answer);
});
