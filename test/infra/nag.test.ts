/**
 * cdk-nag's AWS Solutions rules over the stack as deployed, and as configured for a
 * throwaway deployment: no finding, error or warning, may stand unacknowledged, and every
 * acknowledgment says why.
 *
 * cdk-nag 3 reports through CDK's validation plugins rather than as annotations, so
 * `Annotations.fromStack(...).findError('*', ...)` would find nothing whatever the stack
 * held; the pack's own `validateScope` returns its findings, acknowledged ones left out.
 */

import { type PolicyViolation, RemovalPolicy, Validations } from 'aws-cdk-lib';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import type { TributaryStackProps } from '../../infra/stack.ts';
import { synthesize } from './synthesize.ts';
import { isRecord } from './template.ts';

const variants: [string, TributaryStackProps][] = [
  ['the default stack', {}],
  [
    "a throwaway stack (authMode 'none', DESTROY, logs kept forever)",
    {
      tributary: {
        authMode: 'none',
        removalPolicy: RemovalPolicy.DESTROY,
        logRetention: RetentionDays.INFINITE,
      },
    },
  ],
];

describe.each(variants)('AwsSolutions checks on %s', (_name, props) => {
  let violations: PolicyViolation[];
  beforeAll(() => {
    const synthesized = synthesize(props, { bundle: false });
    violations = new AwsSolutionsChecks().validateScope(synthesized.stack).violations;
    synthesized.remove();
  });
  const found = (severity: string) =>
    violations
      .filter((v) => v.severity === severity)
      .map((v) => `${v.ruleName} at ${v.violatingResources.map((r) => r.constructPath)}`);

  it('leaves no error unacknowledged', () => {
    expect(found('error')).toEqual([]);
  });

  it('leaves no warning unacknowledged', () => {
    expect(found('warning')).toEqual([]);
    expect(violations).toEqual([]);
  });
});

describe('acknowledged AwsSolutions findings', () => {
  let acknowledged: { at: string; id: string; reason: unknown }[];
  beforeAll(() => {
    const synthesized = synthesize({}, { bundle: false });
    acknowledged = synthesized.stack.node.findAll().flatMap((construct) =>
      construct.node.metadata
        .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
        .flatMap((entry) => (isRecord(entry.data) ? Object.entries(entry.data) : []))
        .map(([id, reason]) => ({ at: construct.node.path, id, reason })),
    );
    synthesized.remove();
  });

  it('are the few that cannot be fixed, each on the construct it concerns', () => {
    expect(
      acknowledged.map(({ at, id }) => `${id.replace(/^annotation::/i, '')} at ${at}`),
    ).toEqual([
      'AwsSolutions-SMG4 at Tributary/Tributary/AdminKey',
      expect.stringMatching(
        /^AwsSolutions-IAM5\[Resource::<TributarySegments\w+\.Arn>\/\*\] at Tributary\/Tributary\/Maintenance\/FunctionRole$/,
      ),
      'AwsSolutions-SF1 at Tributary/Tributary/Maintenance/StateMachine',
      'AwsSolutions-SF2 at Tributary/Tributary/Maintenance/StateMachine',
      expect.stringMatching(
        /^AwsSolutions-IAM5\[Resource::<TributaryMaintenanceFunction\w+\.Arn>:\*\] at Tributary\/Tributary\/Maintenance\/StateMachine\/Role$/,
      ),
      expect.stringMatching(
        /^AwsSolutions-IAM5\[Resource::<TributarySegments\w+\.Arn>\/\*\] at Tributary\/Tributary\/ApiRole$/,
      ),
      expect.stringMatching(
        /^AwsSolutions-IAM5\[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:<TributaryMaintenanceStateMachine\w+\.Name>:\*\] at Tributary\/Tributary\/ApiRole$/,
      ),
      'AwsSolutions-APIG4 at Tributary/Tributary/HttpApi',
      'AwsSolutions-IAM5[Resource::*] at Tributary/Tributary/Dispatcher/FunctionRole',
      expect.stringMatching(
        /^AwsSolutions-IAM5\[Resource::<TributarySegments\w+\.Arn>\/\*\] at Tributary\/Tributary\/Dispatcher\/FunctionRole$/,
      ),
    ]);
  });

  it('each say why, in a sentence or more', () => {
    for (const { id, reason } of acknowledged) {
      expect(typeof reason, id).toBe('string');
      expect(String(reason).length, id).toBeGreaterThanOrEqual(80);
    }
  });
});
