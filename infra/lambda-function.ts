import { fileURLToPath } from 'node:url';
import type { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, Runtime } from 'aws-cdk-lib/aws-lambda';
import { type BundlingOptions, NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';

/** The repository root: the Lambda code is bundled from here, whoever instantiates us. */
const projectRoot = fileURLToPath(new URL('..', import.meta.url));

/** The runtime every function runs on; bundling targets the same Node version. */
export const runtime = Runtime.NODEJS_24_X;

/**
 * How every function is bundled. Exported so tests share one definition: what is deployed
 * is what was tested.
 */
export const functionBundling: BundlingOptions = {
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

export interface TributaryFunctionProps {
  /** The entry point, an ESM module of this repository exporting `handler`. */
  readonly entry: string;
  readonly description: string;
  readonly memorySize: number;
  readonly timeout: Duration;
  readonly environment: Record<string, string>;
  readonly logRetention: RetentionDays;
  readonly removalPolicy: RemovalPolicy;
  /** Shell commands that put files beside the bundle (`outputDir`), from the repository. */
  readonly afterBundling?: (inputDir: string, outputDir: string) => string[];
}

/**
 * A function of the service: Node 24 on arm64, bundled by esbuild from this repository,
 * logging to a log group of its own (`<id>Logs`). Its role (`<id>Role`) is ours rather than
 * the default one, whose AWSLambdaBasicExecutionRole may write to any log group in the
 * account: this one may write to its own group only, and the caller grants the rest.
 */
export function tributaryFunction(
  scope: Construct,
  id: string,
  props: TributaryFunctionProps,
): { readonly handler: NodejsFunction; readonly role: Role } {
  const logGroup = new LogGroup(scope, `${id}Logs`, {
    retention: props.logRetention,
    removalPolicy: props.removalPolicy,
  });
  const role = new Role(scope, `${id}Role`, {
    assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
    description: props.description,
  });
  logGroup.grantWrite(role);
  const handler = new NodejsFunction(scope, id, {
    description: props.description,
    entry: props.entry,
    handler: 'handler',
    projectRoot,
    depsLockFilePath: fileURLToPath(new URL('../package-lock.json', import.meta.url)),
    runtime,
    architecture: Architecture.ARM_64,
    memorySize: props.memorySize,
    timeout: props.timeout,
    logGroup,
    role,
    bundling: props.afterBundling
      ? {
          ...functionBundling,
          commandHooks: {
            beforeBundling: () => [],
            beforeInstall: () => [],
            afterBundling: props.afterBundling,
          },
        }
      : functionBundling,
    environment: { ...props.environment, NODE_OPTIONS: '--enable-source-maps' },
  });
  return { handler, role };
}
