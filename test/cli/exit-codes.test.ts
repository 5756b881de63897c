import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from '../support/backends.ts';
import { type RunningServer, startServer } from '../support/server.ts';
import { cliAt, lines } from './cli-process.ts';

describe.concurrent.each(backends)('tributary exit codes ($name)', (backend) => {
  let server: RunningServer;
  const run = cliAt(() => server.url);

  beforeAll(async () => {
    server = await startServer(backend);
  });
  afterAll(() => server.close());

  it('exits 2 for bad flags and arguments, naming the problem and the help to read', async () => {
    const unknown = await run(['consume', 'orders', '--bogus']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('Unknown option --bogus.');
    expect(unknown.stderr).toContain("Run 'tributary consume --help' for usage.");
    expect(unknown.stdout).toBe('');
    // A typo gets the flag it most likely meant; a flag without its value says so.
    const typo = await run(['consume', 'orders', '--form', 'earliest']);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain('Unknown option --form (did you mean --from?).');
    const valueless = await run(['topics', 'create', 'orders', '--partitions']);
    expect(valueless.stderr).toContain('Option --partitions needs a value: --partitions <n>.');

    // A value that reads as a flag is a usage error too, in the CLI's words, not Node's.
    const negative = await run(['consume', 'orders', '--from', '-5', '--exit']);
    expect(negative.code).toBe(2);
    expect(negative.stderr).toContain(
      "Option --from needs a value: --from <where>; '-5' reads as a flag: write --from=-5 if it is the value.",
    );
    expect(negative.stderr).toContain("Run 'tributary consume --help' for usage.");
    const flagAsValue = await run(['consume', 'orders', '--from', '--exit']);
    expect(flagAsValue).toMatchObject({ code: 2, stdout: '' });
    expect(flagAsValue.stderr).toContain('Option --from needs a value: --from <where>.\n');
    const dashSeparator = await run(['produce', 'orders', '-K', '-e']);
    expect(dashSeparator.code).toBe(2);
    expect(dashSeparator.stderr).toContain('write --key-separator=-e if it is the value');

    const directory = await run(['produce', 'orders', '--file', import.meta.dirname]);
    expect(directory.code).toBe(2);
    expect(directory.stderr).toContain(
      `tributary: Cannot read --file ${import.meta.dirname}: it is a directory.`,
    );
    const missing = await run(['produce', 'orders', '--file', '/no/such/file']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('tributary: Cannot read --file /no/such/file: ENOENT');

    const badValue = await run(['topics', 'create', 'orders', '--partitions', 'three']);
    expect(badValue.code).toBe(2);
    expect(badValue.stderr).toContain('--partitions must be an integer from 1 to 1000');

    expect((await run(['topics', 'create'])).stderr).toContain('Missing <name>');
    expect((await run(['consume', 'orders', '--group', 'g', '--partition', '0'])).code).toBe(2);
    expect((await run(['topics', 'frobnicate'])).code).toBe(2);
    expect((await run(['--url', 'ftp://nowhere', 'topics', 'list'])).code).toBe(2);
    // Nothing reached the server.
    expect(lines((await run(['topics', 'list'])).stdout)).not.toContain('orders');
  });

  it('exits 3 for a topic or group that does not exist, with the code on stderr', async () => {
    const consume = await run(['consume', 'missing', '--from', 'earliest', '--exit']);
    expect(consume).toMatchObject({ code: 3, stdout: '' });
    expect(consume.stderr).toMatch(/^tributary: TOPIC_NOT_FOUND: .+\n$/);

    const produce = await run(['produce', 'missing'], { input: 'hello\n' });
    expect(produce.code).toBe(3);
    expect(produce.stderr).toContain('TOPIC_NOT_FOUND');

    // The server would let a group subscribe to it and get no partitions: the CLI checks.
    const member = await run(['consume', 'missing', '--group', 'g', '--exit']);
    expect(member.code).toBe(3);

    const group = await run(['groups', 'describe', 'nobody']);
    expect(group.code).toBe(3);
    expect(group.stderr).toContain('GROUP_NOT_FOUND');
  });

  it('exits 1 for any other API error, and for input it cannot read', async () => {
    expect((await run(['topics', 'create', 'taken'])).code).toBe(0);
    const again = await run(['topics', 'create', 'taken']);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^tributary: TOPIC_ALREADY_EXISTS: .+\n$/);
    expect((await run(['topics', 'create', 'taken', '--if-not-exists'])).code).toBe(0);

    const notJson = await run(['produce', 'taken', '--format', 'json'], { input: '1\nnot json\n' });
    expect(notJson.code).toBe(1);
    expect(notJson.stderr).toContain('INVALID_INPUT: line 2 is not JSON');
  });
});
