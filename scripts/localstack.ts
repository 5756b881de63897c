/**
 * The LocalStack path: deploy the real stack into LocalStack with cdklocal, then run the
 * deployed suite (test/localstack) against it.
 *
 *   node scripts/localstack.ts deploy   # npm run deploy:local
 *   node scripts/localstack.ts test     # npm run test:localstack
 *
 * `deploy` bootstraps and deploys with `cdklocal` (aws-cdk-local), writing the stack's
 * outputs to .localstack/outputs.json. `test` reads the API URL and the admin key secret's
 * ARN from that file, fetches the key from LocalStack's Secrets Manager, and runs vitest with
 * test/localstack/vitest.config.ts. Without LocalStack on localhost:4566, `test` says so and
 * exits 0, so it is safe to call anywhere; `deploy` exits 1, as nothing was deployed.
 */

import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

const localstack = 'http://localhost:4566';
const outputsFile = '.localstack/outputs.json';
const notRunning =
  'LocalStack is not running on localhost:4566: start it with `localstack start` (needs Docker), then `npm run deploy:local`';

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** LocalStack's own health endpoint, or undefined if nothing answers within 2 s. */
async function health(): Promise<Record<string, unknown> | undefined> {
  try {
    const response = await fetch(`${localstack}/_localstack/health`, {
      signal: AbortSignal.timeout(2_000),
    });
    if (!response.ok) return undefined;
    const body: unknown = await response.json();
    return isRecord(body) ? body : {};
  } catch {
    return undefined;
  }
}

/** Runs a command with this terminal; resolves to its exit code. */
function run(command: string, args: string[], env: NodeJS.ProcessEnv = process.env) {
  return new Promise<number>((resolve, reject) => {
    const child = spawn(command, args, { stdio: 'inherit', env });
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

async function deploy(): Promise<number> {
  const status = await health();
  if (!status) {
    console.error(notRunning);
    return 1;
  }
  // HTTP APIs (API Gateway v2) are not in LocalStack's free plan; say so before a long deploy
  // fails on them.
  if (status.edition === 'community') {
    console.warn(
      'LocalStack reports its community edition: HTTP APIs (API Gateway v2) need a LocalStack plan that includes them (LOCALSTACK_AUTH_TOKEN). See docs/deploy.md.',
    );
  }
  mkdirSync('.localstack', { recursive: true });
  const cdklocal = ['--no-install', 'cdklocal'];
  const bootstrapped = await run('npx', [...cdklocal, 'bootstrap']);
  if (bootstrapped !== 0) return bootstrapped;
  return run('npx', [
    ...cdklocal,
    'deploy',
    '--require-approval',
    'never',
    '--outputs-file',
    outputsFile,
  ]);
}

interface Deployed {
  readonly url: string;
  readonly secretArn: string;
}

/** The deployed stack's API URL and admin key secret, from `cdklocal deploy`'s outputs. */
function readOutputs(): Deployed {
  let outputs: unknown;
  try {
    outputs = JSON.parse(readFileSync(outputsFile, 'utf8'));
  } catch {
    throw new Error(`No ${outputsFile}: run \`npm run deploy:local\` first`);
  }
  // { "<stack name>": { "ApiUrl": "…", "AdminKeySecretArn": "…", … } }
  for (const stack of isRecord(outputs) ? Object.values(outputs) : []) {
    const apiUrl = isRecord(stack) ? stack.ApiUrl : undefined;
    const secretArn = isRecord(stack) ? stack.AdminKeySecretArn : undefined;
    if (typeof apiUrl === 'string' && typeof secretArn === 'string') {
      return { url: process.env.TRIBUTARY_URL || localstackUrlOf(apiUrl), secretArn };
    }
  }
  throw new Error(
    `${outputsFile} has no stack with ApiUrl and AdminKeySecretArn outputs: deploy with authMode 'apiKey' (the default)`,
  );
}

/**
 * The ApiUrl output is the AWS form, https://<apiId>.execute-api.<region>.<suffix>/;
 * LocalStack serves the same API at http://<apiId>.execute-api.localhost.localstack.cloud:4566/
 * (the name resolves to 127.0.0.1). Set TRIBUTARY_URL to use another address.
 */
function localstackUrlOf(apiUrl: string): string {
  const apiId = new URL(apiUrl).hostname.split('.')[0];
  return `http://${apiId}.execute-api.localhost.localstack.cloud:4566`;
}

async function adminKey(secretArn: string): Promise<string> {
  const client = new SecretsManagerClient({
    endpoint: localstack,
    region: process.env.AWS_REGION || 'us-east-1',
    // LocalStack accepts any credentials.
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  try {
    const secret = await client.send(new GetSecretValueCommand({ SecretId: secretArn }));
    if (!secret.SecretString) throw new Error(`the secret ${secretArn} is empty`);
    return secret.SecretString;
  } finally {
    client.destroy();
  }
}

async function test(): Promise<number> {
  if (!(await health())) {
    console.log(notRunning);
    return 0;
  }
  const deployed = readOutputs();
  const key = await adminKey(deployed.secretArn);
  console.log(`Running test/localstack against ${deployed.url}`);
  return run(
    'npx',
    ['--no-install', 'vitest', 'run', '--config', 'test/localstack/vitest.config.ts'],
    { ...process.env, TRIBUTARY_URL: deployed.url, TRIBUTARY_API_KEY: key },
  );
}

const commands: Record<string, () => Promise<number>> = { deploy, test };
const command = commands[process.argv[2] ?? ''];
if (!command) {
  console.error('usage: node scripts/localstack.ts deploy|test');
  process.exit(2);
}
try {
  process.exitCode = await command();
} catch (error: unknown) {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
}
