import { Duration } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TributaryStack } from '../../infra/stack.ts';
import { type Synthesized, synthesize } from './synthesize.ts';
import { at, isRecord } from './template.ts';

const subscriber = 'arn:aws:lambda:eu-west-1:123456789012:function:order-projector';

/** Every statement of the policies attached to the dispatcher's role. */
function dispatcherStatements(template: Template, stack: TributaryStack) {
  const roleRef = stack.resolve(stack.tributary.dispatcher.function.role?.roleName);
  return Object.values(template.findResources('AWS::IAM::Policy'))
    .filter((p) => JSON.stringify(at(p, 'Properties', 'Roles')) === JSON.stringify([roleRef]))
    .flatMap((p) => {
      const statements = at(p, 'Properties', 'PolicyDocument', 'Statement');
      return Array.isArray(statements) ? statements.filter(isRecord) : [];
    })
    .map((s) => ({
      actions: (Array.isArray(s.Action) ? s.Action : [s.Action]).map(String),
      resources: Array.isArray(s.Resource) ? s.Resource : [s.Resource],
    }));
}

describe('the dispatcher', () => {
  let synthesized: Synthesized;
  let template: Template;
  let stack: TributaryStack;
  beforeAll(() => {
    synthesized = synthesize(
      { tributary: { subscriberFunctions: [subscriber], deliveryTimeout: Duration.seconds(30) } },
      { bundle: false },
    );
    stack = synthesized.stack;
    template = Template.fromStack(stack);
  });
  afterAll(() => synthesized?.remove());

  it('may invoke exactly the listed functions, and touch only its table, stream, bucket and logs', () => {
    const statements = dispatcherStatements(template, stack);
    const invoking = statements.filter((s) => s.actions.some((a) => a.startsWith('lambda:')));
    expect(invoking).toEqual([{ actions: ['lambda:InvokeFunction'], resources: [subscriber] }]);
    const table = stack.tributary.table;
    for (const { actions, resources } of statements) {
      for (const action of actions) {
        expect(action).not.toMatch(
          /\*|^dynamodb:(Create|Delete|Update)Table|^s3:Put(Bucket|Object)Acl/,
        );
        const service = action.split(':')[0];
        expect(['dynamodb', 's3', 'lambda', 'logs']).toContain(service);
      }
      // The table and its stream; ListStreams, which has no resource to name, on '*'.
      if (actions.every((a) => a.startsWith('dynamodb:'))) {
        const listStreams = actions.length === 1 && actions[0] === 'dynamodb:ListStreams';
        const getAtt = at(stack.resolve(table.tableArn), 'Fn::GetAtt');
        const tableId = Array.isArray(getAtt) ? String(getAtt[0]) : 'no table id';
        expect(tableId).toMatch(/^TributaryTable/);
        for (const resource of resources) {
          const text = JSON.stringify(resource);
          const ok =
            (listStreams && resource === '*') ||
            (!listStreams && (text.includes(tableId) || text.includes('AWS::NoValue')));
          expect(ok, `${actions} on ${text}`).toBe(true);
        }
      }
    }
  });

  it('without subscriber functions, may invoke none', () => {
    const bare = synthesize({}, { bundle: false });
    try {
      const statements = dispatcherStatements(Template.fromStack(bare.stack), bare.stack);
      expect(statements.flatMap((s) => s.actions).filter((a) => a.startsWith('lambda:'))).toEqual(
        [],
      );
      Template.fromStack(bare.stack).hasResourceProperties('AWS::Lambda::Function', {
        Description: 'Tributary HTTP API',
        Environment: { Variables: Match.objectLike({ TRIBUTARY_SUBSCRIBER_FUNCTIONS: '' }) },
      });
    } finally {
      bare.remove();
    }
  });

  it('is woken by head changes on the table stream, filtered, and by a schedule', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      StreamSpecification: { StreamViewType: 'KEYS_ONLY' },
    });
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      StartingPosition: 'LATEST',
      ParallelizationFactor: 10,
      FilterCriteria: {
        Filters: [
          {
            Pattern: JSON.stringify({
              eventName: ['INSERT', 'MODIFY'],
              dynamodb: { Keys: { sk: { S: ['head'] } } },
            }),
          },
        ],
      },
    });
    template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(1 minute)' });
  });

  it('knows the allowed functions, the delivery timeout and the API URL; the API knows the functions', () => {
    const fn = template.findResources('AWS::Lambda::Function', {
      Properties: { Description: Match.stringLikeRegexp('dispatcher') },
    });
    const [dispatcher] = Object.values(fn);
    expect(at(dispatcher, 'Properties', 'Environment', 'Variables')).toMatchObject({
      TRIBUTARY_STORE: 'aws',
      TRIBUTARY_SUBSCRIBER_FUNCTIONS: subscriber,
      TRIBUTARY_DELIVERY_TIMEOUT_MS: '30000',
      TRIBUTARY_PUBLIC_URL: expect.anything(),
    });
    // Room for several deliveries in one run.
    expect(Number(at(dispatcher, 'Properties', 'Timeout'))).toBeGreaterThanOrEqual(90);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: 'Tributary HTTP API',
      Environment: { Variables: Match.objectLike({ TRIBUTARY_SUBSCRIBER_FUNCTIONS: subscriber }) },
    });
  });

  it('alarms when the oldest undelivered record gets too old, and when the function errs', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'IteratorAgeMs',
      Namespace: 'Tributary',
      Statistic: 'Maximum',
      Threshold: 15 * 60_000,
      Dimensions: [{ Name: 'service', Value: 'tributary' }],
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'Errors',
      Namespace: 'AWS/Lambda',
      Dimensions: [
        {
          Name: 'FunctionName',
          Value: stack.resolve(stack.tributary.dispatcher.function.functionName),
        },
      ],
    });
  });

  it('leaves no AwsSolutions finding unacknowledged with subscriber functions listed', () => {
    expect(new AwsSolutionsChecks().validateScope(stack).violations).toEqual([]);
  });

  it('refuses a delivery timeout the dispatcher could not wait for', () => {
    expect(() =>
      synthesize({ tributary: { deliveryTimeout: Duration.minutes(6) } }, { bundle: false }),
    ).toThrow(/deliveryTimeout/);
  });
});
