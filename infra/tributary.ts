import { fileURLToPath } from 'node:url';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import {
  HttpApi,
  HttpStage,
  PayloadFormatVersion,
  type ThrottleSettings,
} from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { AttributeType, BillingMode, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, Runtime } from 'aws-cdk-lib/aws-lambda';
import { type BundlingOptions, NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { BlockPublicAccess, Bucket, BucketEncryption } from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';

/** The repository root: the Lambda code is bundled from here, whoever instantiates us. */
const projectRoot = fileURLToPath(new URL('..', import.meta.url));

/** The API Lambda's entry point (ESM, top-level await). */
export const apiEntry = fileURLToPath(new URL('../functions/api.ts', import.meta.url));

/** The runtime every function runs on; bundling targets the same Node version. */
export const runtime = Runtime.NODEJS_24_X;

/** API Gateway's HTTP API gives up on an integration after 30 s; longer is never useful. */
const maxTimeout = Duration.seconds(30);

/**
 * How the API function is bundled. Exported so tests and future functions share one
 * definition: what is deployed is what was tested.
 */
export const apiBundling: BundlingOptions = {
  format: OutputFormat.ESM,
  target: 'node24',
  // Prefer packages' ESM builds, which tree-shake better: a fifth smaller bundle here.
  mainFields: ['module', 'main'],
  minify: true,
  sourceMap: true,
  // Stack traces need only the mappings; embedding the sources would add megabytes.
  sourcesContent: false,
  // ESM output has no `require`; CommonJS dependencies inside the bundle still call it
  // for Node built-ins.
  banner: "import { createRequire } from 'module'; const require = createRequire(import.meta.url);",
  // Bundle the AWS SDK v3 clients instead of using the copy in the Lambda runtime, whose
  // version AWS changes without notice: the pinned versions in package-lock.json are the
  // ones the tests ran against, so the tested code is the deployed code.
  externalModules: [],
};

export interface TributaryThrottling {
  /** Steady-state requests per second across the API. @default 1000 */
  readonly rateLimit?: number;
  /** Requests served at once before the rate applies (the token bucket's size). @default 1000 */
  readonly burstLimit?: number;
}

export interface TributaryProps {
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
  /** How long the API function's logs are kept. @default RetentionDays.ONE_MONTH */
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
}

/**
 * The whole Tributary service: an HTTP API in front of one Lambda function, which keeps
 * metadata in a DynamoDB table and record batches in S3.
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
  readonly api: HttpApi;
  /** The API's base URL, ending in '/'. */
  readonly url: string;

  constructor(scope: Construct, id: string, props: TributaryProps = {}) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const destroyData = removalPolicy === RemovalPolicy.DESTROY;
    const memorySize = props.memorySize ?? 1024;
    const timeout = props.timeout ?? maxTimeout;
    const cacheMb = props.cacheMb ?? Math.floor(memorySize / 4);
    validate(memorySize, timeout, cacheMb);

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
    });

    // Chunks are written once under unique keys and never overwritten, so versioning
    // would only keep deleted chunks around and bill for them.
    this.bucket = new Bucket(this, 'Segments', {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      versioned: false,
      lifecycleRules: [
        { id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
      removalPolicy,
      autoDeleteObjects: destroyData,
    });

    const logGroup = new LogGroup(this, 'ApiLogs', {
      retention: props.logRetention ?? RetentionDays.ONE_MONTH,
      removalPolicy,
    });

    // Our own role rather than the default one, whose AWSLambdaBasicExecutionRole may
    // write to any log group in the account: this one may write to its own group only.
    const role = new Role(this, 'ApiRole', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: 'Tributary API function',
    });
    logGroup.grantWrite(role);

    this.handler = new NodejsFunction(this, 'Api', {
      description: 'Tributary HTTP API',
      entry: apiEntry,
      handler: 'handler',
      projectRoot,
      depsLockFilePath: fileURLToPath(new URL('../package-lock.json', import.meta.url)),
      runtime,
      architecture: Architecture.ARM_64,
      memorySize,
      timeout,
      logGroup,
      role,
      bundling: apiBundling,
      environment: {
        TRIBUTARY_STORE: 'aws',
        TRIBUTARY_TABLE: this.table.tableName,
        TRIBUTARY_BUCKET: this.bucket.bucketName,
        TRIBUTARY_CACHE_MB: String(cacheMb),
        NODE_OPTIONS: '--enable-source-maps',
      },
    });

    // Data actions on this table only: no table management, no other table.
    this.table.grantReadWriteData(this.handler);
    // Exactly what the S3 adapter calls: PutObject, GetObject (ranged), DeleteObjects (which
    // checks s3:DeleteObject per key) and ListObjectsV2. ListBucket also makes a missing
    // key a 404 rather than a 403.
    this.handler.addToRolePolicy(
      new PolicyStatement({
        actions: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'],
        resources: [this.bucket.arnForObjects('*')],
      }),
    );
    this.handler.addToRolePolicy(
      new PolicyStatement({ actions: ['s3:ListBucket'], resources: [this.bucket.bucketArn] }),
    );

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
    const stage = new HttpStage(this, 'DefaultStage', {
      httpApi: this.api,
      stageName: '$default',
      autoDeploy: true,
      throttle,
    });
    this.url = stage.url;
  }
}

/** Refuses at synth what would only fail, or silently misbehave, once deployed. */
function validate(memorySize: number, timeout: Duration, cacheMb: number): void {
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
}
