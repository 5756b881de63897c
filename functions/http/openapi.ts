import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';

/**
 * Where the OpenAPI description is: beside the bundle in Lambda (infra/tributary.ts copies
 * it there at bundling), in docs/ of a checkout.
 */
const locations = [
  new URL('./openapi.yaml', import.meta.url),
  new URL('../../docs/openapi.yaml', import.meta.url),
];

let document: Promise<string> | undefined;

/** docs/openapi.yaml as JSON text, read and converted once per process, on first use. */
export function openApiJson(): Promise<string> {
  document ??= read().catch((error: unknown) => {
    document = undefined;
    throw error;
  });
  return document;
}

async function read(): Promise<string> {
  for (const location of locations) {
    const text = await readFile(location, 'utf8').catch((error: unknown) => {
      if (error instanceof Error && 'code' in error && error.code === 'ENOENT') return undefined;
      throw error;
    });
    if (text !== undefined) return JSON.stringify(parse(text));
  }
  throw new Error(`openapi.yaml is in none of ${locations.map(String).join(', ')}`);
}
