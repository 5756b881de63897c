import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = join(import.meta.dirname, '../..');
const tsc = join(root, 'node_modules/typescript/bin/tsc');

/** Runs tsc on a project; resolves with its diagnostics ('' when clean). */
async function typeCheck(project: string): Promise<string> {
  return run(process.execPath, [tsc, '-p', project]).then(
    () => '',
    (error: { stdout?: string }) => error.stdout || String(error),
  );
}

/**
 * What a user of the published package sees: the .d.ts files built from sdk/src/index.ts,
 * with no Node.js types (browsers, Deno and Bun have none), and a program written against
 * them.
 */
describe('the published types', () => {
  let dir: string;
  const dts = () => join(dir, 'dts');
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tributary-dts-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  const strict = {
    target: 'es2023',
    lib: ['es2023', 'dom'],
    module: 'nodenext',
    moduleResolution: 'nodenext',
    strict: true,
    noUncheckedIndexedAccess: true,
    verbatimModuleSyntax: true,
    // No @types/node: the SDK must not need Node's types, nor leak them.
    types: [],
  };

  it('build with tsc --declaration --emitDeclarationOnly, without Node.js types', async () => {
    await writeFile(
      join(dir, 'tsconfig.build.json'),
      JSON.stringify({
        compilerOptions: {
          ...strict,
          allowImportingTsExtensions: true,
          rewriteRelativeImportExtensions: true,
          erasableSyntaxOnly: true,
          declaration: true,
          emitDeclarationOnly: true,
          outDir: dts(),
          rootDir: join(root, 'sdk/src'),
        },
        files: [join(root, 'sdk/src/index.ts')],
      }),
    );
    expect(await typeCheck(join(dir, 'tsconfig.build.json'))).toBe('');
    const files = await readdir(dts());
    expect(files).toContain('index.d.ts');
    for (const file of files) {
      const text = await readFile(join(dts(), file), 'utf8');
      // Built with no Node.js types, a Buffer or NodeJS type would not have compiled.
      expect(text, file).not.toMatch(/from 'node:|reference types="node"/);
    }
  });

  it('type-check a program written against them, and refuse misuse', async () => {
    const app = join(dir, 'app');
    await mkdir(app, { recursive: true });
    await writeFile(join(app, 'package.json'), '{"type": "module"}');
    await writeFile(
      join(app, 'main.ts'),
      `import {
  type ConsumedRecord,
  type Producer,
  type RecordMetadata,
  Tributary,
  TributaryError,
  errorCodes,
  partitionForKey,
} from '@tributary/sdk';

const tributary = new Tributary({ url: 'http://127.0.0.1:8080', retry: { maxAttempts: 3 } });
const producer: Producer = tributary.producer({ lingerMs: 5 });
const acks: RecordMetadata[] = await producer.send({
  topic: 'orders',
  records: [{ key: 'k', value: { n: 1 } }, { key: new Uint8Array([1]), value: new Uint8Array([2]) }],
});
const partition: number = acks[0]?.partition ?? partitionForKey(new TextEncoder().encode('k'), 3);

for await (const batch of tributary.reader({ topic: 'orders', partition, format: 'binary' })) {
  const bytes: Uint8Array | null | undefined = batch.records[0]?.value;
  const key: Uint8Array | null | undefined = batch.records[0]?.key;
  void bytes, key;
}
const consumer = tributary.consumer({ group: 'g', topics: ['orders'], format: 'text' });
await consumer.run({
  eachBatch: ({ records }) => {
    const texts: (string | null)[] = records.map((r: ConsumedRecord<'text'>) => r.value);
    void texts;
  },
});
try {
  await tributary.topics.describe('orders');
} catch (error: unknown) {
  if (TributaryError.is(error, 'TOPIC_NOT_FOUND')) {
    const status: number | undefined = error.status;
    const retryable: boolean = error.retryable || errorCodes.TOPIC_NOT_FOUND.retryable;
    void status, retryable;
  }
}

// @ts-expect-error a topic name is a string
await producer.send({ topic: 1, records: [{ value: 1 }] });
// @ts-expect-error text values are strings, not bytes
const wrong: string | null = (await tributary.fetch({ topic: 'o', partition: 0, offset: 0, format: 'binary' })).records[0]?.value ?? null;
// @ts-expect-error an ACL's permission is ALLOW or DENY
await tributary.acls.create({ principal: 'p', permission: 'MAYBE', operation: 'READ', resourceType: 'TOPIC', patternType: 'LITERAL', resourceName: 't' });
void wrong;
`,
    );
    await writeFile(
      join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          ...strict,
          noEmit: true,
          skipLibCheck: false,
          paths: { '@tributary/sdk': [join(dts(), 'index.d.ts')] },
        },
        files: [join(app, 'main.ts')],
      }),
    );
    expect(await typeCheck(join(app, 'tsconfig.json'))).toBe('');
  });
});
