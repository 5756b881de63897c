import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';

const run = promisify(execFile);
const root = join(import.meta.dirname, '../..');
const documents = ['README.md', 'docs/sdk.md'];

/**
 * The ```ts blocks of a document as TypeScript modules. A block with an import starts a
 * module; a block without one continues the module before it, in its own `{ }` scope, so
 * docs can create the client once and then show one thing per block.
 */
function modulesOf(markdown: string, name: string): string[] {
  const modules: string[] = [];
  for (const [, code = ''] of markdown.matchAll(/```ts\n([\s\S]*?)```/g)) {
    if (/^import /m.test(code)) modules.push(code);
    else if (modules.length > 0) modules[modules.length - 1] += `\n{\n${code}}\n`;
    else throw new Error(`${name}: a ts block continues no module (give the first an import)`);
  }
  return modules;
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tributary-snippets-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

it('type-checks every TypeScript snippet of the README and docs/sdk.md against the SDK', async () => {
  const files: string[] = [];
  for (const document of documents) {
    const modules = modulesOf(await readFile(join(root, document), 'utf8'), document);
    expect(modules.length, `${document} has ts blocks`).toBeGreaterThan(0);
    for (const [i, code] of modules.entries()) {
      const file = join(dir, `${document.replace(/\W/g, '-')}-${i + 1}.ts`);
      await writeFile(file, code);
      files.push(file);
    }
  }
  // Snippets import the SDK by its published name, and run as ES modules under Node.
  await writeFile(join(dir, 'package.json'), '{"type": "module"}');
  await writeFile(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'es2023',
        lib: ['es2023', 'dom'],
        module: 'nodenext',
        moduleResolution: 'nodenext',
        strict: true,
        noUncheckedIndexedAccess: true,
        verbatimModuleSyntax: true,
        allowImportingTsExtensions: true,
        noEmit: true,
        skipLibCheck: true,
        types: ['node'],
        typeRoots: [join(root, 'node_modules/@types')],
        paths: { '@tributary/sdk': [join(root, 'sdk/src/index.ts')] },
      },
      files,
    }),
  );
  const tsc = join(root, 'node_modules/typescript/bin/tsc');
  const result = await run(process.execPath, [tsc, '-p', join(dir, 'tsconfig.json')]).then(
    () => 'type-checks',
    (error: { stdout?: string }) => error.stdout ?? String(error),
  );
  expect(result).toBe('type-checks');
});
