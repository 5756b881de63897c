import { randomUUID } from 'node:crypto';
import {
  DescribeExecutionCommand,
  type DescribeExecutionCommandOutput,
  type SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { countsFromJson, type MaintenanceReport } from '../../maintenance/report.ts';
import type { MaintenanceRun, MaintenanceService } from '../../maintenance/service.ts';
import { errorName, errorTranslation } from './aws-errors.ts';

/** Step Functions' transient failures, as the other adapters report theirs. */
const { translated } = errorTranslation({
  throttledCodes: new Set(['ThrottlingException', 'TooManyRequestsException']),
  unavailableCodes: new Set(['InternalServerError', 'ServiceUnavailable', 'ServiceException']),
  throttledStatuses: new Set([429]),
  unavailableStatuses: new Set([500, 502, 503, 504]),
});

/** Run ids are the execution names this adapter gives: lowercase UUIDs. */
const runId = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Executions a pass may be spread over before `describe` stops following it (and answers
 * RUNNING): an execution hands the rest of its pass to a new one after about 120 work items
 * (infra/maintenance.ts), so this covers passes of some 12,000.
 */
const maxContinuations = 100;

/**
 * Maintenance on AWS: `run()` starts an execution of the maintenance state machine and
 * answers at once; the run's id is the execution's name, and `describe` reads the execution
 * back. An execution that reaches its budget of work hands its pass to a new execution and
 * ends with `{ continuedAs: <execution ARN> }`: `describe` follows those to the execution that
 * is running the pass, or that finished it with `{ report }`.
 */
export class StepFunctionsMaintenance implements MaintenanceService {
  readonly #client: SFNClient;
  readonly #stateMachineArn: string;

  constructor(client: SFNClient, stateMachineArn: string) {
    this.#client = client;
    this.#stateMachineArn = stateMachineArn;
  }

  async run(): Promise<{ kind: 'started'; run: MaintenanceRun }> {
    const name = randomUUID();
    const started = await translated(
      this.#client.send(
        new StartExecutionCommand({ stateMachineArn: this.#stateMachineArn, name, input: '{}' }),
      ),
    );
    return {
      kind: 'started',
      run: { id: name, status: 'RUNNING', startedAt: started.startDate?.getTime() ?? Date.now() },
    };
  }

  async describe(id: string): Promise<MaintenanceRun | undefined> {
    // Anything else was never an id of ours: no need to ask.
    if (!runId.test(id)) return undefined;
    const first = await this.#execution(executionArn(this.#stateMachineArn, id));
    if (!first) return undefined;
    let last = first;
    for (let hop = 0; ; hop++) {
      const next = continuedAs(last);
      if (next === undefined) break;
      const continued = hop < maxContinuations ? await this.#execution(next) : undefined;
      // Started but not visible yet, or followed far enough: the pass is still going.
      if (!continued) return { id, status: 'RUNNING', startedAt: startOf(first) };
      last = continued;
    }
    const report = last.status === 'SUCCEEDED' ? reportOf(last) : undefined;
    return {
      id,
      status: statusOf(last),
      startedAt: startOf(first),
      ...(last.stopDate && { stoppedAt: last.stopDate.getTime() }),
      ...(report && { report }),
    };
  }

  /** The execution, or undefined if Step Functions has none of that ARN. */
  async #execution(arn: string): Promise<DescribeExecutionCommandOutput | undefined> {
    try {
      return await translated(
        this.#client.send(new DescribeExecutionCommand({ executionArn: arn })),
      );
    } catch (error: unknown) {
      if (errorName(error) === 'ExecutionDoesNotExist') return undefined;
      throw error;
    }
  }
}

/**
 * arn:aws:states:<region>:<account>:stateMachine:<machine> names its executions
 * arn:aws:states:<region>:<account>:execution:<machine>:<name>.
 */
export function executionArn(stateMachineArn: string, name: string): string {
  const parts = stateMachineArn.split(':');
  if (parts.length !== 7 || parts[5] !== 'stateMachine') {
    throw new Error(`not a state machine ARN: ${stateMachineArn}`);
  }
  parts[5] = 'execution';
  return `${parts.join(':')}:${name}`;
}

const startOf = (execution: DescribeExecutionCommandOutput): number =>
  execution.startDate?.getTime() ?? 0;

function statusOf(execution: DescribeExecutionCommandOutput): MaintenanceRun['status'] {
  switch (execution.status) {
    case 'SUCCEEDED':
    case 'FAILED':
    case 'TIMED_OUT':
    case 'ABORTED':
      return execution.status;
    default:
      // RUNNING, and PENDING_REDRIVE: a failed execution about to run again.
      return 'RUNNING';
  }
}

function outputOf(execution: DescribeExecutionCommandOutput): Record<string, unknown> {
  if (execution.status !== 'SUCCEEDED' || !execution.output) return {};
  try {
    const output: unknown = JSON.parse(execution.output);
    return isObject(output) ? output : {};
  } catch {
    return {};
  }
}

const continuedAs = (execution: DescribeExecutionCommandOutput): string | undefined => {
  const next = outputOf(execution).continuedAs;
  return typeof next === 'string' ? next : undefined;
};

/** The `{ report }` the state machine's last state outputs. */
function reportOf(execution: DescribeExecutionCommandOutput): MaintenanceReport | undefined {
  const report = outputOf(execution).report;
  if (!isObject(report) || typeof report.passId !== 'string') return undefined;
  const number = (value: unknown) => (typeof value === 'number' ? value : undefined);
  const finishedAt = number(report.finishedAt);
  const durationMs = number(report.durationMs);
  const errors = Array.isArray(report.errors)
    ? report.errors.flatMap((e: unknown) =>
        isObject(e) ? [{ item: String(e.item), error: String(e.error) }] : [],
      )
    : [];
  return {
    passId: report.passId,
    startedAt: number(report.startedAt) ?? 0,
    ...(finishedAt !== undefined && { finishedAt }),
    ...(durationMs !== undefined && { durationMs }),
    ...countsFromJson(report),
    ...(errors.length > 0 && { errors }),
  };
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
