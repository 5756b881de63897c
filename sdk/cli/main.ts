/**
 * The `tributary` command, started by sdk/bin/tributary.js (which checks the Node.js
 * version first). In this repository: `npx tributary …`.
 */
import * as nodeModule from 'node:module';

// Reuse compiled (and type-stripped) modules across runs: a third of the start-up time of
// a short command. Enabled before the CLI's modules load, hence the dynamic import.
// (Node.js 22.0 has no compile cache.)
nodeModule.enableCompileCache?.();
const { main } = await import('./cli.ts');

// A reader that goes away (`| head`) fails the pending write with EPIPE, which the command
// sees through its write callback; without a listener the stream's 'error' would crash.
process.stdout.on('error', () => undefined);

const code = await main(process.argv.slice(2));
// Everything printed has been handed to the OS (see output.ts); exit without waiting for
// idle keep-alive sockets or a stdin that was never read to the end.
process.exit(code);
