/**
 * Vitest globalSetup: starts the storage emulators once for the whole run and hands their
 * endpoints to the test files (`inject('emulators')`), which create their own tables and
 * buckets, so files can run in parallel on one pair of engines.
 */

import type { TestProject } from 'vitest/node';
import { type EmulatorEndpoints, startEmulators } from './emulators.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    emulators: EmulatorEndpoints;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const emulators = await startEmulators();
  project.provide('emulators', emulators.endpoints);
  return () => emulators.stop();
}
