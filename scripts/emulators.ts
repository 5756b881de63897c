/**
 * `npm run emulators`: DynamoDB Local and the S3 emulator (fauxqs), both installed by
 * `npm install`, on loopback, so `TRIBUTARY_STORE=aws npm start` runs the AWS adapters on a
 * laptop with no AWS account. In memory: Ctrl-C stops both and forgets their data.
 * DYNAMODB_PORT (default 8000) and S3_PORT (default 4566) move them; 0 picks free ports.
 */
import { startEmulators } from '../test/support/emulators.ts';

function port(name: string, fallback: number): number {
  const raw = process.env[name];
  const value = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isInteger(value) || value < 0 || value > 65_535) {
    process.stderr.write(
      `The emulators could not start: ${name} must be a port (0-65535); got '${raw}'.\n`,
    );
    process.exit(1);
  }
  return value;
}

let emulators: Awaited<ReturnType<typeof startEmulators>>;
try {
  emulators = await startEmulators({
    dynamodb: port('DYNAMODB_PORT', 8000),
    s3: port('S3_PORT', 4566),
  });
} catch (error: unknown) {
  const message = error instanceof Error ? error.message : String(error);
  const inUse = /EADDRINUSE|already in use/i.test(message);
  process.stderr.write(
    inUse
      ? 'The emulators could not start: a port is in use (emulators already running?). Stop them, or set DYNAMODB_PORT and S3_PORT.\n'
      : `The emulators could not start: ${message.split('\n')[0]}\n`,
  );
  process.exit(1);
}
const { dynamodb, s3 } = emulators.endpoints;
process.stdout.write(`DynamoDB Local on ${dynamodb}, the S3 emulator on ${s3} (in memory; Ctrl-C stops both).
In another terminal:
  TRIBUTARY_STORE=aws TRIBUTARY_TABLE=tributary TRIBUTARY_BUCKET=tributary-segments AWS_REGION=us-east-1 \\
  AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local \\
  AWS_ENDPOINT_URL_DYNAMODB=${dynamodb} AWS_ENDPOINT_URL_S3=${s3} \\
  npm start
`);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void emulators.stop().then(() => process.exit(0));
  });
}
