/**
 * The SDK as a user gets it: `npm pack` builds sdk/ into the @tributary/sdk tarball, which
 * is installed into a fresh project where the README's SDK snippets run unchanged (but for
 * the server's URL) on Node, the `tributary` bin runs the compiled CLI, and a page in
 * headless Chromium loads the built SDK from another origin and produces and reads back
 * through CORS. The storage behind the server is not what is tested here, so one backend
 * (embedded) serves.
 */

import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import { promisify } from 'node:util';
import { type BrowserContext, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { embedded } from '../support/backends.ts';
import { printedBy } from '../support/printed.ts';
import { type RunningServer, startServer } from '../support/server.ts';

const run = promisify(execFile);
const root = join(import.meta.dirname, '../..');
const chromiumPath = process.env.TRIBUTARY_CHROMIUM ?? '/usr/bin/chromium';

let dir: string;
let app: string;
let installed: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tributary-package-'));
  // prepack builds sdk/dist with tsc; the tarball holds what `files` names.
  const { stdout } = await run('npm', ['pack', '--pack-destination', dir, '--silent'], {
    cwd: join(root, 'sdk'),
  });
  const tarball = join(dir, stdout.trim().split('\n').pop() ?? '');
  app = join(dir, 'app');
  await run('mkdir', ['-p', app]);
  await writeFile(join(app, 'package.json'), '{"name": "app", "private": true, "type": "module"}');
  await run('npm', ['install', '--offline', '--no-audit', '--no-fund', tarball], { cwd: app });
  installed = join(app, 'node_modules/@tributary/sdk');
}, 120_000);
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('the packed SDK', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer(embedded);
  });
  afterAll(() => server.close());

  it('ships JavaScript, declarations and the bin, with no dependencies and no TypeScript source', async () => {
    const manifest = JSON.parse(await readFile(join(installed, 'package.json'), 'utf8'));
    expect(manifest).toMatchObject({ name: '@tributary/sdk', type: 'module' });
    expect(manifest.dependencies).toBeUndefined();
    const files = await readdir(installed, { recursive: true });
    expect(files).toEqual(expect.arrayContaining(['dist/src/index.js', 'dist/src/index.d.ts']));
    expect(files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
  });

  it("runs the README's SDK snippets as written", async () => {
    const readme = await readFile(join(root, 'README.md'), 'utf8');
    const section = readme.slice(
      readme.indexOf('## TypeScript SDK'),
      readme.indexOf('## Command line'),
    );
    const snippets = [...section.matchAll(/```ts\n([\s\S]*?)```/g)].map(([, code = '']) =>
      code.replaceAll('http://127.0.0.1:8080', server.url),
    );
    expect(snippets).toHaveLength(2);
    const [producer = '', consumer = ''] = snippets;
    await writeFile(join(app, 'producer.ts'), producer);
    await writeFile(join(app, 'consumer.ts'), consumer);

    // Node strips the types of the snippets (outside node_modules); the SDK is JavaScript.
    const produced = await run(process.execPath, ['producer.ts'], { cwd: app, timeout: 30_000 });
    expect(produced.stdout).toMatch(/^partition [0-2], offset 0\n$/);

    const worker = spawn(process.execPath, ['consumer.ts'], { cwd: app });
    const printed = printedBy(worker);
    await expect
      .poll(() => printed.stdout, { timeout: 20_000 })
      .toMatch(/\d 0 alice \{ clicked: 'buy' \}/);
    expect(printed.stdout).toMatch(/^assigned /);
    // The snippet closes the consumer on SIGTERM: it commits, leaves and exits by itself.
    worker.kill('SIGTERM');
    const [code] = await once(worker, 'exit');
    expect({ code, stderr: printed.stderr }).toEqual({ code: 0, stderr: '' });
    const group = await fetch(`${server.url}/v1/groups/billing`);
    expect((await group.json()).state).toBe('Empty');
  });

  it('installs the CLI as its bin, running the compiled JavaScript', async () => {
    const { stdout } = await run(
      process.execPath,
      [join(app, 'node_modules/.bin/tributary'), 'topics', 'list', '--url', server.url],
      { cwd: app },
    );
    expect(stdout.split('\n')).toContain('orders');
  });
});

describe('the built SDK in headless Chromium', () => {
  const adminKey = 'browser-test-admin-key';
  let pages: Server;
  let pageOrigin: string;
  let api: RunningServer;
  let closedApi: RunningServer;
  let browser: BrowserContext;
  let profile: string;

  beforeAll(async () => {
    if (!existsSync(chromiumPath)) {
      throw new Error(
        `No Chromium at ${chromiumPath}: install Debian's (apt-get install chromium), or set TRIBUTARY_CHROMIUM to a Chromium binary.`,
      );
    }
    pages = servePages(join(installed, 'dist/src'));
    pages.listen(0, '127.0.0.1');
    await once(pages, 'listening');
    pageOrigin = `http://127.0.0.1:${(pages.address() as AddressInfo).port}`;
    // The page's origin differs from the API's (another port): every call is cross-origin.
    api = await startServer(embedded, { adminKey, corsOrigins: [pageOrigin] });
    closedApi = await startServer(embedded, { adminKey });
    profile = await mkdtemp(join(tmpdir(), 'tributary-chromium-'));
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: chromiumPath,
      headless: true,
      // Chromium as this machine runs it: no sandbox as root, and nothing that reaches out.
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await Promise.all([api?.close(), closedApi?.close()]);
    pages?.close();
    if (profile) await rm(profile, { recursive: true, force: true });
  });

  /** Loads the page, whose module runs the SDK against `url`: create, produce, read back. */
  async function roundTrip(url: string): Promise<unknown> {
    const page = await browser.newPage();
    try {
      const settings = encodeURIComponent(JSON.stringify({ url, apiKey: adminKey }));
      await page.goto(`${pageOrigin}/#${settings}`);
      const done = await page.waitForFunction(() => Reflect.get(window, 'result'), undefined, {
        timeout: 20_000,
      });
      return await done.jsonValue();
    } finally {
      await page.close();
    }
  }

  it('produces and reads back against a server that allows the page origin', async () => {
    const result = await roundTrip(api.url);
    expect(result).toMatchObject({
      acks: [{ partition: 0, offset: 0 }],
      records: [
        {
          offset: 0,
          key: 'tab',
          value: { clicked: 'buy' },
          headers: [{ name: 'page', value: 'test' }],
        },
      ],
      origin: pageOrigin,
    });
  });

  it('is refused by the browser when the server allows no origin', async () => {
    expect(await roundTrip(closedApi.url)).toEqual({ error: 'NETWORK_ERROR' });
  });
});

/**
 * A page whose module imports the built SDK as any web app would, from its own origin,
 * and calls the API named in the URL's fragment; `window.result` holds what it got.
 */
const page = `<!doctype html>
<title>Tributary in a browser</title>
<script type="module">
  import { Tributary, TributaryError } from './index.js';
  const { url, apiKey } = JSON.parse(decodeURIComponent(location.hash.slice(1)));
  const tributary = new Tributary({ url, apiKey, retry: false });
  try {
    await tributary.topics.create({ name: 'from-the-browser', partitions: 1 });
    const producer = tributary.producer();
    const acks = await producer.send({
      topic: 'from-the-browser',
      records: [{ key: 'tab', value: { clicked: 'buy' }, headers: { page: 'test' } }],
    });
    await producer.close();
    const { records } = await tributary.fetch({ topic: 'from-the-browser', partition: 0, offset: 0 });
    window.result = { acks, records, origin: location.origin };
  } catch (error) {
    window.result = { error: error instanceof TributaryError ? error.code : String(error) };
  }
</script>
`;

/** The page and the SDK's modules, as a static site would serve them. */
function servePages(sdkDir: string): Server {
  return createServer(async (request, response) => {
    const path = new URL(request.url ?? '/', 'http://pages').pathname;
    if (path === '/') {
      response.writeHead(200, { 'content-type': 'text/html' });
      response.end(page);
      return;
    }
    const file = normalize(join(sdkDir, path));
    if (!file.startsWith(sdkDir) || extname(file) !== '.js' || !existsSync(file)) {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { 'content-type': 'text/javascript' });
    response.end(await readFile(file));
  });
}
