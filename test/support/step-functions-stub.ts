import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { executionArn } from '../../functions/adapters/aws/step-functions-maintenance.ts';

export interface StubExecution {
  executionArn: string;
  status: string;
  startDate: number;
  stopDate?: number;
  output?: string;
}

/**
 * Step Functions as far as the maintenance service uses it: StartExecution and
 * DescribeExecution over the JSON 1.0 protocol, on a loopback port, with executions kept in
 * memory for a test to move along (`executions`), calls recorded, and failures to answer
 * with on demand.
 */
export class StepFunctionsStub {
  readonly stateMachineArn = 'arn:aws:states:us-east-1:123456789012:stateMachine:Maintenance-Ab12';
  readonly executions = new Map<string, StubExecution>();
  readonly calls: { target: string; body: Record<string, unknown> }[] = [];
  /** Answers the next calls with these errors instead, in order. */
  readonly failures: { status: number; type: string }[] = [];
  #server: Server | undefined;

  async start(): Promise<string> {
    this.#server = createServer((request, response) => {
      let text = '';
      request.on('data', (chunk: Buffer) => {
        text += chunk.toString('utf8');
      });
      request.on('end', () => {
        const target = String(request.headers['x-amz-target'] ?? '');
        const body: Record<string, unknown> = JSON.parse(text || '{}');
        this.calls.push({ target, body });
        const [status, answer] = this.#answer(target, body);
        response.writeHead(status, { 'content-type': 'application/x-amz-json-1.0' });
        response.end(JSON.stringify(answer));
      });
    });
    this.#server.listen(0, '127.0.0.1');
    await once(this.#server, 'listening');
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  #answer(target: string, body: Record<string, unknown>): [number, unknown] {
    const failure = this.failures.shift();
    if (failure) return [failure.status, { __type: failure.type, message: 'stubbed failure' }];
    if (target === 'AWSStepFunctions.StartExecution') {
      const arn = executionArn(String(body.stateMachineArn), String(body.name));
      const startDate = 1_700_000_000.5;
      this.executions.set(arn, { executionArn: arn, status: 'RUNNING', startDate });
      return [200, { executionArn: arn, startDate }];
    }
    if (target === 'AWSStepFunctions.DescribeExecution') {
      const execution = this.executions.get(String(body.executionArn));
      if (!execution) {
        return [400, { __type: 'ExecutionDoesNotExist', message: 'Execution Does Not Exist' }];
      }
      return [
        200,
        {
          ...execution,
          stateMachineArn: this.stateMachineArn,
          name: execution.executionArn.split(':')[7],
        },
      ];
    }
    return [400, { __type: 'UnknownOperationException' }];
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.#server?.close(() => resolve()) ?? resolve());
  }
}
