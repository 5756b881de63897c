import { fileURLToPath } from 'node:url';
import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import {
  HttpApi,
  HttpStage,
  LogGroupLogDestination,
  PayloadFormatVersion,
  type ThrottleSettings,
} from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type { IAlarmAction } from 'aws-cdk-lib/aws-cloudwatch';
import {
  AttributeType,
  BillingMode,
  StreamViewType,
  Table,
  TableEncryption,
} from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { BlockPublicAccess, Bucket, BucketEncryption } from 'aws-cdk-lib/aws-s3';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { parseCorsOrigins } from '../functions/http/cors.ts';
import { defaultApiMemoryMb } from './api-defaults.ts';
import { TributaryDispatcher } from './dispatcher.ts';
import { tributaryFunction } from './lambda-function.ts';
import { logicalIdOf } from './logical-id.ts';
import { TributaryMaintenance, type TributaryMaintenanceProps } from './maintenance.ts';
import { metricsService, TributaryMonitoring } from './monitoring.ts';

export { functionBundling, runtime } from './lambda-function.ts';

/** The API Lambda's entry point (ESM, top-level await). */
export const apiEntry = fileURLToPath(new URL('../functions/api.ts', import.meta.url));

/** API Gateway's HTTP API gives up on an integration after 30 s; longer is never useful. */
const maxTimeout = Duration.seconds(30);

export interface TributaryThrottling {
  /** Steady-state requests per second across the API. @default 1000 */
  readonly rateLimit?: number;
  /** Requests served at once before the rate applies (the token bucket's size). @default 1000 */
  readonly burstLimit?: number;
}

/**
 * How the API authenticates requests.
 * - `apiKey`: every request carries `Authorization: Bearer <key>`; the bootstrap admin key
 *   is generated at deploy into a Secrets Manager secret only the function can read.
 * - `none`: no authentication: anyone who knows the URL can read and write every topic.
 *   For a private experiment, or behind your own gateway.
 */
export type TributaryAuthMode = 'apiKey' | 'none';

/** The function's log levels (Powertools Logger's). */
export type TributaryLogLevel =
  | 'TRACE'
  | 'DEBUG'
  | 'INFO'
  | 'WARN'
  | 'ERROR'
  | 'CRITICAL'
  | 'SILENT';

export interface TributaryProps {
  /** How requests are authenticated. @default 'apiKey' */
  readonly authMode?: TributaryAuthMode;
  /** The API function's log level (TRIBUTARY_LOG_LEVEL). @default 'INFO' */
  readonly logLevel?: TributaryLogLevel;
  /**
   * What to do when an alarm goes off, and again when it clears, e.g.
   * `[new SnsAction(topic)]` from aws-cdk-lib/aws-cloudwatch-actions.
   * @default none: the alarms only show in the CloudWatch console and on the dashboard
   */
  readonly alarmActions?: readonly IAlarmAction[];
  /**
   * The CloudWatch namespace of the function's own metrics (Requests, Records, Bytes,
   * Errors, CommitConflicts, …), which the dashboard reads. Give each deployment in one
   * account and region its own, or their figures add up.
   * @default 'Tributary'
   */
  readonly metricsNamespace?: string;
  /**
   * What happens to the table, the bucket and the function's logs when they leave the
   * stack. With DESTROY the bucket is emptied first (a custom resource does it), since
   * CloudFormation cannot delete a bucket that holds objects.
   * @default RemovalPolicy.RETAIN — records outlive the stack unless you say otherwise
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * DynamoDB deletion protection on the metadata table.
   * @default true, unless removalPolicy is DESTROY
   */
  readonly deletionProtection?: boolean;
  /**
   * How long logs are kept: the API function's, the HTTP API's access log and the segment
   * bucket's server access logs.
   * @default RetentionDays.ONE_MONTH
   */
  readonly logRetention?: RetentionDays;
  /** The API function's memory in MB; CPU scales with it. @default 1024 */
  readonly memorySize?: number;
  /** The API function's timeout, at most 30 s (the HTTP API's own limit). @default 30 s */
  readonly timeout?: Duration;
  /** Throttling on the HTTP API's default stage, a ceiling on load and cost. */
  readonly throttling?: TributaryThrottling;
  /**
   * MB of batches each function instance keeps in memory (chunks are immutable, so
   * cached batches never go stale).
   * @default a quarter of memorySize
   */
  readonly cacheMb?: number;
  /**
   * ARNs of the Lambda functions subscriptions may deliver to: the dispatcher's role may
   * invoke these and no other, and the API refuses a subscription to any other.
   * @default none: subscriptions deliver to webhooks only
   */
  readonly subscriberFunctions?: readonly string[];
  /**
   * How long a delivery may take. Give subscribed functions a shorter timeout: a dispatcher
   * that crashed mid-delivery holds its partitions twice this long.
   * @default 60 seconds
   */
  readonly deliveryTimeout?: Duration;
  /** A subscription whose oldest undelivered record is older than this alarms. @default 15 minutes */
  readonly maxIteratorAge?: Duration;
  /** How often the dispatcher's safety-net pass runs. @default 1 minute */
  readonly dispatchSchedule?: Duration;
  /**
   * The maintenance workflow: how often a pass runs, how many work items at once, the
   * orphan grace. See {@link TributaryMaintenanceProps}.
   * @default a pass every hour, 4 items at once, a 10-minute orphan grace
   */
  readonly maintenance?: TributaryMaintenanceProps;
  /**
   * Origins whose web pages may call the API from a browser (CORS), e.g.
   * `['https://app.example.com']`, or `['*']` for any page. Keys travel in the
   * Authorization header, never in cookies, so a page can only use a key it holds.
   * @default none: browsers refuse pages on other origins the API's answers
   */
  readonly corsOrigins?: readonly string[];
}

/**
 * The whole Tributary service: an HTTP API in front of one Lambda function, which keeps
 * metadata in a DynamoDB table and record batches in S3, and a maintenance workflow that
 * frees what retention expired.
 *
 * @example
 * new Tributary(this, 'Tributary', { removalPolicy: RemovalPolicy.DESTROY });
 */
export class Tributary extends Construct {
  /** Metadata: topics, partition heads, the index of batches. */
  readonly table: Table;
  /** Segment chunks: immutable objects holding batches of records. */
  readonly bucket: Bucket;
  /** The API function. */
  readonly handler: NodejsFunction;
  /** The maintenance state machine, its function and schedule. */
  readonly maintenance: TributaryMaintenance;
  readonly api: HttpApi;
  /** The API's base URL, ending in '/'. */
  readonly url: string;
  /**
   * The bootstrap admin API key (its SecretString is the key itself), when authMode is
   * 'apiKey'. Deleted with the stack: a key is not data, and a new deployment makes its own.
   */
  readonly adminKey?: Secret;
  /** Alarms and the dashboard. */
  readonly monitoring: TributaryMonitoring;
  /** Push delivery of subscribed topics. */
  readonly dispatcher: TributaryDispatcher;

  constructor(scope: Construct, id: string, props: TributaryProps = {}) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const destroyData = removalPolicy === RemovalPolicy.DESTROY;
    const memorySize = props.memorySize ?? defaultApiMemoryMb;
    const timeout = props.timeout ?? maxTimeout;
    const cacheMb = props.cacheMb ?? Math.floor(memorySize / 4);
    const authMode = props.authMode ?? 'apiKey';
    const metricsNamespace = props.metricsNamespace ?? 'Tributary';
    const logRetention = props.logRetention ?? RetentionDays.ONE_MONTH;
    validate(memorySize, timeout, cacheMb, metricsNamespace);
    // Checked at synth as the function checks TRIBUTARY_CORS_ORIGINS at its cold start.
    const corsOrigins = parseCorsOrigins((props.corsOrigins ?? []).join(','));

    // Keys and TTL as createTableInput in functions/adapters/aws/dynamodb-metadata-store.ts.
    this.table = new Table(this, 'Table', {
      partitionKey: { name: 'pk', type: AttributeType.STRING },
      sortKey: { name: 'sk', type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: 'ttl',
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: TableEncryption.AWS_MANAGED,
      deletionProtection: props.deletionProtection ?? !destroyData,
      removalPolicy,
      // Wakes the dispatcher when partition heads advance (infra/dispatcher.ts).
      stream: StreamViewType.KEYS_ONLY,
    });

    // Who read or wrote which chunk, including anyone going around the API with their own
    // AWS credentials (CloudTrail records object access only as paid data events). Delivery
    // is free and a record is a few hundred bytes: cents of storage per million requests.
    const accessLogs = new Bucket(this, 'SegmentsAccessLogs', {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      // S3 delivers server access logs only to buckets with S3-managed keys.
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      versioned: false,
      lifecycleRules: [
        {
          id: 'expire-access-logs',
          ...(logRetention !== RetentionDays.INFINITE && {
            expiration: Duration.days(logRetention),
          }),
          abortIncompleteMultipartUploadAfter: Duration.days(1),
        },
      ],
      removalPolicy,
      autoDeleteObjects: destroyData,
    });

    // Chunks are written once under unique keys and never overwritten, so versioning
    // would only keep deleted chunks around and bill for them.
    this.bucket = new Bucket(this, 'Segments', {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      versioned: false,
      serverAccessLogsBucket: accessLogs,
      serverAccessLogsPrefix: 'segments/',
      lifecycleRules: [
        { id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
      removalPolicy,
      autoDeleteObjects: destroyData,
    });

    // A generated name (not e.g. 'tributary/admin-key'): secret names are unique in an
    // account and region, so two deployments never collide, and CloudFormation can replace
    // the secret should it have to.
    this.adminKey =
      authMode === 'apiKey'
        ? new Secret(this, 'AdminKey', {
            description:
              'Tributary bootstrap admin API key: send it as Authorization: Bearer <key>',
            generateSecretString: {
              passwordLength: 48,
              excludePunctuation: true,
              includeSpace: false,
            },
            removalPolicy: RemovalPolicy.DESTROY,
          })
        : undefined;
    if (this.adminKey) {
      Validations.of(this.adminKey).acknowledge({
        id: 'AwsSolutions-SMG4',
        reason:
          'The admin key is a bootstrap credential an operator holds and uses to create scoped keys. Scheduled rotation would silently invalidate the copy the operator holds, and Secrets Manager offers managed rotation for database credentials only. Rotate it by hand: docs/deploy.md, "Rotating the admin key".',
      });
    }

    // Before the API function, which starts it: and it refuses bad props before anything
    // is bundled.
    this.maintenance = new TributaryMaintenance(this, 'Maintenance', {
      ...props.maintenance,
      table: this.table,
      bucket: this.bucket,
      logRetention,
      removalPolicy,
      logLevel: props.logLevel ?? 'INFO',
      metricsNamespace,
    });
    const api = tributaryFunction(this, 'Api', {
      description: 'Tributary HTTP API',
      entry: apiEntry,
      memorySize,
      timeout,
      logRetention,
      removalPolicy,
      // GET /v1/openapi.json serves docs/openapi.yaml, which the function reads beside itself.
      afterBundling: (inputDir, outputDir) => [
        `cp "${inputDir}/docs/openapi.yaml" "${outputDir}/openapi.yaml"`,
      ],
      environment: {
        TRIBUTARY_STORE: 'aws',
        TRIBUTARY_TABLE: this.table.tableName,
        TRIBUTARY_BUCKET: this.bucket.bucketName,
        TRIBUTARY_CACHE_MB: String(cacheMb),
        TRIBUTARY_AUTH: this.adminKey ? 'on' : 'off',
        ...(this.adminKey && { TRIBUTARY_ADMIN_KEY_SECRET_ARN: this.adminKey.secretArn }),
        TRIBUTARY_LOG_LEVEL: props.logLevel ?? 'INFO',
        TRIBUTARY_SUBSCRIBER_FUNCTIONS: (props.subscriberFunctions ?? []).join(','),
        TRIBUTARY_CORS_ORIGINS: corsOrigins.join(','),
        POWERTOOLS_SERVICE_NAME: metricsService,
        POWERTOOLS_METRICS_NAMESPACE: metricsNamespace,
        // POST /v1/admin/maintenance starts an execution; GET reads it back.
        TRIBUTARY_STATE_MACHINE_ARN: this.maintenance.stateMachine.stateMachineArn,
      },
    });
    this.handler = api.handler;

    // Data actions on this table only: no table management, no other table.
    this.table.grantReadWriteData(this.handler);
    // What produce and fetch call: PutObject and GetObject (ranged). ListBucket makes a
    // missing key a 404 rather than a 403. No delete: only the maintenance function, which
    // can tell a dead chunk from a live one, may delete objects.
    this.handler.addToRolePolicy(
      new PolicyStatement({
        actions: ['s3:GetObject', 's3:PutObject'],
        resources: [this.bucket.arnForObjects('*')],
      }),
    );
    this.handler.addToRolePolicy(
      new PolicyStatement({ actions: ['s3:ListBucket'], resources: [this.bucket.bucketArn] }),
    );
    // The value of this one secret, and nothing else about it or any other.
    if (this.adminKey) {
      this.handler.addToRolePolicy(
        new PolicyStatement({
          actions: ['secretsmanager:GetSecretValue'],
          resources: [this.adminKey.secretArn],
        }),
      );
    }
    Validations.of(api.role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${logicalIdOf(this.bucket)}.Arn>/*]`,
      reason:
        'Chunks are written under unique keys made at produce time, so object access cannot name them in advance; the wildcard covers the objects of this one bucket only.',
    });
    // Start maintenance executions, and read those back: no other state machine, no stop.
    this.maintenance.grantRun(this.handler);
    Validations.of(api.role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:<${logicalIdOf(this.maintenance.stateMachine)}.Name>:*]`,
      reason:
        'Maintenance executions are named when the API starts them, so reading one back cannot name it in advance; the wildcard covers the executions of this one state machine, for states:DescribeExecution only.',
    });

    // Every method and path goes to the function, which does its own routing; the
    // default stage is made here rather than by HttpApi so it can carry throttling.
    this.api = new HttpApi(this, 'HttpApi', {
      description: 'Tributary',
      createDefaultStage: false,
      defaultIntegration: new HttpLambdaIntegration('Api', this.handler, {
        payloadFormatVersion: PayloadFormatVersion.VERSION_2_0,
      }),
    });
    const throttle: ThrottleSettings = {
      rateLimit: props.throttling?.rateLimit ?? 1000,
      burstLimit: props.throttling?.burstLimit ?? 1000,
    };
    const accessLog = new LogGroup(this, 'ApiAccessLogs', {
      retention: logRetention,
      removalPolicy,
    });
    const stage = new HttpStage(this, 'DefaultStage', {
      httpApi: this.api,
      stageName: '$default',
      autoDeploy: true,
      throttle,
      // One JSON line per request, a few hundred bytes: who called, what, the answer's status
      // and size, and how long it took, including requests the function never saw.
      accessLogSettings: {
        destination: new LogGroupLogDestination(accessLog),
        format: AccessLogFormat.custom(
          JSON.stringify({
            requestId: '$context.requestId',
            ip: '$context.identity.sourceIp',
            time: '$context.requestTimeEpoch',
            method: '$context.httpMethod',
            path: '$context.path',
            status: '$context.status',
            bytes: '$context.responseLength',
            ms: '$context.responseLatency',
            error: '$context.integrationErrorMessage',
          }),
        ),
      },
    });
    this.url = stage.url;
    // No API Gateway authorizer on the route: authentication is the function's (see reason).
    Validations.of(this.api).acknowledge({
      id: 'AwsSolutions-APIG4',
      reason: this.adminKey
        ? 'The API function authenticates every request itself (Authorization: Bearer <API key>) against keys only it can read; a Lambda authorizer would check the same keys at the price of a second invocation, and a second cold start, per request.'
        : "authMode 'none' was chosen explicitly: the API is open to anyone who knows its URL.",
    });

    this.monitoring = new TributaryMonitoring(this, 'Monitoring', {
      api: this.api,
      handler: this.handler,
      table: this.table,
      metricsNamespace,
      alarmActions: props.alarmActions ?? [],
      maintenance: this.maintenance,
    });

    this.dispatcher = new TributaryDispatcher(this, 'Dispatcher', {
      table: this.table,
      bucket: this.bucket,
      apiUrl: this.url,
      subscriberFunctions: props.subscriberFunctions ?? [],
      deliveryTimeout: props.deliveryTimeout ?? Duration.seconds(60),
      schedule: props.dispatchSchedule ?? Duration.minutes(1),
      maxIteratorAge: props.maxIteratorAge ?? Duration.minutes(15),
      metricsNamespace,
      metricsService,
      logLevel: props.logLevel ?? 'INFO',
      logRetention,
      removalPolicy,
      alarmActions: props.alarmActions ?? [],
    });
    this.dispatcher.addTo(this.monitoring.dashboard, metricsNamespace);
  }
}

/** Refuses at synth what would only fail, or silently misbehave, once deployed. */
function validate(
  memorySize: number,
  timeout: Duration,
  cacheMb: number,
  metricsNamespace: string,
): void {
  if (!Number.isInteger(memorySize) || memorySize < 128 || memorySize > 10_240) {
    throw new Error(`memorySize must be an integer from 128 to 10240 (MB); got ${memorySize}`);
  }
  if (!timeout.isUnresolved() && timeout.toMilliseconds() > maxTimeout.toMilliseconds()) {
    throw new Error(
      `timeout must be at most 30 s: the HTTP API stops waiting then; got ${timeout.toHumanString()}`,
    );
  }
  // functions/config.ts accepts 0..4096; a cache as large as the memory would crowd out the rest.
  if (!Number.isInteger(cacheMb) || cacheMb < 0 || cacheMb > 4096 || cacheMb >= memorySize) {
    throw new Error(
      `cacheMb must be an integer from 0 to 4096 and below memorySize (${memorySize}); got ${cacheMb}`,
    );
  }
  // CloudWatch's rule for namespaces; AWS/ is reserved for AWS's own.
  if (
    !/^[0-9A-Za-z.\-_/#: ]{1,255}$/.test(metricsNamespace) ||
    metricsNamespace.startsWith('AWS/')
  ) {
    throw new Error(
      `metricsNamespace must be 1-255 of letters, digits and . - _ / # : or space, not starting with AWS/; got '${metricsNamespace}'`,
    );
  }
}
