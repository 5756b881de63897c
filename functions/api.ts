import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SFNClient } from '@aws-sdk/client-sfn';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { StepFunctionsMaintenance } from './adapters/aws/step-functions-maintenance.ts';
import { createApp, deferBeforeResponse } from './app.ts';
import { readConfig } from './config.ts';
import { hashApiKey } from './core/auth/api-keys.ts';
import { readDispatchConfig } from './dispatch/config.ts';
import { targetPolicy } from './dispatch/runtime.ts';
import { toApiGatewayResult } from './http/responses.ts';
import { lambdaObservability } from './observability.ts';
import { openAwsStores } from './stores/aws.ts';

/** The Lambda entry point behind API Gateway's HTTP API. Built once per cold start. */
const config = readConfig();
if (config.store !== 'aws') {
  throw new Error('The Lambda handler runs on the AWS store: set TRIBUTARY_STORE=aws');
}
const { logger, log, counters, publish } = lambdaObservability();
const stores = await openAwsStores(config);
const { stateMachineArn } = config;

const app = createApp({
  metadata: stores.metadata,
  segments: stores.segments,
  log,
  metrics: counters,
  cacheBytes: config.cacheBytes,
  defer: deferBeforeResponse(log),
  // No browser origin unless the deployment names some (the construct's corsOrigins).
  corsOrigins: config.corsOrigins ?? [],
  // In AWS a webhook never reaches loopback, private or link-local addresses.
  targets: targetPolicy(readDispatchConfig(), { allowLoopback: false }),
  // Deployed, maintenance is the state machine's; a pass never runs inside an API request.
  ...(stateMachineArn && {
    maintenance: () => new StepFunctionsMaintenance(new SFNClient({}), stateMachineArn),
  }),
  ...(config.auth && { auth: { adminKeyHash: hashApiKey(await bootstrapAdminKey()) } }),
});

export const handler = async (event: APIGatewayProxyEventV2, context?: Context) => {
  if (context) logger.addContext(context);
  try {
    return toApiGatewayResult(await app(event));
  } finally {
    publish();
  }
};

/** The bootstrap admin key: from the environment, or from its secret, read once. */
async function bootstrapAdminKey(): Promise<string> {
  if (config.adminKey) return config.adminKey;
  const client = new SecretsManagerClient({});
  const secret = await client.send(
    new GetSecretValueCommand({ SecretId: config.adminKeySecretArn }),
  );
  client.destroy();
  if (!secret.SecretString) throw new Error('the bootstrap admin key secret is empty');
  return secret.SecretString;
}
