import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { TributaryStack } from './stack.ts';

/**
 * The CDK app. cdk.json runs it as `npx --no-install node infra/app.ts`: the project's own
 * Node 24 (the `node` devDependency), which runs .ts directly, even when `cdk` itself is a
 * global install started by an older system Node.
 * The stack is environment-agnostic and does no lookups, so `cdk synth` needs no AWS
 * credentials; `cdk deploy` deploys to the account and region of the current profile.
 * Deploy a second copy with `npm run deploy -- -c stackName=TributaryDev`.
 * cdk-nag's AWS Solutions rules run at every synth: a finding nobody acknowledged, with a
 * reason, stops `cdk synth` and `cdk deploy` (test/infra/nag.test.ts checks the same).
 */
const app = new App();
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
const stackName: unknown = app.node.tryGetContext('stackName');
new TributaryStack(
  app,
  typeof stackName === 'string' && stackName !== '' ? stackName : 'Tributary',
  {
    description: 'Tributary: Kafka-style topics, partitions and offsets on Lambda, DynamoDB and S3',
  },
);
app.synth();
