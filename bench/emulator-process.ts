/**
 * Runs DynamoDB Local and the S3 emulator in a process of their own, so the emulators'
 * work (fauxqs runs in-process) does not share the server's event loop. Prints the
 * endpoints as one JSON line on stdout, then stops the emulators and exits when its stdin
 * closes — which also happens when the bench process dies — or on SIGTERM/SIGINT.
 *
 * Started by bench/run.ts; not meant to be run by hand.
 */

import { startEmulators } from '../test/support/emulators.ts';

const emulators = await startEmulators();
process.stdout.write(`${JSON.stringify(emulators.endpoints)}\n`);

let stopping = false;
const stop = (): void => {
  if (stopping) return;
  stopping = true;
  emulators.stop().then(
    () => process.exit(0),
    (error: unknown) => {
      process.stderr.write(`stopping the emulators failed: ${String(error)}\n`);
      process.exit(1);
    },
  );
};

process.stdin.on('end', stop);
process.stdin.on('error', stop);
process.stdin.resume();
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
