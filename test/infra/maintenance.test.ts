/**
 * The maintenance workflow as the template declares it: a Standard state machine that keeps
 * to what aws-local-stepfunctions runs, its schedule, its function, who may delete objects
 * and who may start executions, its alarms and its dashboard row. What the definition does
 * when it runs is test/infra/maintenance-state-machine.test.ts.
 */

import { Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executionTimeout, stepsPerItem, TributaryMaintenance } from '../../infra/maintenance.ts';
import { Tributary } from '../../infra/tributary.ts';
import { type Synthesized, synthesize } from './synthesize.ts';
import { at, isRecord, only, resourceOf } from './template.ts';

interface Statement {
  readonly actions: readonly string[];
  readonly resource: unknown;
  /** The roles of the policy the statement is in. */
  readonly roles: unknown;
}

/** Every Allow statement of every IAM policy in the template. */
const statements = (template: Template): Statement[] =>
  Object.values(template.findResources('AWS::IAM::Policy')).flatMap((policy) => {
    const list = at(policy, 'Properties', 'PolicyDocument', 'Statement');
    return (Array.isArray(list) ? list : []).map((statement: unknown) => {
      expect(at(statement, 'Effect')).toBe('Allow');
      const action = at(statement, 'Action');
      return {
        actions: (Array.isArray(action) ? action : [action]).map(String),
        resource: at(statement, 'Resource'),
        roles: at(policy, 'Properties', 'Roles'),
      };
    });
  });

/** The definition with its references to the function written as FUNCTION. */
const definitionOf = (template: Template): Record<string, unknown> => {
  const [, machine] = only(template, 'AWS::StepFunctions::StateMachine');
  const parts = at(machine, 'Properties', 'DefinitionString', 'Fn::Join');
  if (!Array.isArray(parts) || !Array.isArray(parts[1])) throw new Error('no definition');
  const text = parts[1]
    .map((part: unknown) =>
      typeof part === 'string' ? part : at(part, 'Ref') === 'AWS::Partition' ? 'aws' : 'FUNCTION',
    )
    .join('');
  const definition: unknown = JSON.parse(text);
  if (!isRecord(definition)) throw new Error('the definition is not an object');
  return definition;
};

/** Every state of the definition and its Map's processor, by name. */
const allStates = (
  definition: Record<string, unknown>,
): Record<string, Record<string, unknown>> => {
  const states: Record<string, Record<string, unknown>> = {};
  const visit = (machine: unknown) => {
    const own = at(machine, 'States');
    for (const [name, state] of Object.entries(isRecord(own) ? own : {})) {
      if (!isRecord(state)) continue;
      states[name] = state;
      visit(at(state, 'ItemProcessor'));
    }
  };
  visit(definition);
  return states;
};

describe('the maintenance workflow', () => {
  let synthesized: Synthesized;
  let template: Template;
  let tributary: Tributary;
  let stack: Stack;
  beforeAll(() => {
    synthesized = synthesize({}, { bundle: false });
    template = Template.fromStack(synthesized.stack);
    tributary = synthesized.stack.tributary;
    stack = synthesized.stack;
  });
  afterAll(() => synthesized?.remove());

  const maintenanceRole = () => stack.resolve(tributary.maintenance.handler.role?.roleName);
  const apiRole = () => stack.resolve(tributary.handler.role?.roleName);
  const machineRole = () => stack.resolve(tributary.maintenance.stateMachine.role.roleName);

  describe('state machine', () => {
    it('is a Standard workflow with an execution timeout', () => {
      template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
        StateMachineType: 'STANDARD',
      });
      expect(definitionOf(template).TimeoutSeconds).toBe(executionTimeout.toSeconds());
      template.hasOutput('MaintenanceStateMachineArn', {
        Value: stack.resolve(tributary.maintenance.stateMachine.stateMachineArn),
      });
    });

    it('keeps to JSONPath and an inline Map, which aws-local-stepfunctions runs', () => {
      const definition = definitionOf(template);
      expect(JSON.stringify(definition)).not.toContain('JSONata');
      expect(definition.QueryLanguage).toBeUndefined();
      const maps = Object.values(allStates(definition)).filter((s) => s.Type === 'Map');
      expect(maps).toHaveLength(1);
      expect(maps[0]).toMatchObject({
        ItemsPath: '$.page.items',
        ItemSelector: { 'item.$': '$$.Map.Item.Value' },
        MaxConcurrency: 4,
        ResultPath: '$.results',
        ItemProcessor: { ProcessorConfig: { Mode: 'INLINE' } },
      });
    });

    it('runs each step as a Lambda task of the maintenance function, the event as its Parameters', () => {
      const tasks = Object.entries(allStates(definitionOf(template))).filter(
        ([, s]) => s.Type === 'Task' && s.Resource === 'FUNCTION',
      );
      expect(
        Object.fromEntries(tasks.map(([name, s]) => [name, at(s, 'Parameters', 'step')])),
      ).toEqual({
        Begin: 'begin',
        Plan: 'plan',
        Work: 'work',
        Failed: 'failed',
        Finish: 'finish',
      });
      const [machine] = Object.values(template.findResources('AWS::StepFunctions::StateMachine'));
      expect(JSON.stringify(at(machine, 'Properties', 'DefinitionString'))).toContain(
        JSON.stringify(stack.resolve(tributary.maintenance.handler.functionArn)),
      );
    });

    it('retries every step, and reports a work item whose step keeps failing', () => {
      const states = allStates(definitionOf(template));
      for (const name of ['Begin', 'Plan', 'Work', 'Failed', 'Finish', 'Hand over']) {
        expect(states[name]?.Retry, name).toContainEqual({
          ErrorEquals: ['States.ALL'],
          IntervalSeconds: 2,
          MaxAttempts: 2,
          BackoffRate: 2,
          JitterStrategy: 'FULL',
        });
      }
      expect(states.Work?.Catch).toEqual([
        { ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'Failed' },
      ]);
      expect(states['More?']).toMatchObject({
        Choices: [
          {
            And: [
              { Variable: '$.more', BooleanEquals: true },
              { Variable: '$.steps', NumericLessThan: stepsPerItem },
            ],
            Next: 'Work',
          },
        ],
      });
    });

    it('hands a page that would overfill its history to a new execution of itself', () => {
      const states = allStates(definitionOf(template));
      expect(states['Hand over']).toMatchObject({
        Type: 'Task',
        Resource: 'arn:aws:states:::states:startExecution',
        Parameters: { 'StateMachineArn.$': '$$.StateMachine.Id' },
        ResultSelector: { 'continuedAs.$': '$.ExecutionArn' },
        End: true,
      });
      // Its role may start this state machine, and invoke the function, and nothing else.
      const own = statements(template).filter(
        (s) => JSON.stringify(s.roles) === JSON.stringify([machineRole()]),
      );
      const machineArn = stack.resolve(tributary.maintenance.stateMachine.stateMachineArn);
      const functionArn = stack.resolve(tributary.maintenance.handler.functionArn);
      expect(own.flatMap((s) => s.actions).sort()).toEqual([
        'lambda:InvokeFunction',
        'states:StartExecution',
      ]);
      expect(own.find((s) => s.actions.includes('states:StartExecution'))?.resource).toEqual(
        machineArn,
      );
      expect(own.find((s) => s.actions.includes('lambda:InvokeFunction'))?.resource).toEqual([
        functionArn,
        { 'Fn::Join': ['', [functionArn, ':*']] },
      ]);
    });
  });

  describe('schedule', () => {
    it('starts an execution every hour by default, with an empty input', () => {
      const [, rule] = resourceOf(template, stack.resolve(tributary.maintenance.schedule.ruleArn));
      expect(at(rule, 'Properties', 'ScheduleExpression')).toBe('rate(1 hour)');
      expect(at(rule, 'Properties', 'State')).toBe('ENABLED');
      const targets = at(rule, 'Properties', 'Targets');
      expect(targets).toEqual([
        expect.objectContaining({
          Arn: stack.resolve(tributary.maintenance.stateMachine.stateMachineArn),
          Input: '{}',
        }),
      ]);
      // The rule's role may start this state machine and nothing else.
      const [target] = Array.isArray(targets) ? targets : [];
      const [, role] = resourceOf(template, at(target, 'RoleArn'));
      expect(at(role, 'Properties', 'AssumeRolePolicyDocument', 'Statement')).toEqual([
        expect.objectContaining({ Principal: { Service: 'events.amazonaws.com' } }),
      ]);
    });

    it('follows the interval, concurrency and orphan grace props, and refuses bad ones', () => {
      const custom = synthesize(
        {
          tributary: {
            maintenance: {
              interval: Duration.minutes(15),
              maxConcurrency: 10,
              orphanGrace: Duration.minutes(30),
            },
          },
        },
        { bundle: false },
      );
      try {
        const template = Template.fromStack(custom.stack);
        template.hasResourceProperties('AWS::Events::Rule', {
          ScheduleExpression: 'rate(15 minutes)',
        });
        const maps = Object.values(allStates(definitionOf(template))).filter(
          (s) => s.Type === 'Map',
        );
        expect(maps[0]?.MaxConcurrency).toBe(10);
        const [, fn] = resourceOf(
          template,
          custom.stack.resolve(custom.stack.tributary.maintenance.handler.functionArn),
        );
        expect(at(fn, 'Properties', 'Environment', 'Variables', 'TRIBUTARY_ORPHAN_GRACE_MS')).toBe(
          String(30 * 60_000),
        );
      } finally {
        custom.remove();
      }
      const tributaryWith = (maintenance: ConstructorParameters<typeof Tributary>[2]) => () =>
        new Tributary(new Stack(), 'Tributary', maintenance);
      expect(tributaryWith({ maintenance: { interval: Duration.seconds(30) } })).toThrow(
        /interval must be at least a minute/,
      );
      for (const maxConcurrency of [0, 41, 1.5]) {
        expect(tributaryWith({ maintenance: { maxConcurrency } })).toThrow(/maxConcurrency/);
      }
      expect(tributaryWith({ maintenance: { orphanGrace: Duration.minutes(1) } })).toThrow(
        /orphanGrace must be at least 2 minutes 30 seconds/,
      );
    });
  });

  describe('function', () => {
    it('runs on Node 24 on arm64 with time for one bounded step, on this stack’s stores', () => {
      const [, fn] = resourceOf(template, stack.resolve(tributary.maintenance.handler.functionArn));
      expect(at(fn, 'Properties')).toMatchObject({
        Runtime: 'nodejs24.x',
        Architectures: ['arm64'],
        Handler: 'index.handler',
        Timeout: 300,
        Environment: {
          Variables: {
            TRIBUTARY_STORE: 'aws',
            TRIBUTARY_TABLE: stack.resolve(tributary.table.tableName),
            TRIBUTARY_BUCKET: stack.resolve(tributary.bucket.bucketName),
            TRIBUTARY_ORPHAN_GRACE_MS: '600000',
            TRIBUTARY_LOG_LEVEL: 'INFO',
            POWERTOOLS_SERVICE_NAME: 'tributary',
            POWERTOOLS_METRICS_NAMESPACE: 'Tributary',
            NODE_OPTIONS: '--enable-source-maps',
          },
        },
      });
      const logGroup = at(fn, 'Properties', 'LoggingConfig', 'LogGroup');
      const [, group] = resourceOf(template, logGroup);
      expect(at(group, 'Properties', 'RetentionInDays')).toBe(30);
    });
  });

  describe('permissions', () => {
    it('let only the maintenance function delete objects, and it may not write or read one', () => {
      const deleting = statements(template).filter((s) => s.actions.includes('s3:DeleteObject'));
      expect(deleting).toEqual([
        {
          actions: ['s3:DeleteObject'],
          resource: stack.resolve(tributary.bucket.arnForObjects('*')),
          roles: [maintenanceRole()],
        },
      ]);
      const own = statements(template).filter(
        (s) => JSON.stringify(s.roles) === JSON.stringify([maintenanceRole()]),
      );
      expect(own.flatMap((s) => s.actions).filter((a) => a.startsWith('s3:'))).toEqual([
        's3:ListBucket',
        's3:DeleteObject',
      ]);
      const services = new Set(own.flatMap((s) => s.actions).map((a) => a.split(':')[0]));
      expect([...services].sort()).toEqual(['dynamodb', 'logs', 's3']);
      for (const statement of own.filter((s) => s.actions.some((a) => a.startsWith('dynamodb:')))) {
        const resources = Array.isArray(statement.resource)
          ? statement.resource
          : [statement.resource];
        expect(resources).toEqual([stack.resolve(tributary.table.tableArn)]);
      }
      expect(own.flatMap((s) => s.actions)).toContain('dynamodb:DeleteItem');
    });

    it('name every action: no wildcard data action in any policy of the stack', () => {
      const actions = statements(template).flatMap((s) => s.actions);
      expect(actions.length).toBeGreaterThan(0);
      for (const action of actions) expect(action).not.toContain('*');
      // And the API's Step Functions access is its own: start, and read back.
      const api = statements(template).filter(
        (s) => JSON.stringify(s.roles) === JSON.stringify([apiRole()]),
      );
      expect(api.flatMap((s) => s.actions).filter((a) => a.startsWith('states:'))).toEqual([
        'states:StartExecution',
        'states:DescribeExecution',
      ]);
    });
  });

  describe('alarms', () => {
    const alarms = () => Object.values(template.findResources('AWS::CloudWatch::Alarm'));

    it('fire on any failed or timed-out execution', () => {
      const machineArn = stack.resolve(tributary.maintenance.stateMachine.stateMachineArn);
      const executionMetric = (metricName: string) =>
        expect.objectContaining({
          MetricStat: expect.objectContaining({
            Metric: {
              Namespace: 'AWS/States',
              MetricName: metricName,
              Dimensions: [{ Name: 'StateMachineArn', Value: machineArn }],
            },
            Stat: 'Sum',
          }),
        });
      expect(alarms().map((alarm) => at(alarm, 'Properties'))).toContainEqual(
        expect.objectContaining({
          Threshold: 1,
          ComparisonOperator: 'GreaterThanOrEqualToThreshold',
          EvaluationPeriods: 1,
          TreatMissingData: 'notBreaching',
          Metrics: expect.arrayContaining([
            expect.objectContaining({ Expression: 'failed + timedOut', ReturnData: true }),
            executionMetric('ExecutionsFailed'),
            executionMetric('ExecutionsTimedOut'),
          ]),
        }),
      );
    });

    it('fire on a pass that finished with failed work items', () => {
      expect(alarms().map((alarm) => at(alarm, 'Properties'))).toContainEqual(
        expect.objectContaining({
          Metrics: [
            expect.objectContaining({
              MetricStat: {
                Metric: {
                  Namespace: 'Tributary',
                  MetricName: 'MaintenanceFailures',
                  Dimensions: [{ Name: 'service', Value: 'tributary' }],
                },
                Period: 300,
                Stat: 'Sum',
              },
            }),
          ],
          Threshold: 1,
          ComparisonOperator: 'GreaterThanOrEqualToThreshold',
          TreatMissingData: 'notBreaching',
        }),
      );
    });

    it('are on the dashboard with the others, beside a row of maintenance graphs', () => {
      const [, dashboard] = only(template, 'AWS::CloudWatch::Dashboard');
      const body = JSON.stringify(stack.resolve(at(dashboard, 'Properties', 'DashboardBody')));
      for (const alarm of tributary.maintenance.alarms) {
        expect(body).toContain(JSON.stringify(stack.resolve(alarm.alarmArn)).slice(1, -1));
      }
      for (const part of [
        'Maintenance executions',
        'ExecutionsSucceeded',
        'ExecutionsFailed',
        'ExecutionsTimedOut',
        'Maintenance pass duration, ms',
        'MaintenancePassDurationMs',
        'MaintenanceBytesFreed',
        'MaintenanceChunksDeleted',
        'MaintenanceOrphansDeleted',
        'MaintenanceIndexEntriesDeleted',
        'MaintenancePartitionsBehindRetention',
      ]) {
        expect(body, part).toContain(part);
      }
    });
  });

  it('is a construct of its own, wired in by the Tributary construct', () => {
    expect(tributary.maintenance).toBeInstanceOf(TributaryMaintenance);
  });
});
