import { ArnFormat, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import type { IAlarmAction } from 'aws-cdk-lib/aws-cloudwatch';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTableInput } from '../../functions/adapters/aws/dynamodb-metadata-store.ts';
import { functionBundling, runtime, Tributary } from '../../infra/tributary.ts';
import { type Synthesized, synthesize } from './synthesize.ts';
import { at, isRecord, only, resourceOf } from './template.ts';

interface Statement {
  readonly Effect: string;
  readonly Action: readonly string[];
  readonly Resource: unknown;
}

const asList = (value: unknown): unknown[] => (Array.isArray(value) ? value : [value]);

/** The API function: [logicalId, resource]. */
const apiFunction = (template: Template, tributary: Tributary) =>
  resourceOf(template, Stack.of(tributary).resolve(tributary.handler.functionArn));

/** The log group the API function writes to: [logicalId, resource]. */
const functionLogGroup = (
  template: Template,
  tributary: Tributary,
): [string, Record<string, unknown>] => {
  const [, fn] = apiFunction(template, tributary);
  const id = at(fn, 'Properties', 'LoggingConfig', 'LogGroup', 'Ref');
  const group =
    typeof id === 'string' ? template.findResources('AWS::Logs::LogGroup')[id] : undefined;
  if (typeof id !== 'string' || !isRecord(group)) throw new Error('the function has no log group');
  return [id, group];
};

/** The ARNs of the maintenance state machine's executions, as the template writes them. */
const executionsOf = (stack: Stack, tributary: Tributary): unknown =>
  stack.resolve(
    stack.formatArn({
      service: 'states',
      resource: 'execution',
      resourceName: `${tributary.maintenance.stateMachine.stateMachineName}:*`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    }),
  );

/** A template string built with Fn::Join, with each reference written as `REF`. */
const joined = (value: unknown): string => {
  if (typeof value === 'string') return value;
  const join = at(value, 'Fn::Join');
  if (!Array.isArray(join)) return 'REF';
  const [separator, parts] = join;
  return asList(parts).map(joined).join(String(separator));
};

/** Every IAM statement in the template, from every policy. */
const allStatements = (template: Template): Statement[] =>
  Object.values(template.findResources('AWS::IAM::Policy')).flatMap(statementsOf);

/** The statements of an AWS::IAM::Policy resource, checked to have the expected shape. */
const statementsOf = (policy: Record<string, unknown>): Statement[] => {
  const statements = at(policy, 'Properties', 'PolicyDocument', 'Statement');
  if (!Array.isArray(statements)) throw new Error('policy without statements');
  return statements.map((statement: unknown): Statement => {
    if (!isRecord(statement)) throw new Error('statement is not an object');
    const { Effect, Action, Resource } = statement;
    const actions: unknown[] = Array.isArray(Action) ? Action : [Action];
    if (typeof Effect !== 'string' || !actions.every((a) => typeof a === 'string')) {
      throw new Error(`unexpected statement ${JSON.stringify(statement)}`);
    }
    return { Effect, Action: actions.map(String), Resource };
  });
};

describe('TributaryStack', () => {
  let synthesized: Synthesized;
  let template: Template;
  let tributary: Tributary;
  let stack: Stack;

  beforeAll(() => {
    synthesized = synthesize();
    stack = synthesized.stack;
    tributary = synthesized.stack.tributary;
    template = Template.fromStack(synthesized.stack);
  });
  afterAll(() => synthesized?.remove());

  describe('metadata table', () => {
    it('has the key schema and billing the DynamoDB adapter creates in emulators', () => {
      const input = createTableInput('unused');
      template.hasResourceProperties('AWS::DynamoDB::Table', {
        BillingMode: input.BillingMode,
        KeySchema: input.KeySchema,
        AttributeDefinitions: input.AttributeDefinitions,
      });
      expect(input.BillingMode).toBe('PAY_PER_REQUEST');
    });

    it('expires items on the `ttl` attribute the adapter writes', () => {
      template.hasResourceProperties('AWS::DynamoDB::Table', {
        TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
      });
    });

    it('has point-in-time recovery, encryption at rest and deletion protection', () => {
      template.hasResourceProperties('AWS::DynamoDB::Table', {
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        SSESpecification: { SSEEnabled: true },
        DeletionProtectionEnabled: true,
      });
    });

    it('outlives the stack by default', () => {
      template.hasResource('AWS::DynamoDB::Table', {
        DeletionPolicy: 'Retain',
        UpdateReplacePolicy: 'Retain',
      });
    });
  });

  describe('segment bucket', () => {
    it('blocks all public access and encrypts with S3-managed keys', () => {
      template.hasResourceProperties('AWS::S3::Bucket', {
        PublicAccessBlockConfiguration: {
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        },
        BucketEncryption: {
          ServerSideEncryptionConfiguration: [
            { ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } },
          ],
        },
      });
    });

    it('is not versioned (chunks are never overwritten) and aborts stale multipart uploads', () => {
      template.hasResourceProperties('AWS::S3::Bucket', {
        VersioningConfiguration: Match.absent(),
        LifecycleConfiguration: {
          Rules: Match.arrayWith([
            Match.objectLike({
              Status: 'Enabled',
              AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
            }),
          ]),
        },
      });
    });

    it('refuses requests without TLS', () => {
      template.hasResourceProperties('AWS::S3::BucketPolicy', {
        Bucket: stack.resolve(tributary.bucket.bucketName),
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Effect: 'Deny',
              Principal: { AWS: '*' },
              Condition: { Bool: { 'aws:SecureTransport': 'false' } },
              Resource: [
                stack.resolve(tributary.bucket.bucketArn),
                stack.resolve(tributary.bucket.arnForObjects('*')),
              ],
            }),
          ]),
        },
      });
    });

    it('outlives the stack by default', () => {
      template.hasResource('AWS::S3::Bucket', { DeletionPolicy: 'Retain' });
      template.resourceCountIs('Custom::S3AutoDeleteObjects', 0);
    });
  });

  describe('API function', () => {
    it('runs on Node 24 on arm64, bundled for the same Node version', () => {
      const [, fn] = apiFunction(template, tributary);
      expect(at(fn, 'Properties')).toMatchObject({
        Runtime: 'nodejs24.x',
        Architectures: ['arm64'],
        Handler: 'index.handler',
        MemorySize: 1024,
        Timeout: 30,
      });
      expect(functionBundling.target).toBe(runtime.name.replace(/^nodejs(\d+)\.x$/, 'node$1'));
    });

    it('is configured for the AWS stores, auth, logging, metrics and maintenance of this stack', () => {
      const [, fn] = apiFunction(template, tributary);
      expect(at(fn, 'Properties')).toMatchObject({
        Environment: {
          Variables: {
            TRIBUTARY_STORE: 'aws',
            TRIBUTARY_TABLE: stack.resolve(tributary.table.tableName),
            TRIBUTARY_BUCKET: stack.resolve(tributary.bucket.bucketName),
            TRIBUTARY_CACHE_MB: '256',
            TRIBUTARY_AUTH: 'on',
            TRIBUTARY_ADMIN_KEY_SECRET_ARN: stack.resolve(tributary.adminKey?.secretArn),
            TRIBUTARY_LOG_LEVEL: 'INFO',
            // No browser origin unless the deployment names one.
            TRIBUTARY_CORS_ORIGINS: '',
            POWERTOOLS_SERVICE_NAME: 'tributary',
            POWERTOOLS_METRICS_NAMESPACE: 'Tributary',
            NODE_OPTIONS: '--enable-source-maps',
            TRIBUTARY_STATE_MACHINE_ARN: stack.resolve(
              tributary.maintenance.stateMachine.stateMachineArn,
            ),
          },
        },
      });
    });

    it('logs to its own log group, with a retention', () => {
      const [, logGroup] = functionLogGroup(template, tributary);
      expect(at(logGroup, 'Properties', 'RetentionInDays')).toBe(30);
      expect(at(logGroup, 'DeletionPolicy')).toBe('Retain');
    });
  });

  describe('admin key', () => {
    it('is generated at deploy: 48 letters and digits, no punctuation', () => {
      const [, secret] = only(template, 'AWS::SecretsManager::Secret');
      expect(at(secret, 'Properties', 'SecretString')).toBeUndefined();
      expect(at(secret, 'Properties', 'GenerateSecretString')).toEqual({
        PasswordLength: 48,
        ExcludePunctuation: true,
        IncludeSpace: false,
      });
      expect(
        Number(at(secret, 'Properties', 'GenerateSecretString', 'PasswordLength')),
      ).toBeGreaterThanOrEqual(40);
    });

    it('has a generated name, and leaves with the stack', () => {
      template.hasResource('AWS::SecretsManager::Secret', {
        DeletionPolicy: 'Delete',
        Properties: Match.objectLike({ Name: Match.absent() }),
      });
    });

    it('can be read by the API function only, and only its value', () => {
      const secretRef = stack.resolve(tributary.adminKey?.secretArn);
      const reading = allStatements(template).filter((s) =>
        s.Action.some((action) => action.startsWith('secretsmanager:')),
      );
      expect(reading).toEqual([
        { Effect: 'Allow', Action: ['secretsmanager:GetSecretValue'], Resource: secretRef },
      ]);
      const roleRef = stack.resolve(tributary.handler.role?.roleName);
      template.hasResourceProperties('AWS::IAM::Policy', {
        Roles: [roleRef],
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({ Action: 'secretsmanager:GetSecretValue', Resource: secretRef }),
          ]),
        },
      });
      template.resourceCountIs('AWS::SecretsManager::ResourcePolicy', 0);
    });

    it('outputs the secret’s name and ARN', () => {
      template.hasOutput('AdminKeySecretName', {
        Value: stack.resolve(tributary.adminKey?.secretName),
      });
      template.hasOutput('AdminKeySecretArn', {
        Value: stack.resolve(tributary.adminKey?.secretArn),
      });
    });
  });

  describe('API function permissions', () => {
    let statements: Statement[];
    let logGroupArn: unknown;

    beforeAll(() => {
      const roleRef = stack.resolve(tributary.handler.role?.roleName);
      const policies = Object.values(template.findResources('AWS::IAM::Policy')).filter(
        (policy) => JSON.stringify(at(policy, 'Properties', 'Roles')) === JSON.stringify([roleRef]),
      );
      expect(policies).toHaveLength(1);
      statements = policies.flatMap(statementsOf);
      const [logGroupId] = functionLogGroup(template, tributary);
      logGroupArn = { 'Fn::GetAtt': [logGroupId, 'Arn'] };
    });

    it('allows only, and names every action: no `*`, no `dynamodb:*`, no `s3:*`', () => {
      const actions = statements.flatMap((s) => s.Action);
      expect(actions.length).toBeGreaterThan(0);
      for (const action of actions) expect(action).not.toContain('*');
      for (const statement of statements) expect(statement.Effect).toBe('Allow');
    });

    it('scopes each service to this stack’s table, bucket, secret, log group and state machine', () => {
      const allowed: Record<string, unknown[]> = {
        states: [
          stack.resolve(tributary.maintenance.stateMachine.stateMachineArn),
          executionsOf(stack, tributary),
        ],
        dynamodb: [stack.resolve(tributary.table.tableArn)],
        s3: [
          stack.resolve(tributary.bucket.bucketArn),
          stack.resolve(tributary.bucket.arnForObjects('*')),
        ],
        secretsmanager: [stack.resolve(tributary.adminKey?.secretArn)],
        logs: [logGroupArn],
      };
      for (const statement of statements) {
        for (const action of statement.Action) {
          const service = action.split(':')[0] ?? '';
          expect(Object.keys(allowed), action).toContain(service);
          for (const resource of asList(statement.Resource)) {
            expect(allowed[service], `${action} on ${JSON.stringify(resource)}`).toContainEqual(
              resource,
            );
          }
        }
      }
    });

    it('can do what the adapters do, and no table or bucket management', () => {
      const actions = new Set(statements.flatMap((s) => s.Action));
      for (const needed of [
        'dynamodb:BatchGetItem',
        'dynamodb:Query',
        'dynamodb:BatchWriteItem',
        'dynamodb:PutItem',
        'dynamodb:UpdateItem',
        'dynamodb:DeleteItem',
        'dynamodb:ConditionCheckItem',
        's3:GetObject',
        's3:PutObject',
        's3:ListBucket',
        'logs:CreateLogStream',
        'logs:PutLogEvents',
        'secretsmanager:GetSecretValue',
        'states:StartExecution',
        'states:DescribeExecution',
      ]) {
        expect(actions).toContain(needed);
      }
      const tableManagement =
        /^dynamodb:((Create|Delete|Update)(Global)?Table|UpdateTimeToLive|.*Backup)/;
      for (const action of actions) expect(action).not.toMatch(tableManagement);
      // Objects only, and no delete: only the maintenance function deletes chunks.
      expect([...actions].filter((a) => a.startsWith('s3:')).sort()).toEqual([
        's3:GetObject',
        's3:ListBucket',
        's3:PutObject',
      ]);
    });

    it('may start maintenance executions and read those back, and nothing else of Step Functions', () => {
      const states = statements.filter((s) => s.Action.some((a) => a.startsWith('states:')));
      expect(states).toEqual([
        {
          Effect: 'Allow',
          Action: ['states:StartExecution'],
          Resource: stack.resolve(tributary.maintenance.stateMachine.stateMachineArn),
        },
        {
          Effect: 'Allow',
          Action: ['states:DescribeExecution'],
          Resource: executionsOf(stack, tributary),
        },
      ]);
    });

    it('has no managed policies (AWSLambdaBasicExecutionRole may write to any log group)', () => {
      const [, role] = resourceOf(template, stack.resolve(tributary.handler.role?.roleArn));
      expect(at(role, 'Properties', 'AssumeRolePolicyDocument', 'Statement')).toEqual([
        expect.objectContaining({
          Effect: 'Allow',
          Principal: { Service: 'lambda.amazonaws.com' },
          Action: 'sts:AssumeRole',
        }),
      ]);
      // Nor any other role of the stack.
      for (const other of Object.values(template.findResources('AWS::IAM::Role'))) {
        expect(at(other, 'Properties', 'ManagedPolicyArns')).toBeUndefined();
      }
    });
  });

  describe('HTTP API', () => {
    it('sends every request to the function with payload format 2.0', () => {
      const [integrationId] = only(template, 'AWS::ApiGatewayV2::Integration');
      template.hasResourceProperties('AWS::ApiGatewayV2::Api', { ProtocolType: 'HTTP' });
      template.hasResourceProperties('AWS::ApiGatewayV2::Integration', {
        IntegrationType: 'AWS_PROXY',
        IntegrationUri: stack.resolve(tributary.handler.functionArn),
        PayloadFormatVersion: '2.0',
      });
      template.hasResourceProperties('AWS::ApiGatewayV2::Route', {
        RouteKey: '$default',
        Target: { 'Fn::Join': ['', ['integrations/', { Ref: integrationId }]] },
      });
      template.hasResourceProperties('AWS::Lambda::Permission', {
        Action: 'lambda:InvokeFunction',
        Principal: 'apigateway.amazonaws.com',
        FunctionName: stack.resolve(tributary.handler.functionArn),
      });
    });

    it('deploys a throttled default stage', () => {
      template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
        StageName: '$default',
        AutoDeploy: true,
        DefaultRouteSettings: { ThrottlingRateLimit: 1000, ThrottlingBurstLimit: 1000 },
      });
    });

    it('writes an access log line per request to a log group of its own, with a retention', () => {
      const [, stage] = only(template, 'AWS::ApiGatewayV2::Stage');
      const destination = at(stage, 'Properties', 'AccessLogSettings', 'DestinationArn');
      const [functionLogs] = functionLogGroup(template, tributary);
      const [accessLogsId, accessLogs] = resourceOf(template, destination);
      expect(accessLogsId).not.toBe(functionLogs);
      expect(at(accessLogs, 'Properties', 'RetentionInDays')).toBe(30);
      const format: unknown = JSON.parse(
        String(at(stage, 'Properties', 'AccessLogSettings', 'Format')),
      );
      expect(format).toMatchObject({
        requestId: '$context.requestId',
        status: '$context.status',
        ms: '$context.responseLatency',
      });
    });
  });

  describe('segment bucket access logs', () => {
    it('go to a bucket of their own, under a prefix', () => {
      template.hasResourceProperties('AWS::S3::Bucket', {
        LoggingConfiguration: {
          DestinationBucketName: Match.objectLike({ Ref: Match.anyValue() }),
          LogFilePrefix: 'segments/',
        },
      });
    });

    it('expire with the log retention, are private, encrypted and TLS-only', () => {
      const [, segments] =
        Object.entries(template.findResources('AWS::S3::Bucket')).find(
          ([, bucket]) => at(bucket, 'Properties', 'LoggingConfiguration') !== undefined,
        ) ?? [];
      const logsId = at(
        segments,
        'Properties',
        'LoggingConfiguration',
        'DestinationBucketName',
        'Ref',
      );
      const logs = template.findResources('AWS::S3::Bucket')[String(logsId)];
      expect(at(logs, 'Properties', 'LifecycleConfiguration', 'Rules')).toEqual([
        expect.objectContaining({ ExpirationInDays: 30, Status: 'Enabled' }),
      ]);
      expect(at(logs, 'Properties', 'PublicAccessBlockConfiguration')).toEqual({
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      });
      expect(at(logs, 'Properties', 'BucketEncryption')).toBeDefined();
      expect(at(logs, 'DeletionPolicy')).toBe('Retain');
      template.hasResourceProperties('AWS::S3::BucketPolicy', {
        Bucket: { Ref: logsId },
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Effect: 'Deny',
              Condition: { Bool: { 'aws:SecureTransport': 'false' } },
            }),
            Match.objectLike({
              Effect: 'Allow',
              Principal: { Service: 'logging.s3.amazonaws.com' },
              Action: 's3:PutObject',
            }),
          ]),
        },
      });
    });
  });

  describe('alarms', () => {
    let alarms: Record<string, unknown>[];
    beforeAll(() => {
      alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm'));
    });

    it('are eight (four for the API, two for maintenance, two for the dispatcher), with no actions unless asked', () => {
      expect(alarms).toHaveLength(8);
      for (const alarm of alarms) {
        expect(at(alarm, 'Properties', 'AlarmActions')).toBeUndefined();
        expect(at(alarm, 'Properties', 'TreatMissingData')).toBe('notBreaching');
      }
    });

    it('fire on more than 1% of requests answered 5xx over 5 minutes, given 100 requests', () => {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        ComparisonOperator: 'GreaterThanThreshold',
        Threshold: 1,
        EvaluationPeriods: 1,
        Metrics: Match.arrayWith([
          Match.objectLike({
            Expression: 'IF(requests >= 100, 100 * errors / requests, 0)',
            ReturnData: true,
          }),
          Match.objectLike({
            Id: 'requests',
            MetricStat: Match.objectLike({
              Metric: Match.objectLike({ Namespace: 'AWS/ApiGateway', MetricName: 'Count' }),
              Period: 300,
              Stat: 'Sum',
            }),
          }),
          Match.objectLike({
            Id: 'errors',
            MetricStat: Match.objectLike({
              Metric: Match.objectLike({ Namespace: 'AWS/ApiGateway', MetricName: '5xx' }),
              Period: 300,
              Stat: 'Sum',
            }),
          }),
        ]),
      });
    });

    it('fire on any error or throttle of the API function', () => {
      const functionRef = stack.resolve(tributary.handler.functionName);
      for (const metricName of ['Errors', 'Throttles']) {
        template.hasResourceProperties('AWS::CloudWatch::Alarm', {
          Namespace: 'AWS/Lambda',
          MetricName: metricName,
          Dimensions: [{ Name: 'FunctionName', Value: functionRef }],
          Statistic: 'Sum',
          Period: 300,
          Threshold: 1,
          ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        });
      }
    });

    it('fire when DynamoDB throttles the table in two consecutive periods', () => {
      const tableRef = stack.resolve(tributary.table.tableName);
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        EvaluationPeriods: 2,
        DatapointsToAlarm: 2,
        Threshold: 1,
        Metrics: Match.arrayWith(
          ['ReadThrottleEvents', 'WriteThrottleEvents'].map((metricName) =>
            Match.objectLike({
              MetricStat: Match.objectLike({
                Metric: {
                  Namespace: 'AWS/DynamoDB',
                  MetricName: metricName,
                  Dimensions: [{ Name: 'TableName', Value: tableRef }],
                },
              }),
            }),
          ),
        ),
      });
    });
  });

  describe('dashboard', () => {
    it('shows requests, latency, errors by code, records, bytes, commits, the function and the table', () => {
      const [, dashboard] = only(template, 'AWS::CloudWatch::Dashboard');
      const body: unknown = JSON.parse(joined(at(dashboard, 'Properties', 'DashboardBody')));
      const widgets = asList(at(body, 'widgets')).map((widget) => ({
        title: at(widget, 'properties', 'title'),
        metrics: JSON.stringify(at(widget, 'properties', 'metrics') ?? []),
      }));
      const shows = (title: string, ...parts: string[]) => {
        const widget = widgets.find((w) => w.title === title);
        expect(widget, title).toBeDefined();
        for (const part of parts) expect(widget?.metrics, `${title}: ${part}`).toContain(part);
      };
      shows('Requests (API Gateway)', '"AWS/ApiGateway","Count"', '"5xx"', '"4xx"');
      shows('Latency, ms (API Gateway)', '"Latency"', '"stat":"p50"', '"stat":"p99"');
      shows('Errors by code (function)', 'MetricName=\\"Errors\\"');
      shows('Records produced and fetched', 'MetricName=\\"Records\\"');
      shows('Bytes produced and fetched', 'MetricName=\\"Bytes\\"');
      shows(
        'Commits: conflicts and retries',
        '"Tributary","CommitConflicts","service","tributary"',
        '"Tributary","CommitRetries","service","tributary"',
      );
      shows('Function duration, ms', '"AWS/Lambda","Duration"', '"stat":"p99"');
      shows('Function concurrency and throttles', '"ConcurrentExecutions"', '"Throttles"');
      shows(
        'DynamoDB capacity units',
        '"ConsumedReadCapacityUnits"',
        '"ConsumedWriteCapacityUnits"',
      );
      template.hasOutput('DashboardUrl', {
        Value: Match.objectLike({ 'Fn::Join': Match.anyValue() }),
      });
    });
  });
});

describe('Tributary props', () => {
  it('applies removal policy, sizing, throttling, retention and cache', () => {
    const synthesized = synthesize(
      {
        tributary: {
          removalPolicy: RemovalPolicy.DESTROY,
          logRetention: RetentionDays.ONE_WEEK,
          memorySize: 2048,
          timeout: Duration.seconds(10),
          throttling: { rateLimit: 50, burstLimit: 100 },
          cacheMb: 100,
        },
      },
      { bundle: false },
    );
    try {
      const template = Template.fromStack(synthesized.stack);
      template.hasResource('AWS::DynamoDB::Table', {
        DeletionPolicy: 'Delete',
        Properties: Match.objectLike({ DeletionProtectionEnabled: false }),
      });
      template.hasResource('AWS::S3::Bucket', { DeletionPolicy: 'Delete' });
      // CloudFormation cannot delete a bucket with objects in it: the segments and their
      // access logs are emptied first.
      template.resourceCountIs('Custom::S3AutoDeleteObjects', 2);
      template.hasResource('AWS::Logs::LogGroup', {
        DeletionPolicy: 'Delete',
        Properties: { RetentionInDays: 7 },
      });
      template.hasResourceProperties('AWS::Lambda::Function', {
        MemorySize: 2048,
        Timeout: 10,
        Environment: { Variables: Match.objectLike({ TRIBUTARY_CACHE_MB: '100' }) },
      });
      template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
        DefaultRouteSettings: { ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 },
      });
    } finally {
      synthesized.remove();
    }
  });

  it('wires every alarm to the alarm actions, on alarm and on recovery', () => {
    const topicArn = 'arn:aws:sns:us-east-1:123456789012:tributary-ops';
    const page: IAlarmAction = { bind: () => ({ alarmActionArn: topicArn }) };
    const synthesized = synthesize({ tributary: { alarmActions: [page] } }, { bundle: false });
    try {
      const alarms = Object.values(
        Template.fromStack(synthesized.stack).findResources('AWS::CloudWatch::Alarm'),
      );
      expect(alarms).toHaveLength(8);
      for (const alarm of alarms) {
        expect(at(alarm, 'Properties', 'AlarmActions')).toEqual([topicArn]);
        expect(at(alarm, 'Properties', 'OKActions')).toEqual([topicArn]);
      }
    } finally {
      synthesized.remove();
    }
  });

  it("with authMode 'none': no secret, no secret access, auth off", () => {
    const synthesized = synthesize(
      {
        tributary: {
          authMode: 'none',
          logLevel: 'DEBUG',
          metricsNamespace: 'Tributary/dev',
          corsOrigins: ['https://app.example.com', 'http://localhost:5173'],
        },
      },
      { bundle: false },
    );
    try {
      const template = Template.fromStack(synthesized.stack);
      template.resourceCountIs('AWS::SecretsManager::Secret', 0);
      expect(synthesized.stack.tributary.adminKey).toBeUndefined();
      const actions = allStatements(template).flatMap((s) => s.Action);
      expect(actions.filter((a) => a.startsWith('secretsmanager:'))).toEqual([]);
      const [, fn] = apiFunction(template, synthesized.stack.tributary);
      const variables = at(fn, 'Properties', 'Environment', 'Variables');
      expect(variables).toMatchObject({
        TRIBUTARY_AUTH: 'off',
        TRIBUTARY_LOG_LEVEL: 'DEBUG',
        POWERTOOLS_METRICS_NAMESPACE: 'Tributary/dev',
        TRIBUTARY_CORS_ORIGINS: 'https://app.example.com,http://localhost:5173',
      });
      expect(variables).not.toHaveProperty('TRIBUTARY_ADMIN_KEY_SECRET_ARN');
      expect(Object.keys(template.findOutputs('*'))).not.toContain('AdminKeySecretName');
      // The dashboard reads the function's metrics where it writes them.
      const [, dashboard] = only(template, 'AWS::CloudWatch::Dashboard');
      expect(JSON.stringify(at(dashboard, 'Properties'))).toContain('Tributary/dev');
    } finally {
      synthesized.remove();
    }
  });

  it('refuses at synth what would misbehave once deployed', () => {
    const tributary = (props: ConstructorParameters<typeof Tributary>[2]) => () =>
      new Tributary(new Stack(), 'Tributary', props);
    expect(tributary({ timeout: Duration.seconds(31) })).toThrow(/timeout must be at most 30 s/);
    expect(tributary({ memorySize: 64 })).toThrow(/memorySize/);
    expect(tributary({ memorySize: 512, cacheMb: 512 })).toThrow(/cacheMb/);
    expect(tributary({ cacheMb: 1.5 })).toThrow(/cacheMb/);
    expect(tributary({ metricsNamespace: 'AWS/Lambda' })).toThrow(/metricsNamespace/);
    expect(tributary({ metricsNamespace: '' })).toThrow(/metricsNamespace/);
    expect(tributary({ metricsNamespace: 'tributary,prod' })).toThrow(/metricsNamespace/);
    expect(tributary({ corsOrigins: ['https://app.example.com/'] })).toThrow(/origins such as/);
  });
});
