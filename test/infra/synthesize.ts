import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { TributaryStack, type TributaryStackProps } from '../../infra/stack.ts';

export interface Synthesized {
  readonly stack: TributaryStack;
  /** The cloud assembly directory: templates and bundled assets, as `cdk synth` writes them. */
  readonly outdir: string;
  remove(): void;
}

/** cdk.json's feature flags, so tests synthesize the template `cdk deploy` would deploy. */
const cdkContext = (): Record<string, unknown> => {
  const cdkJson: unknown = JSON.parse(
    readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8'),
  );
  if (typeof cdkJson !== 'object' || cdkJson === null || !('context' in cdkJson)) return {};
  const { context } = cdkJson;
  return typeof context === 'object' && context !== null ? { ...context } : {};
};

/**
 * NodejsFunction bundles with the project's esbuild, or one on PATH (as the CDK looks for
 * it); without either it falls back to Docker, which fails obscurely where there is none.
 */
const assertEsbuild = (): void => {
  try {
    createRequire(import.meta.url).resolve('esbuild');
    return;
  } catch {
    if (spawnSync('esbuild', ['--version']).status === 0) return;
  }
  throw new Error(
    'esbuild is not installed (npm install --save-dev esbuild): the CDK bundles with it',
  );
};

/**
 * Synthesizes a TributaryStack into a fresh directory. Bundling runs esbuild (a second or
 * two), so a test file does this once and shares the result.
 */
export const synthesize = (
  props: TributaryStackProps = {},
  options: { readonly bundle?: boolean } = {},
): Synthesized => {
  assertEsbuild();
  const outdir = mkdtempSync(join(tmpdir(), 'tributary-cdk-'));
  const context = cdkContext();
  // An empty list tells the CDK to bundle no stack's assets, for tests that only read
  // the template.
  if (options.bundle === false) context['aws:cdk:bundling-stacks'] = [];
  const app = new App({ outdir, context });
  const stack = new TributaryStack(app, 'Tributary', props);
  app.synth();
  return { stack, outdir, remove: () => rmSync(outdir, { recursive: true, force: true }) };
};
