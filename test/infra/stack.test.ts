import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTableInput } from '../../functions/adapters/aws/dynamodb-metadata-store.ts';
import { apiBundling, runtime, Tributary } from '../../infra/tributary.ts';
import { type Synthesized, synthesize } from './synthesize.ts';
import { at, isRecord, only } from './template.ts';

interface Statement {
  readonly Effect: string;
  readonly Action: readonly string[];
  readonly Resource: unknown;
}

const asList = (value: unknown): unknown[] => (Array.isArray(value) ? value : [value]);

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
      template.hasResourceProperties('AWS::Lambda::Function', {
        Runtime: 'nodejs24.x',
        Architectures: ['arm64'],
        Handler: 'index.handler',
        MemorySize: 1024,
        Timeout: 30,
      });
      expect(apiBundling.target).toBe(runtime.name.replace(/^nodejs(\d+)\.x$/, 'node$1'));
    });

    it('is configured for the AWS stores of this stack', () => {
      template.hasResourceProperties('AWS::Lambda::Function', {
        Environment: {
          Variables: {
            TRIBUTARY_STORE: 'aws',
            TRIBUTARY_TABLE: stack.resolve(tributary.table.tableName),
            TRIBUTARY_BUCKET: stack.resolve(tributary.bucket.bucketName),
            TRIBUTARY_CACHE_MB: '256',
            NODE_OPTIONS: '--enable-source-maps',
          },
        },
      });
    });

    it('logs to its own log group, with a retention', () => {
      const [logGroupId, logGroup] = only(template, 'AWS::Logs::LogGroup');
      expect(at(logGroup, 'Properties', 'RetentionInDays')).toBe(30);
      template.hasResourceProperties('AWS::Lambda::Function', {
        LoggingConfig: { LogGroup: { Ref: logGroupId } },
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
      const [logGroupId] = only(template, 'AWS::Logs::LogGroup');
      logGroupArn = { 'Fn::GetAtt': [logGroupId, 'Arn'] };
    });

    it('allows only, and names every action: no `*`, no `dynamodb:*`, no `s3:*`', () => {
      const actions = statements.flatMap((s) => s.Action);
      expect(actions.length).toBeGreaterThan(0);
      for (const action of actions) expect(action).not.toContain('*');
      for (const statement of statements) expect(statement.Effect).toBe('Allow');
    });

    it('scopes each service to this stack’s table, bucket and log group', () => {
      const allowed: Record<string, unknown[]> = {
        dynamodb: [stack.resolve(tributary.table.tableArn)],
        s3: [
          stack.resolve(tributary.bucket.bucketArn),
          stack.resolve(tributary.bucket.arnForObjects('*')),
        ],
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
        's3:DeleteObject',
        's3:ListBucket',
        'logs:CreateLogStream',
        'logs:PutLogEvents',
      ]) {
        expect(actions).toContain(needed);
      }
      const tableManagement =
        /^dynamodb:((Create|Delete|Update)(Global)?Table|UpdateTimeToLive|.*Backup)/;
      for (const action of actions) expect(action).not.toMatch(tableManagement);
      // Objects only: nothing that changes the bucket's configuration or policy.
      expect([...actions].filter((a) => a.startsWith('s3:')).sort()).toEqual([
        's3:DeleteObject',
        's3:GetObject',
        's3:ListBucket',
        's3:PutObject',
      ]);
    });

    it('has no managed policies (AWSLambdaBasicExecutionRole may write to any log group)', () => {
      template.hasResourceProperties('AWS::IAM::Role', {
        AssumeRolePolicyDocument: {
          Statement: [
            Match.objectLike({
              Effect: 'Allow',
              Principal: { Service: 'lambda.amazonaws.com' },
              Action: 'sts:AssumeRole',
            }),
          ],
        },
        ManagedPolicyArns: Match.absent(),
      });
      template.resourceCountIs('AWS::IAM::Role', 1);
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
  });

  it('outputs the API URL, table and bucket names', () => {
    const [apiId] = only(template, 'AWS::ApiGatewayV2::Api');
    template.hasOutput('ApiUrl', {
      Value: {
        'Fn::Join': ['', Match.arrayWith(['https://', { Ref: apiId }, '.execute-api.'])],
      },
    });
    template.hasOutput('TableName', { Value: stack.resolve(tributary.table.tableName) });
    template.hasOutput('BucketName', { Value: stack.resolve(tributary.bucket.bucketName) });
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
      // CloudFormation cannot delete a bucket with objects in it.
      template.resourceCountIs('Custom::S3AutoDeleteObjects', 1);
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

  it('refuses at synth what would misbehave once deployed', () => {
    const tributary = (props: ConstructorParameters<typeof Tributary>[2]) => () =>
      new Tributary(new Stack(), 'Tributary', props);
    expect(tributary({ timeout: Duration.seconds(31) })).toThrow(/timeout must be at most 30 s/);
    expect(tributary({ memorySize: 64 })).toThrow(/memorySize/);
    expect(tributary({ memorySize: 512, cacheMb: 512 })).toThrow(/cacheMb/);
    expect(tributary({ cacheMb: 1.5 })).toThrow(/cacheMb/);
  });
});
