import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { errorCodes } from '../../sdk/src/error-codes.ts';

it("the README's error table is the shared code list, row for row", async () => {
  const readme = await readFile(join(import.meta.dirname, '../../README.md'), 'utf8');
  const table = readme.slice(
    readme.indexOf('<!-- error-codes:start -->') + '<!-- error-codes:start -->'.length,
    readme.indexOf('<!-- error-codes:end -->'),
  );
  const rows = Object.entries(errorCodes).map(
    ([code, { status, retryable, description }]) =>
      `| \`${code}\` | ${status} | ${retryable ? 'yes' : 'no'} | ${description} |`,
  );
  expect(table.trim().split('\n').slice(2)).toEqual(rows);
});
