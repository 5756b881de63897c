/**
 * The maintenance state machine exactly as CDK synthesizes it, executed by
 * aws-local-stepfunctions: the definition is taken from the template, its references to the
 * maintenance function resolved to a placeholder ARN, and every Task whose Resource is that
 * ARN runs what the maintenance Lambda runs — `runStep` on the event's step and input —
 * against DynamoDB Local and the S3 emulator, with a clock the test moves. A step's error
 * reaches the state machine as a Lambda function's error does ({errorType, errorMessage,
 * trace}); the `startExecution` Task that hands a page over starts the next execution here.
 *
 * What a pass does is test/e2e/maintenance.test.ts; this file shows the state machine drives
 * the same pass: its output, retries and failures, an execution that dies mid-pass, the
 * hand-over to a new execution, and the states an idle pass goes through.
 */

import { randomUUID } from 'node:crypto';
import { Template } from 'aws-cdk-lib/assertions';
import { StateMachine, type StateMachineDefinition } from 'aws-local-stepfunctions';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { chunkKey, deletedTopicKey } from '../../functions/core/keys.ts';
import { silentLogger } from '../../functions/http/logger.ts';
import { noMetrics } from '../../functions/http/metrics.ts';
import type { MaintenanceReport } from '../../functions/maintenance/report.ts';
import { defaultMaintenanceSettings } from '../../functions/maintenance/settings.ts';
import { type MaintenanceDeps, runStep, stepNames } from '../../functions/maintenance/steps.ts';
import { itemsPerExecution } from '../../infra/maintenance.ts';
import { chunkSized, createTopic, fetchAll, produce } from '../support/api.ts';
import { emulatedAws } from '../support/backends.ts';
import { call, type RunningServer, startServer } from '../support/server.ts';
import { chunksOf, indexItems, partitionItems } from '../support/storage.ts';
import { synthesize } from './synthesize.ts';
import { at, isRecord, only } from './template.ts';

const region = 'us-east-1';
const account = '123456789012';
const functionArn = `arn:aws:lambda:${region}:${account}:function:tributary-maintenance`;
const stateMachineArn = `arn:aws:states:${region}:${account}:stateMachine:TributaryMaintenance`;
const startExecution = 'arn:aws:states:::states:startExecution';
const minute = 60_000;
const grace = defaultMaintenanceSettings.orphanGraceMs;

/**
 * The template's definition with its intrinsic functions resolved: the maintenance
 * function's ARN to the placeholder, the partition to `aws`.
 */
function definitionFrom(template: Template, functionId: string): StateMachineDefinition {
  const resolve = (value: unknown): string => {
    if (typeof value === 'string') return value;
    const join = at(value, 'Fn::Join');
    if (Array.isArray(join) && Array.isArray(join[1])) {
      return join[1].map(resolve).join(String(join[0]));
    }
    const getAtt = at(value, 'Fn::GetAtt');
    if (Array.isArray(getAtt) && getAtt[0] === functionId && getAtt[1] === 'Arn') {
      return functionArn;
    }
    if (at(value, 'Ref') === 'AWS::Partition') return 'aws';
    throw new Error(`cannot resolve ${JSON.stringify(value)}`);
  };
  const [, machine] = only(template, 'AWS::StepFunctions::StateMachine');
  return JSON.parse(resolve(at(machine, 'Properties', 'DefinitionString')));
}

/** Every Task state's name and Resource, the Map's processor included. */
function tasksOf(definition: unknown): [string, string][] {
  const states = at(definition, 'States');
  return Object.entries(isRecord(states) ? states : {}).flatMap(([name, state]) => [
    ...(at(state, 'Type') === 'Task'
      ? [[name, String(at(state, 'Resource'))] as [string, string]]
      : []),
    ...tasksOf(at(state, 'ItemProcessor')),
  ]);
}

type Json = Parameters<StateMachine['run']>[0];
type EventLog =
  ReturnType<StateMachine['run']>['eventLogs'] extends AsyncGenerator<infer E> ? E : never;

type StepEvent = { step: (typeof stepNames)[number]; input: unknown };
const isStepEvent = (event: unknown): event is StepEvent =>
  isRecord(event) && stepNames.some((s) => s === event.step) && 'input' in event;

/** Called before each step runs; throwing fails the invocation as a function error would. */
type Fault = (event: StepEvent) => void;

interface Execution {
  readonly name: string;
  readonly input: Json;
  /** The output, or the error the execution failed with. */
  readonly output?: unknown;
  readonly error?: unknown;
  readonly events: EventLog[];
}

/**
 * Runs executions of the definition as Step Functions would: each Task on the maintenance
 * function runs the step in this process; a hand-over starts the next execution.
 */
class LocalExecutions {
  readonly #definition: StateMachineDefinition;
  readonly #deps: MaintenanceDeps;
  fault: Fault | undefined;
  /** Every step invoked, in order. */
  readonly invoked: StepEvent[] = [];

  constructor(definition: StateMachineDefinition, deps: MaintenanceDeps) {
    this.#definition = definition;
    this.#deps = deps;
  }

  /** An execution, and those it hands over to, in order. */
  async run(input: Json = {}): Promise<Execution[]> {
    const executions: Execution[] = [];
    let next: { name: string; input: Json } | undefined = { name: randomUUID(), input };
    while (next) {
      const { name } = next;
      let handedTo: { name: string; input: Json } | undefined;
      const handlers = Object.fromEntries(
        tasksOf(this.#definition).map(([state, resource]) => {
          if (resource === functionArn) return [state, (event: unknown) => this.#invoke(event)];
          if (resource === startExecution) {
            return [
              state,
              (event: unknown) => {
                expect(at(event, 'StateMachineArn')).toBe(stateMachineArn);
                const handed = at(event, 'Input');
                if (!isRecord(handed)) throw new Error('a hand-over without an input');
                handedTo = {
                  name: String(at(event, 'Name')),
                  input: JSON.parse(JSON.stringify(handed)),
                };
                return {
                  ExecutionArn: `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${handedTo.name}`,
                  StartDate: new Date().toISOString(),
                };
              },
            ];
          }
          throw new Error(`a Task on ${resource}, which nothing here runs`);
        }),
      );
      const retryIntervalOverrides = Object.fromEntries(
        tasksOf(this.#definition).map(([state]) => [state, 0]),
      );
      const machine = new StateMachine(this.#definition);
      const execution = machine.run(next.input, {
        overrides: { taskResourceLocalHandlers: handlers, retryIntervalOverrides },
        context: {
          Execution: {
            Id: `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`,
            Name: name,
            Input: next.input,
            StartTime: new Date().toISOString(),
          },
          StateMachine: { Id: stateMachineArn, Name: 'TributaryMaintenance' },
        },
      });
      const events: EventLog[] = [];
      const logging = (async () => {
        for await (const event of execution.eventLogs) events.push(event);
      })();
      const outcome = await execution.result.then(
        (output) => ({ output }),
        (error: unknown) => ({ error }),
      );
      await logging;
      executions.push({ name, input: next.input, ...outcome, events });
      next = 'output' in outcome ? handedTo : undefined;
    }
    return executions;
  }

  /** The maintenance Lambda, in this process: its event, its result or function error. */
  async #invoke(event: unknown): Promise<Json> {
    if (!isStepEvent(event)) throw new Error(`not a maintenance step: ${JSON.stringify(event)}`);
    this.invoked.push(event);
    try {
      this.fault?.(event);
      // Lambda hands the result back as JSON.
      return JSON.parse(JSON.stringify(await runStep(this.#deps, event.step, event.input)));
    } catch (error: unknown) {
      const { name, message, stack } = error instanceof Error ? error : new Error(String(error));
      // What the Node.js runtime reports, and Step Functions hands a Catch as the Cause.
      const cause = JSON.stringify({
        errorType: name,
        errorMessage: message,
        trace: stack?.split('\n'),
      });
      throw Object.assign(new Error(cause), { name });
    }
  }
}

const last = <T>(list: readonly T[]): T => {
  const item = list.at(-1);
  if (item === undefined) throw new Error('empty');
  return item;
};
const reportOf = (executions: Execution[]): MaintenanceReport => {
  const report = at(last(executions).output, 'report');
  if (!isRecord(report)) throw new Error(`no report in ${JSON.stringify(last(executions))}`);
  return report as unknown as MaintenanceReport; // the finish step's output, as JSON
};
const entered = (execution: Execution) =>
  execution.events.flatMap((e) => (e.type === 'StateEntered' ? [e.state.name] : []));

describe('the synthesized maintenance state machine, run by aws-local-stepfunctions', () => {
  let definition: StateMachineDefinition;
  let now: number;
  let server: RunningServer;
  let executions: LocalExecutions;

  beforeAll(() => {
    const synthesized = synthesize({}, { bundle: false });
    try {
      const { stack } = synthesized;
      const getAtt = at(
        stack.resolve(stack.tributary.maintenance.handler.functionArn),
        'Fn::GetAtt',
      );
      if (!Array.isArray(getAtt)) throw new Error('the function ARN is not a Fn::GetAtt');
      definition = definitionFrom(Template.fromStack(stack), String(getAtt[0]));
    } finally {
      synthesized.remove();
    }
  });
  beforeEach(async () => {
    now = Date.UTC(2026, 5, 1);
    server = await startServer(emulatedAws, { now: () => now });
    executions = new LocalExecutions(definition, maintenanceDeps());
  });
  afterEach(() => server.close());

  /** What the maintenance Lambda runs on, here over the server's stores and clock. */
  const maintenanceDeps = (): MaintenanceDeps => ({
    ctx: {
      metadata: server.stores.metadata,
      segments: server.stores.segments,
      now: () => now,
      newId: randomUUID,
    },
    settings: defaultMaintenanceSettings,
    log: silentLogger,
    metrics: noMetrics,
  });

  const topicId = async (name: string): Promise<string> =>
    (await call(server.url, 'GET', `/v1/topics/${name}`)).body.topicId;

  it('runs a pass: expired entries and chunks go, the rest stays byte-exact, a deleted topic is purged, an orphan swept; the output is the report', async () => {
    await createTopic(server.url, 'aging', 2, { 'retention.ms': String(minute) });
    await createTopic(server.url, 'doomed', 2);
    await createTopic(server.url, 'orphaned', 1);
    const aging = await topicId('aging');
    const doomed = await topicId('doomed');
    const orphaned = await topicId('orphaned');
    await produce(server.url, 'doomed', [
      { value: chunkSized('1'), partition: 0 },
      { value: chunkSized('2'), partition: 1 },
    ]);
    await produce(server.url, 'orphaned', [{ value: chunkSized('committed') }]);
    // A chunk written but never committed, and a topic deleted: both due once past the grace.
    const orphan = chunkKey(orphaned, now, randomUUID());
    await server.stores.segments.put(orphan, new Uint8Array(100));
    expect((await call(server.url, 'DELETE', '/v1/topics/doomed')).status).toBe(204);
    now += grace + 1;
    for (let i = 0; i < 5; i++) {
      await produce(server.url, 'aging', [
        { value: { old: i, pad: chunkSized('') }, partition: 0 },
        { value: { old: i, pad: chunkSized('x') }, partition: 1 },
      ]);
    }
    now += 30_000;
    for (let i = 0; i < 3; i++) {
      await produce(server.url, 'aging', [
        { value: { kept: i, pad: chunkSized('') }, partition: 0 },
        { value: { kept: i, pad: chunkSized('') }, partition: 1 },
      ]);
    }
    now += 31_000;
    const kept = [
      await fetchAll(server.url, 'aging', 0, 5),
      await fetchAll(server.url, 'aging', 1, 5),
    ];

    const run = await executions.run();
    expect(run).toHaveLength(1);
    const report = reportOf(run);
    expect(report).toMatchObject({
      indexEntriesDeleted: 10,
      chunksDeleted: 5,
      orphansDeleted: 1,
      orphanBytesFreed: 100,
      purgedChunks: 1,
      topicsPurged: 1,
      failures: 0,
    });
    expect(report.bytesFreed).toBeGreaterThan(5 * 100);
    // The output is the pass as stored, which GET /v1/admin/maintenance/{id} reports.
    const described = await call(server.url, 'GET', `/v1/admin/maintenance/${report.passId}`);
    expect(described.body).toMatchObject({ status: 'SUCCEEDED', report });

    // Gone from the stores themselves, not only from responses.
    expect(await chunksOf(server.stores, aging)).toHaveLength(3);
    for (const partition of [0, 1]) {
      const entries = await indexItems(server.stores, aging, partition);
      expect(entries.map((e) => e.data.baseOffset)).toEqual([5, 6, 7]);
      expect(await fetchAll(server.url, 'aging', partition, 5)).toEqual(kept[partition]);
      expect(await partitionItems(server.stores, doomed, partition)).toEqual([]);
    }
    expect(await chunksOf(server.stores, doomed)).toEqual([]);
    expect(await server.stores.metadata.get(deletedTopicKey(doomed))).toBeUndefined();
    const left = (await chunksOf(server.stores, orphaned)).map((o) => o.key);
    expect(left).toHaveLength(1);
    expect(left).not.toContain(orphan);
    expect((await fetchAll(server.url, 'orphaned', 0)).map((r) => r.value)).toEqual([
      chunkSized('committed'),
    ]);

    // A second pass finds nothing left to do.
    expect(reportOf(await executions.run())).toMatchObject({
      indexEntriesDeleted: 0,
      chunksDeleted: 0,
      orphansDeleted: 0,
      topicsPurged: 0,
    });
  });

  it('retries a work step that throws; one that keeps throwing is reported, and the rest of the pass completes', async () => {
    await createTopic(server.url, 'flaky', 3, { 'retention.ms': String(minute) });
    const flaky = await topicId('flaky');
    for (let i = 0; i < 2; i++) {
      await produce(
        server.url,
        'flaky',
        [0, 1, 2].map((partition) => ({ value: chunkSized(String(i)), partition })),
      );
    }
    now += 2 * minute;
    const attempts = new Map<number, number>();
    executions.fault = ({ step, input }) => {
      const partition = at(input, 'item', 'partition');
      if (step !== 'work' || typeof partition !== 'number') return;
      const attempt = (attempts.get(partition) ?? 0) + 1;
      attempts.set(partition, attempt);
      // Partition 0 always fails; partition 1 fails once, then succeeds.
      if (partition === 0 || (partition === 1 && attempt === 1)) {
        throw new Error(`storage hiccup on partition ${partition}`);
      }
    };

    const [execution] = await executions.run();
    if (!execution) throw new Error('no execution');
    const report = reportOf([execution]);
    expect(report.failures).toBe(1);
    expect(report.errors).toEqual([
      { item: 'retention of flaky-0', error: 'Error: storage hiccup on partition 0' },
    ]);
    // The first attempt and two retries, then the Catch's `failed` step.
    expect(attempts.get(0)).toBe(3);
    expect(executions.invoked.filter((e) => e.step === 'failed')).toHaveLength(1);
    expect(execution.events.filter((e) => e.type === 'StateRetried')).toHaveLength(3);
    // The others were cleaned; partition 0 keeps its entries for the next pass.
    expect(report.indexEntriesDeleted).toBe(4);
    expect(await indexItems(server.stores, flaky, 0)).toHaveLength(2);
    for (const partition of [1, 2]) {
      expect(await indexItems(server.stores, flaky, partition)).toEqual([]);
    }
    expect(await chunksOf(server.stores, flaky)).toHaveLength(2);

    executions.fault = undefined;
    const next = reportOf(await executions.run());
    expect(next).toMatchObject({ failures: 0, indexEntriesDeleted: 2, chunksDeleted: 2 });
    expect(await chunksOf(server.stores, flaky)).toEqual([]);
  });

  it('leaves a pass whose execution failed mid-way for the next execution to finish', async () => {
    await createTopic(server.url, 'interrupted', 2, { 'retention.ms': String(minute) });
    const interrupted = await topicId('interrupted');
    await produce(server.url, 'interrupted', [
      { value: chunkSized('a'), partition: 0 },
      { value: chunkSized('b'), partition: 1 },
    ]);
    await createTopic(server.url, 'gone', 1);
    const gone = await topicId('gone');
    await produce(server.url, 'gone', [{ value: chunkSized('c') }]);
    expect((await call(server.url, 'DELETE', '/v1/topics/gone')).status).toBe(204);
    now += grace + 1;
    // Planning the second page fails, retries and all: the execution fails there.
    executions.fault = ({ step, input }) => {
      const results = at(input, 'results');
      if (step === 'plan' && Array.isArray(results) && results.length > 0) {
        throw new Error('the store is unreachable');
      }
    };
    const [failed] = await executions.run();
    expect(failed?.error).toBeDefined();
    expect(failed?.output).toBeUndefined();
    const passId = at(executions.invoked.find((e) => e.step === 'plan')?.input, 'passId');
    const running = await call(server.url, 'GET', `/v1/admin/maintenance/${passId}`);
    expect(running.body).toMatchObject({ id: passId, status: 'RUNNING' });
    // The first page's work was done; the rest was not.
    expect(await indexItems(server.stores, interrupted, 0)).toEqual([]);
    expect(await chunksOf(server.stores, interrupted)).toHaveLength(1);
    expect(await chunksOf(server.stores, gone)).toHaveLength(1);

    executions.fault = undefined;
    const resumed = await executions.run();
    const report = reportOf(resumed);
    expect(report.passId).toBe(passId);
    expect(report).toMatchObject({ chunksDeleted: 1, topicsPurged: 1, failures: 0 });
    expect(await chunksOf(server.stores, interrupted)).toEqual([]);
    expect(await chunksOf(server.stores, gone)).toEqual([]);
    expect(await server.stores.metadata.get(deletedTopicKey(gone))).toBeUndefined();
    expect((await call(server.url, 'GET', `/v1/admin/maintenance/${passId}`)).body).toMatchObject({
      status: 'SUCCEEDED',
      report,
    });
  });

  it('shares one pass between two overlapping executions, each page done once', async () => {
    const names = ['a', 'b'];
    for (const name of names) {
      await createTopic(server.url, name, 3, { 'retention.ms': String(minute) });
      for (let i = 0; i < 2; i++) {
        await produce(
          server.url,
          name,
          [0, 1, 2].map((partition) => ({ value: chunkSized(String(i)), partition })),
        );
      }
    }
    await createTopic(server.url, 'fresh', 1);
    now += 2 * minute;
    await produce(server.url, 'fresh', [{ value: 'kept' }]);

    const [one, two] = await Promise.all([executions.run(), executions.run()]);
    const reports = [reportOf(one ?? []), reportOf(two ?? [])];
    expect(reports[0]?.passId).toBe(reports[1]?.passId);
    const stored = await call(server.url, 'GET', `/v1/admin/maintenance/${reports[0]?.passId}`);
    // Every expired entry deleted once: the pages went one to each execution.
    expect(stored.body.report).toMatchObject({ indexEntriesDeleted: 2 * 3 * 2, failures: 0 });
    for (const name of names) {
      const id = await topicId(name);
      for (const partition of [0, 1, 2]) {
        expect(await indexItems(server.stores, id, partition)).toEqual([]);
      }
    }
    // A topic's chunks may be judged before its partitions' entries went (the topics' page
    // ran beside the partitions'): what is left goes with the next pass, and nothing twice.
    const next = reportOf(await executions.run());
    expect(stored.body.report.chunksDeleted + next.chunksDeleted).toBe(2 * 2);
    for (const name of names)
      expect(await chunksOf(server.stores, await topicId(name))).toEqual([]);
    expect((await fetchAll(server.url, 'fresh', 0)).map((r) => r.value)).toEqual(['kept']);
  });

  it('hands the page that would take an execution past its budget to a new execution, which finishes the pass', async () => {
    // The same definition with a budget of 3 items instead of 120, so a few topics cross it.
    const budget = 3;
    const text = JSON.stringify(definition);
    const threshold = `{"Variable":"$.ran","NumericGreaterThan":${itemsPerExecution}}`;
    expect(text).toContain(threshold);
    const small = new LocalExecutions(
      JSON.parse(
        text.replace(threshold, threshold.replace(String(itemsPerExecution), String(budget))),
      ),
      maintenanceDeps(),
    );
    const names = ['t0', 't1', 't2', 't3'];
    for (const name of names) {
      await createTopic(server.url, name, 1, { 'retention.ms': String(minute) });
      await produce(server.url, name, [{ value: chunkSized(name) }]);
    }
    now += 2 * minute;

    // Four partitions in the first page (under budget), four topics in the next (over it).
    const run = await small.run();
    expect(run).toHaveLength(2);
    const [first, second] = run as [Execution, Execution];
    expect(first.output).toEqual({
      continuedAs: `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${second.name}`,
    });
    // Named after the first, so a retried start would not start another.
    expect(second.name).toMatch(/^[0-9a-f]{40}$/);
    expect(at(second.input, 'page', 'items')).toHaveLength(4);
    expect(entered(second).slice(0, 2)).toEqual(['Handed a page?', 'Work on page']);
    const report = reportOf(run);
    expect(report).toMatchObject({
      partitionsVisited: 4,
      indexEntriesDeleted: 4,
      chunksDeleted: 4,
      topicsSwept: 4,
      failures: 0,
    });
    for (const name of names)
      expect(await chunksOf(server.stores, await topicId(name))).toEqual([]);
  });

  it('goes through six states on an empty store, and three more per idle topic', async () => {
    const [empty] = await executions.run();
    if (!empty) throw new Error('no execution');
    expect(entered(empty)).toEqual(['Handed a page?', 'Begin', 'Plan', 'Count', 'Next?', 'Finish']);
    expect(executions.invoked.map((e) => e.step)).toEqual(['begin', 'plan', 'finish']);

    await createTopic(server.url, 'quiet', 3);
    await createTopic(server.url, 'still', 3);
    const [idle] = await executions.run();
    if (!idle) throw new Error('no execution');
    const states = entered(idle);
    // Around the Map: the Map itself, one more plan with its Count and Next?; in it, each
    // topic's one step (releasing nothing, sweeping nothing), More? and Item done.
    expect(states).toHaveLength(6 + 4 + 2 * 3);
    expect(states.filter((s) => s === 'Work')).toHaveLength(2);
  });
});
