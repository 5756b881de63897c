import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpConnection } from '../../bench/http-connection.ts';

/**
 * The bench's figures are only as good as its load generator's reading of each answer: a
 * status or body misread would count failures as produced records.
 */
describe('the load generator’s HTTP connection', () => {
  let server: Server;
  let url: string;

  beforeAll(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        if (req.url === '/chunked') {
          res.write('a');
          res.end('b');
          return;
        }
        if (req.url === '/large') {
          // Sent in pieces, so the answer arrives over several reads.
          res.setHeader('content-length', 3 * 400_000);
          res.write('x'.repeat(400_000));
          setTimeout(() => {
            res.write('y'.repeat(400_000));
            res.end('z'.repeat(400_000));
          }, 5);
          return;
        }
        if (req.url === '/empty') {
          res.statusCode = 204;
          res.end();
          return;
        }
        res.statusCode = req.url === '/missing' ? 404 : 200;
        res.setHeader('content-type', 'application/json');
        res.end(
          JSON.stringify({ method: req.method, length: body.byteLength, text: body.toString() }),
        );
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    url = `http://127.0.0.1:${address.port}`;
  });

  afterAll(() => {
    server.closeAllConnections();
    server.close();
  });

  it('sends bodies small and large, one request after another on one connection', async () => {
    const connection = new HttpConnection(url);
    try {
      const small = await connection.request('POST', '/records', Buffer.from('{"a":"é"}'));
      expect(small.status).toBe(200);
      expect(JSON.parse(small.text)).toEqual({ method: 'POST', length: 10, text: '{"a":"é"}' });
      const large = Buffer.alloc(1_000_000, 'q');
      const echoed = await connection.request('POST', '/records', large);
      expect(JSON.parse(echoed.text)).toMatchObject({ length: 1_000_000 });
      const missing = await connection.request('GET', '/missing');
      expect(missing.status).toBe(404);
      expect(JSON.parse(missing.text)).toMatchObject({ method: 'GET', length: 0 });
      // No Content-Length: a 204 has no body.
      expect(await connection.request('DELETE', '/empty')).toEqual({ status: 204, text: '' });
      expect((await connection.request('GET', '/missing')).status).toBe(404);
    } finally {
      connection.close();
    }
  });

  it('reads an answer that arrives in several pieces whole', async () => {
    const connection = new HttpConnection(url);
    try {
      const answer = await connection.request('GET', '/large');
      expect(answer.text).toBe(
        `${'x'.repeat(400_000)}${'y'.repeat(400_000)}${'z'.repeat(400_000)}`,
      );
    } finally {
      connection.close();
    }
  });

  it('fails an answer it cannot measure rather than guess where it ends', async () => {
    const connection = new HttpConnection(url);
    try {
      await expect(connection.request('GET', '/chunked')).rejects.toThrow(/chunked/);
      await expect(connection.request('GET', '/')).rejects.toThrow(/chunked/);
    } finally {
      connection.close();
    }
  });
});
