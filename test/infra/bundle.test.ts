/**
 * The bundles `cdk deploy` uploads are the code that was tested: this file synthesizes the
 * stack, takes each function's asset exactly as the CDK bundled it, and runs it in a fresh
 * Node process the way Lambda does — environment from the template, nothing but the bundle
 * on disk — against the emulators.
 * - The API function: create a topic, produce, fetch, start a maintenance run. Auth is on,
 *   as deployed: the cold start reads the admin key from the secret the template names, here
 *   served by a stub of Secrets Manager's GetSecretValue (the emulators have no Secrets
 *   Manager), and requests without the key are refused. The run is started on a stub of
 *   Step Functions (test/support/step-functions-stub.ts).
 * - The maintenance function: the steps of a pass, as the state machine invokes them, and
 *   the metrics its last step publishes.
 */

import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import {
  copyFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, parse } from 'node:path';
import { promisify } from 'node:util';
import { Template } from 'aws-cdk-lib/assertions';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, inject, it, onTestFinished } from 'vitest';
import { StepFunctionsStub } from '../support/step-functions-stub.ts';
import { type Synthesized, synthesize } from './synthesize.ts';
import { at, isRecord, resourceOf } from './template.ts';

const run = promisify(execFile);

/** Imports the bundle as Lambda would, runs the events in order, writes the results. */
const invoker = `
import { readFileSync, writeFileSync } from 'node:fs';
const { handler } = await import('./index.mjs');
const events = JSON.parse(readFileSync('./events.json', 'utf8'));
const results = [];
for (const event of events) results.push(await handler(event, {}));
writeFileSync('./results.json', JSON.stringify(results));
`;

/**
 * Runs the steps of a pass through the maintenance bundle as the state machine would, each
 * step's input made from the one before, and writes each step's output or error.
 */
const maintenanceInvoker = `
import { writeFileSync } from 'node:fs';
const { handler } = await import('./index.mjs');
const results = {};
const step = async (name, event) => {
  try {
    results[name] = { output: await handler(event, {}) };
  } catch (error) {
    results[name] = { error: String(error) };
  }
  return results[name].output;
};
await step('malformed', { step: 'sweep', input: {} });
const { passId } = await step('begin', { step: 'begin', input: {} });
await step('plan', { step: 'plan', input: { passId, results: [] } });
await step('finish', { step: 'finish', input: { passId } });
writeFileSync('./results.json', JSON.stringify(results));
`;

interface Asset {
  /** A directory holding the bundle and nothing else. */
  readonly dir: string;
  /** The function's environment in the template. */
  readonly env: Record<string, unknown>;
}

/** A function's bundle, copied on its own, with the environment the template gives it. */
const assetOf = (synthesized: Synthesized, fn: NodejsFunction, invoke: string): Asset => {
  const { stack } = synthesized;
  const [, resource] = resourceOf(Template.fromStack(stack), stack.resolve(fn.functionArn));
  const key = at(resource, 'Properties', 'Code', 'S3Key');
  const variables = at(resource, 'Properties', 'Environment', 'Variables');
  if (typeof key !== 'string') throw new Error('the function has no S3 asset');
  // The asset directory is named for the asset hash, which is also its S3 key.
  const assetDir = join(synthesized.outdir, `asset.${key.replace(/\.zip$/, '')}`);
  const dir = mkdtempSync(join(tmpdir(), 'tributary-bundle-'));
  // Everything bundled beside the code (the API's openapi.yaml among it).
  for (const file of readdirSync(assetDir)) copyFileSync(join(assetDir, file), join(dir, file));
  writeFileSync(join(dir, 'invoke.mjs'), invoke);
  return { dir, env: isRecord(variables) ? variables : {} };
};

/** The template's values, less the references CloudFormation resolves at deploy time. */
const literalEnv = (asset: Asset): Record<string, string> =>
  Object.fromEntries(
    Object.entries(asset.env).filter((entry): entry is [string, string] => {
      return typeof entry[1] === 'string';
    }),
  );

/** What Lambda gives every function here: a region, credentials, the emulators' endpoints. */
const emulatedAwsEnv = () => {
  const { dynamodb, s3 } = inject('emulators');
  return {
    AWS_REGION: 'us-east-1',
    // Any credentials will do, but DynamoDB Local wants an alphanumeric key id.
    AWS_ACCESS_KEY_ID: 'tributarytest',
    AWS_SECRET_ACCESS_KEY: 'tributarytest',
    AWS_ENDPOINT_URL_DYNAMODB: dynamodb,
    AWS_ENDPOINT_URL_S3: s3,
  };
};

const event = (
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): APIGatewayProxyEventV2 => {
  const [rawPath = path, rawQueryString = ''] = path.split('?');
  const now = Date.now();
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath,
    rawQueryString,
    headers: { 'content-type': 'application/json', host: 'bundle.test', ...headers },
    ...(rawQueryString !== '' && {
      queryStringParameters: Object.fromEntries(new URLSearchParams(rawQueryString)),
    }),
    requestContext: {
      accountId: '123456789012',
      apiId: 'bundle',
      domainName: 'bundle.test',
      domainPrefix: 'bundle',
      http: { method, path: rawPath, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: '' },
      requestId: randomUUID(),
      routeKey: '$default',
      stage: '$default',
      time: new Date(now).toISOString(),
      timeEpoch: now,
    },
    ...(body !== undefined && { body: JSON.stringify(body) }),
    isBase64Encoded: false,
  };
};

const bodyOf = (result: APIGatewayProxyStructuredResultV2 | undefined): unknown =>
  JSON.parse(result?.body ?? 'null');

/**
 * Answers GetSecretValue (AWS JSON 1.1) for one secret, as Secrets Manager would, and
 * records the ids asked for.
 */
const secretsManagerStub = async (arn: string, secretString: string) => {
  const asked: unknown[] = [];
  const server: Server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => {
      body += chunk.toString('utf8');
    });
    request.on('end', () => {
      const input: unknown = JSON.parse(body || '{}');
      const secretId = isRecord(input) ? input.SecretId : undefined;
      asked.push(secretId);
      const known =
        request.headers['x-amz-target'] === 'secretsmanager.GetSecretValue' && secretId === arn;
      response.writeHead(known ? 200 : 400, { 'content-type': 'application/x-amz-json-1.1' });
      response.end(
        JSON.stringify(
          known
            ? { ARN: arn, Name: 'admin-key', SecretString: secretString, VersionId: 'v1' }
            : { __type: 'ResourceNotFoundException', message: 'Secrets Manager cannot find it' },
        ),
      );
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    asked,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
};

let synthesized: Synthesized;
beforeAll(() => {
  synthesized = synthesize();
});
afterAll(() => synthesized?.remove());

describe('the deployed API bundle', () => {
  let asset: Asset;
  beforeAll(() => {
    asset = assetOf(synthesized, synthesized.stack.tributary.handler, invoker);
  });
  afterAll(() => rmSync(asset.dir, { recursive: true, force: true }));

  it('has nothing to resolve outside itself', () => {
    // No node_modules anywhere above the copy: a dependency left external would fail to load.
    for (let dir = asset.dir; ; dir = dirname(dir)) {
      expect(existsSync(join(dir, 'node_modules')), `${dir}/node_modules`).toBe(false);
      if (dir === parse(dir).root) break;
    }
    const bundle = readFileSync(join(asset.dir, 'index.mjs'), 'utf8');
    // The SDK clients are inside, not taken from the runtime.
    expect(bundle).not.toMatch(/from\s*["']@aws-sdk\//);
    expect(bundle).toContain('TransactWriteItems');
    expect(bundle).toContain('StartExecution');
  });

  it('reads its admin key from the secret, refuses requests without it, produces and fetches against DynamoDB and S3, and starts maintenance on Step Functions', async () => {
    const suffix = randomUUID().slice(0, 8);
    const secretArn = `arn:aws:secretsmanager:us-east-1:123456789012:secret:admin-${suffix}-AbCdEf`;
    const adminKey = randomUUID().replaceAll('-', '');
    const secrets = await secretsManagerStub(secretArn, adminKey);
    onTestFinished(() => secrets.close());
    const stepFunctions = new StepFunctionsStub();
    const stepFunctionsEndpoint = await stepFunctions.start();
    onTestFinished(() => stepFunctions.close());
    const deployed = literalEnv(asset);
    expect(deployed).toMatchObject({ TRIBUTARY_STORE: 'aws', TRIBUTARY_AUTH: 'on' });
    const env = {
      ...deployed,
      ...emulatedAwsEnv(),
      TRIBUTARY_TABLE: `tributary-bundle-${suffix}`,
      TRIBUTARY_BUCKET: `tributary-bundle-${suffix}`,
      TRIBUTARY_ADMIN_KEY_SECRET_ARN: secretArn,
      TRIBUTARY_STATE_MACHINE_ARN: stepFunctions.stateMachineArn,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.endpoint,
      AWS_ENDPOINT_URL_SFN: stepFunctionsEndpoint,
    };
    expect(Object.keys(env)).toEqual(expect.arrayContaining(Object.keys(asset.env)));

    const admin = { authorization: `Bearer ${adminKey}` };
    const events = [
      event('POST', '/v1/topics', { name: 'refused', partitions: 1 }),
      event('POST', '/v1/topics', { name: 'orders', partitions: 1 }, admin),
      event(
        'POST',
        '/v1/topics/orders/records',
        { records: [{ key: 'order-1', value: { total: 42 }, partition: 0 }] },
        admin,
      ),
      event('GET', '/v1/topics/orders/partitions/0/records?offset=0', undefined, admin),
      event('POST', '/v1/admin/maintenance', {}, admin),
      // Public, and read from the file bundled beside the code.
      event('GET', '/v1/openapi.json'),
      // No origin is allowed unless the deployment names some: no CORS headers.
      event('OPTIONS', '/v1/topics', undefined, {
        origin: 'https://app.example.com',
        'access-control-request-method': 'POST',
      }),
      event('HEAD', '/v1/topics/orders/partitions/0/records?offset=0', undefined, admin),
    ];
    writeFileSync(join(asset.dir, 'events.json'), JSON.stringify(events));
    await run(process.execPath, ['invoke.mjs'], { cwd: asset.dir, env, timeout: 60_000 });
    const results: APIGatewayProxyStructuredResultV2[] = JSON.parse(
      readFileSync(join(asset.dir, 'results.json'), 'utf8'),
    );

    // Read once, at cold start, from the secret the template names.
    expect(secrets.asked).toEqual([secretArn]);
    const [refused, created, produced, fetched, maintenance, openapi, preflight, head] = results;
    expect(refused?.statusCode, refused?.body).toBe(401);
    expect(created?.statusCode, created?.body).toBe(201);
    expect(produced?.statusCode, produced?.body).toBe(200);
    expect(fetched?.statusCode, fetched?.body).toBe(200);
    expect(bodyOf(fetched)).toMatchObject({
      records: [{ offset: 0, key: 'order-1', value: { total: 42 }, headers: [] }],
      nextOffset: 1,
      highWatermark: 1,
    });
    expect(openapi?.statusCode).toBe(200);
    expect(bodyOf(openapi)).toMatchObject({ openapi: expect.stringMatching(/^3\.1\./) });
    expect(preflight?.statusCode).toBe(204);
    expect(preflight?.headers).toMatchObject({ allow: 'GET, HEAD, POST, OPTIONS' });
    expect(preflight?.headers).not.toHaveProperty('access-control-allow-origin');
    // HEAD is the fetch's GET without its body.
    expect(head?.statusCode).toBe(200);
    expect(head?.body).toBeUndefined();
    expect(head?.headers).toMatchObject({
      'content-length': String(Buffer.byteLength(fetched?.body ?? '')),
    });
    // Deployed, a maintenance run is an execution of the state machine the template names.
    expect(maintenance?.statusCode, maintenance?.body).toBe(202);
    expect(bodyOf(maintenance)).toMatchObject({ status: 'RUNNING' });
    expect(stepFunctions.calls).toEqual([
      {
        target: 'AWSStepFunctions.StartExecution',
        body: expect.objectContaining({ stateMachineArn: stepFunctions.stateMachineArn }),
      },
    ]);
  });
});

describe('the deployed maintenance bundle', () => {
  let asset: Asset;
  beforeAll(() => {
    asset = assetOf(
      synthesized,
      synthesized.stack.tributary.maintenance.handler,
      maintenanceInvoker,
    );
  });
  afterAll(() => rmSync(asset.dir, { recursive: true, force: true }));

  it('cold-starts on the template’s environment and runs the steps of a pass against DynamoDB and S3', async () => {
    const suffix = randomUUID().slice(0, 8);
    const deployed = literalEnv(asset);
    expect(deployed).toMatchObject({ TRIBUTARY_STORE: 'aws', TRIBUTARY_ORPHAN_GRACE_MS: '600000' });
    const env = {
      ...deployed,
      ...emulatedAwsEnv(),
      TRIBUTARY_TABLE: `tributary-maintenance-${suffix}`,
      TRIBUTARY_BUCKET: `tributary-maintenance-${suffix}`,
    };
    expect(Object.keys(env)).toEqual(expect.arrayContaining(Object.keys(asset.env)));

    const { stdout } = await run(process.execPath, ['invoke.mjs'], {
      cwd: asset.dir,
      env,
      timeout: 60_000,
    });
    const results = JSON.parse(readFileSync(join(asset.dir, 'results.json'), 'utf8'));
    expect(results.malformed.error).toMatch(/not a maintenance step/);
    const passId = results.begin.output?.passId;
    expect(passId).toMatch(/^[0-9a-f-]{36}$/);
    // An empty store: nothing to plan, and a report of nothing done.
    expect(results.plan.output).toEqual({ passId, items: [], done: true });
    expect(results.finish.output.report).toMatchObject({
      passId,
      chunksDeleted: 0,
      failures: 0,
      durationMs: expect.any(Number),
    });
    // The finishing step's metrics, in embedded metric format, in the template's namespace.
    const emf = stdout
      .split('\n')
      .filter((line) => line.includes('"_aws"'))
      .map((line) => JSON.parse(line));
    expect(emf).toHaveLength(1);
    expect(emf[0]._aws.CloudWatchMetrics[0]).toMatchObject({
      Namespace: deployed.POWERTOOLS_METRICS_NAMESPACE,
      Dimensions: [['service']],
    });
    expect(emf[0]).toMatchObject({
      service: 'tributary',
      MaintenanceFailures: 0,
      MaintenanceBytesFreed: 0,
      MaintenancePassDurationMs: results.finish.output.report.durationMs,
    });
  });
});
