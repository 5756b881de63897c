import { once } from 'node:events';
import { IncomingMessage, request, type Server } from 'node:http';
import { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BufferPool } from '../../../functions/core/buffer-pool.ts';
import { silentLogger } from '../../../functions/http/logger.ts';
import { createLocalServer, readBody } from '../../../functions/local/server.ts';

/** A server that answers with the hex of the body it was given. */
let server: Server;
let port: number;
beforeAll(async () => {
  server = createLocalServer(
    async (event) => ({ statusCode: 200, body: event.rawBody?.toString('hex') ?? '' }),
    silentLogger,
  );
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  port = address.port;
});
afterAll(() => {
  server.closeAllConnections();
  server.close();
});

/** POSTs `parts` one write each, with `content-length` when given, else chunked. */
async function post(parts: readonly Buffer[], contentLength?: number) {
  const req = request({
    host: '127.0.0.1',
    port,
    method: 'POST',
    path: '/',
    headers: contentLength === undefined ? {} : { 'content-length': contentLength },
  });
  const answered = once(req, 'response') as Promise<[IncomingMessage]>;
  for (const part of parts) {
    req.write(part);
    // One write a turn, so the server reads them as chunks of their own.
    await new Promise((resolve) => setImmediate(resolve));
  }
  req.end();
  const [answer] = await answered;
  let body = '';
  for await (const chunk of answer) body += String(chunk);
  return { status: answer.statusCode, body };
}

describe('the local server reading a request body', () => {
  const parts = [Buffer.from('{"records":'), Buffer.alloc(70_000, 0x61), Buffer.from('}')];
  const whole = Buffer.concat(parts);

  it('hands the handler the bytes sent with their length declared, in one or many chunks', async () => {
    expect(await post([whole], whole.length)).toEqual({ status: 200, body: whole.toString('hex') });
    expect(await post(parts, whole.length)).toEqual({ status: 200, body: whole.toString('hex') });
  });

  it('hands the handler the bytes of a chunked body', async () => {
    expect(await post(parts)).toEqual({ status: 200, body: whole.toString('hex') });
    expect(await post([])).toEqual({ status: 200, body: '' });
  });
});

/** A request whose body is `parts`, with these headers. */
function incoming(headers: Record<string, string>, parts: readonly Buffer[]): IncomingMessage {
  const req = new IncomingMessage(new Socket());
  req.headers = headers;
  for (const part of parts) req.push(part);
  req.push(null);
  return req;
}

describe('readBody', () => {
  const megabyte = Buffer.alloc(1_000_000, 0x61);
  const pool = new BufferPool({ minBytes: 64 * 1024, keepBytes: 8 * 1024 * 1024 });

  it('refuses a body declared over 6 MB before reading it', async () => {
    const read = readBody(incoming({ 'content-length': '6000001' }, [Buffer.from('{}')]), pool);
    await expect(read).rejects.toMatchObject({
      code: 'PAYLOAD_TOO_LARGE',
      details: { size: 6_000_001, limit: 6_000_000 },
    });
  });

  it.each([
    ['without a length', {}],
    ['longer than its length', { 'content-length': '1000000' }],
  ])('refuses a body %s once it passes 6 MB, by its size then', async (_, headers) => {
    const read = readBody(
      incoming(
        headers,
        Array.from({ length: 7 }, () => megabyte),
      ),
      pool,
    );
    await expect(read).rejects.toMatchObject({
      code: 'PAYLOAD_TOO_LARGE',
      details: { size: 7_000_000, limit: 6_000_000 },
    });
  });

  it('fails, rather than waits for ever, when the request goes before its body ends', async () => {
    const req = new IncomingMessage(new Socket());
    req.headers = { 'content-length': '10' };
    req.push(Buffer.from('abc'));
    const read = readBody(req, pool);
    setImmediate(() => req.destroy());
    await expect(read).rejects.toMatchObject({ code: 'ERR_STREAM_PREMATURE_CLOSE' });
  });

  it('reads a body longer or shorter than its length as it comes', async () => {
    const parts = [Buffer.from('abc'), Buffer.from('defg')];
    const read = (length: string) => readBody(incoming({ 'content-length': length }, parts), pool);
    expect((await read('7')).toString()).toBe('abcdefg');
    expect((await read('5')).toString()).toBe('abcdefg');
    expect((await read('9')).toString()).toBe('abcdefg');
    expect((await read('x')).toString()).toBe('abcdefg');
  });

  it('reads a large body longer than its length whole, though it began in a lent buffer', async () => {
    const parts = [Buffer.alloc(70_000, 0x61), Buffer.alloc(10, 0x62)];
    const body = await readBody(incoming({ 'content-length': '70000' }, parts), pool);
    expect(body.equals(Buffer.concat(parts))).toBe(true);
    // The lent buffer went back when the body outgrew it, and is lent again.
    const next = pool.take(70_000);
    next.fill(0x63);
    expect(body.equals(Buffer.concat(parts))).toBe(true);
    pool.give(next);
  });
});
