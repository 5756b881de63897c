/**
 * The AWS maintenance service through the real @aws-sdk/client-sfn, against a small local
 * endpoint that speaks Step Functions' JSON 1.0 protocol for StartExecution and
 * DescribeExecution, holding executions in memory. It checks what the API does with them:
 * POST /v1/admin/maintenance answers 202 with the run, GET follows it to its report, and ids
 * that are unknown or malformed are a 404 (the malformed ones never sent to AWS).
 */

import { SFNClient } from '@aws-sdk/client-sfn';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  executionArn,
  StepFunctionsMaintenance,
} from '../../../../functions/adapters/aws/step-functions-maintenance.ts';
import { createApp, deferBeforeResponse } from '../../../../functions/app.ts';
import { StorageUnavailableError } from '../../../../functions/core/ports/metadata-store.ts';
import type { Handler } from '../../../../functions/http/handler.ts';
import { silentLogger } from '../../../../functions/http/logger.ts';
import { noCounts } from '../../../../functions/maintenance/report.ts';
import { embedded, type OpenBackend } from '../../../support/backends.ts';
import { StepFunctionsStub } from '../../../support/step-functions-stub.ts';

const report = { passId: 'pass-1', startedAt: 1_700_000_000_500, ...noCounts() };

describe('maintenance on Step Functions', () => {
  const stub = new StepFunctionsStub();
  const { stateMachineArn } = stub;
  let client: SFNClient;
  let service: StepFunctionsMaintenance;
  beforeAll(async () => {
    const endpoint = await stub.start();
    client = new SFNClient({
      endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
      maxAttempts: 1,
    });
    service = new StepFunctionsMaintenance(client, stateMachineArn);
  });
  afterAll(async () => {
    client.destroy();
    await stub.close();
  });
  beforeEach(() => {
    stub.calls.length = 0;
  });

  it('starts an execution named by a fresh UUID, which is the run id', async () => {
    const first = await service.run();
    const second = await service.run();
    expect(first).toEqual({
      kind: 'started',
      run: { id: expect.any(String), status: 'RUNNING', startedAt: 1_700_000_000_500 },
    });
    expect(first.run.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(second.run.id).not.toBe(first.run.id);
    expect(stub.calls[0]).toEqual({
      target: 'AWSStepFunctions.StartExecution',
      body: { stateMachineArn, name: first.run.id, input: '{}' },
    });
  });

  it('describes a run from its execution: status, times, and the report when it succeeded', async () => {
    const { run } = await service.run();
    expect(await service.describe(run.id)).toEqual({
      id: run.id,
      status: 'RUNNING',
      startedAt: 1_700_000_000_500,
    });
    const arn = executionArn(stateMachineArn, run.id);
    expect(arn).toBe(`arn:aws:states:us-east-1:123456789012:execution:Maintenance-Ab12:${run.id}`);
    Object.assign(stub.executions.get(arn) ?? {}, {
      status: 'SUCCEEDED',
      stopDate: 1_700_000_060,
      output: JSON.stringify({ report: { ...report, finishedAt: 1, chunksDeleted: 3 } }),
    });
    expect(await service.describe(run.id)).toEqual({
      id: run.id,
      status: 'SUCCEEDED',
      startedAt: 1_700_000_000_500,
      stoppedAt: 1_700_000_060_000,
      report: { ...report, finishedAt: 1, chunksDeleted: 3 },
    });
    expect(stub.calls.at(-1)).toEqual({
      target: 'AWSStepFunctions.DescribeExecution',
      body: { executionArn: arn },
    });
  });

  it('follows an execution that handed its pass on, to the one that finished it', async () => {
    const { run } = await service.run();
    const arns = [run.id, 'cont-1', 'cont-2'].map((name) => executionArn(stateMachineArn, name));
    const [first, second, third] = arns as [string, string, string];
    Object.assign(stub.executions.get(first) ?? {}, {
      status: 'SUCCEEDED',
      stopDate: 1_700_000_010,
      output: JSON.stringify({ continuedAs: second }),
    });
    stub.executions.set(second, {
      executionArn: second,
      status: 'SUCCEEDED',
      startDate: 1_700_000_010,
      output: JSON.stringify({ continuedAs: third }),
    });
    stub.executions.set(third, {
      executionArn: third,
      status: 'RUNNING',
      startDate: 1_700_000_020,
    });
    expect(await service.describe(run.id)).toEqual({
      id: run.id,
      status: 'RUNNING',
      startedAt: 1_700_000_000_500,
    });
    Object.assign(stub.executions.get(third) ?? {}, {
      status: 'SUCCEEDED',
      stopDate: 1_700_000_030,
      output: JSON.stringify({ report }),
    });
    expect(await service.describe(run.id)).toMatchObject({
      status: 'SUCCEEDED',
      startedAt: 1_700_000_000_500,
      stoppedAt: 1_700_000_030_000,
      report,
    });
  });

  it.each(['FAILED', 'TIMED_OUT', 'ABORTED'] as const)(
    'reports an execution that ended %s, without a report',
    async (status) => {
      const { run } = await service.run();
      Object.assign(stub.executions.get(executionArn(stateMachineArn, run.id)) ?? {}, {
        status,
        stopDate: 1_700_000_070,
      });
      expect(await service.describe(run.id)).toEqual({
        id: run.id,
        status,
        startedAt: 1_700_000_000_500,
        stoppedAt: 1_700_000_070_000,
      });
    },
  );

  it('knows no run Step Functions has no execution for', async () => {
    expect(await service.describe('0b7e2c1a-6f0e-4c6b-9d7e-3f1a2b3c4d5e')).toBeUndefined();
    expect(stub.calls).toHaveLength(1);
  });

  it('never sends a malformed id to AWS', async () => {
    for (const id of ['nope', '', '../x', 'a'.repeat(36), 'arn:aws:states:x', 'A'.repeat(80)]) {
      expect(await service.describe(id)).toBeUndefined();
    }
    expect(stub.calls).toEqual([]);
  });

  it('turns throttling and outages into a retryable storage error, and passes others on', async () => {
    stub.failures.push({ status: 400, type: 'ThrottlingException' });
    await expect(service.run()).rejects.toMatchObject({
      name: 'StorageUnavailableError',
      throttled: true,
    });
    stub.failures.push({ status: 500, type: 'InternalServerError' });
    const error = await service
      .describe('0b7e2c1a-6f0e-4c6b-9d7e-3f1a2b3c4d5e')
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StorageUnavailableError);
    expect(error).toMatchObject({ throttled: false });
    stub.failures.push({ status: 400, type: 'StateMachineDoesNotExist' });
    await expect(service.run()).rejects.toMatchObject({ name: 'StateMachineDoesNotExist' });
  });

  describe('through the API', () => {
    let stores: OpenBackend;
    let app: Handler;
    beforeAll(async () => {
      stores = await embedded.open();
      app = createApp({
        ...stores,
        log: silentLogger,
        cacheBytes: 1 << 20,
        defer: deferBeforeResponse(silentLogger),
        maintenance: () => service,
      });
    });
    afterAll(() => stores.close());

    const call = async (method: string, path: string, body?: unknown) => {
      const result = await app({
        version: '2.0',
        routeKey: '$default',
        rawPath: path,
        rawQueryString: '',
        headers: { 'content-type': 'application/json' },
        requestContext: { http: { method }, requestId: 'r-1' },
        ...(body !== undefined && { body: JSON.stringify(body) }),
        isBase64Encoded: false,
      } as unknown as APIGatewayProxyEventV2); // only the fields the handler reads
      return { status: result.statusCode, body: JSON.parse(String(result.body ?? 'null')) };
    };

    it('answers POST with 202 and the run, and GET with its state', async () => {
      const started = await call('POST', '/v1/admin/maintenance', {});
      expect(started.status).toBe(202);
      expect(started.body).toMatchObject({ status: 'RUNNING', startedAt: 1_700_000_000_500 });
      const { id } = started.body;
      const running = await call('GET', `/v1/admin/maintenance/${id}`);
      expect(running).toEqual({ status: 200, body: started.body });
      Object.assign(stub.executions.get(executionArn(stateMachineArn, id)) ?? {}, {
        status: 'SUCCEEDED',
        stopDate: 1_700_000_060,
        output: JSON.stringify({ report }),
      });
      const done = await call('GET', `/v1/admin/maintenance/${id}`);
      expect(done.body).toMatchObject({ id, status: 'SUCCEEDED', report });
    });

    it('answers 404 for a run it does not know, and 503 when Step Functions is down', async () => {
      for (const id of ['0b7e2c1a-6f0e-4c6b-9d7e-3f1a2b3c4d5e', 'not-a-run']) {
        const unknown = await call('GET', `/v1/admin/maintenance/${id}`);
        expect(unknown.status).toBe(404);
        expect(unknown.body.error.code).toBe('MAINTENANCE_RUN_NOT_FOUND');
      }
      stub.failures.push({ status: 503, type: 'ServiceUnavailable' });
      const down = await call('POST', '/v1/admin/maintenance', {});
      expect(down.status).toBe(503);
      expect(down.body.error.code).toBe('STORAGE_UNAVAILABLE');
    });
  });
});
