import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { embedded } from '../support/backends.ts';
import { type RunningServer, startServer } from '../support/server.ts';
import { cli } from './cli-process.ts';

const adminKey = 'cli-test-admin-key-0123456789';

/**
 * Where the URL and the key come from is the CLI's own logic, the same whatever stores the
 * server, so this runs on one backend. Auth is on, so a wrong key shows (UNAUTHENTICATED),
 * and a wrong URL is the right server under a path with no routes (NOT_FOUND): both fail
 * at once, without the retries a refused connection would get.
 */
describe('where tributary finds the URL and the API key', () => {
  let server: RunningServer;
  let dir: string;
  let wrongUrl: string;

  beforeAll(async () => {
    server = await startServer(embedded, { adminKey });
    wrongUrl = `${server.url}/no-api-here`;
    dir = await mkdtemp(join(tmpdir(), 'tributary-cli-config-'));
  });
  afterAll(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** Writes a config file with these profiles and returns its path. */
  async function config(name: string, profiles: Record<string, object>): Promise<string> {
    const path = join(dir, `${name}.json`);
    await writeFile(path, JSON.stringify({ profiles }));
    return path;
  }

  const list = (args: readonly string[], env: Record<string, string>) =>
    cli([...args, 'topics', 'list'], { env });

  it('reads the default profile of $TRIBUTARY_CONFIG', async () => {
    const path = await config('default', { default: { url: server.url, apiKey: adminKey } });
    expect(await list([], { TRIBUTARY_CONFIG: path })).toEqual({ code: 0, stdout: '', stderr: '' });
  });

  it('prefers the environment to the profile, and flags to the environment', async () => {
    const path = await config('wrong', { default: { url: wrongUrl, apiKey: 'wrong-key' } });
    const right = { TRIBUTARY_URL: server.url, TRIBUTARY_API_KEY: adminKey };
    const wrong = { TRIBUTARY_URL: wrongUrl, TRIBUTARY_API_KEY: 'wrong-key' };

    expect((await list([], { TRIBUTARY_CONFIG: path, ...right })).code).toBe(0);
    expect((await list(['--url', server.url, '--api-key', adminKey], { ...wrong })).code).toBe(0);
    // Each setting on its own: the key from a flag, the URL from the environment.
    expect(
      (await list(['--api-key', adminKey], { TRIBUTARY_CONFIG: path, TRIBUTARY_URL: server.url }))
        .code,
    ).toBe(0);

    const badFlag = await list(['--api-key', 'wrong-key'], right);
    expect(badFlag.code).toBe(1);
    expect(badFlag.stderr).toContain('UNAUTHENTICATED');
    const badUrl = await list(['--url', wrongUrl], right);
    expect(badUrl.code).toBe(1);
    expect(badUrl.stderr).toContain('NOT_FOUND');
  });

  it('picks a named profile with --profile or $TRIBUTARY_PROFILE, and refuses an unknown one', async () => {
    const path = await config('named', {
      default: { url: wrongUrl },
      staging: { url: server.url, apiKey: adminKey },
    });
    expect((await list([], { TRIBUTARY_CONFIG: path })).code).toBe(1);
    expect((await list(['--profile', 'staging'], { TRIBUTARY_CONFIG: path })).code).toBe(0);
    expect((await list([], { TRIBUTARY_CONFIG: path, TRIBUTARY_PROFILE: 'staging' })).code).toBe(0);

    const unknown = await list(['--profile', 'prod'], { TRIBUTARY_CONFIG: path });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("Profile 'prod' not found");
    expect(unknown.stderr).toContain('default, staging');
  });

  it('refuses a $TRIBUTARY_CONFIG that names no file, rather than going to the default URL', async () => {
    const path = join(dir, 'no-such-config.json');
    const result = await list([], { TRIBUTARY_CONFIG: path });
    expect(result).toMatchObject({ code: 2, stdout: '' });
    expect(result.stderr).toContain(
      `There is no config file at ${path}, which $TRIBUTARY_CONFIG names.`,
    );
  });

  it('refuses a profile with a misspelt field, naming the one meant, rather than sending no key', async () => {
    const path = await config('misspelt', { default: { url: server.url, apikey: adminKey } });
    const result = await list([], { TRIBUTARY_CONFIG: path });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      `The config file ${path} has an unknown field 'apikey' in 'default' (did you mean 'apiKey'?)`,
    );
  });

  it('sends no key when none is set, and says what the server said', async () => {
    const result = await list([], { TRIBUTARY_URL: server.url });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^tributary: UNAUTHENTICATED: /);
  });
});
