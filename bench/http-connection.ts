/**
 * The load generator's HTTP/1.1 client: one keep-alive connection, one request at a time,
 * the request written as one buffer and the answer read by its Content-Length. It does what
 * a load generator such as wrk does and no more, so that the client takes as little of the
 * machine's cores as it can from the server it measures: node:http's client costs about as
 * much CPU per small request as the server's own HTTP handling.
 *
 * Answers must carry a Content-Length (every answer of Tributary's local server and of the
 * plain reference server does), or be a 204 or 304, which have no body; a chunked answer, a
 * closed connection or a malformed status line fails the request. HEAD is not sent.
 */

import { connect, type Socket } from 'node:net';

export interface HttpAnswer {
  readonly status: number;
  readonly text: string;
}

const headerEnd = Buffer.from('\r\n\r\n');

export class HttpConnection {
  readonly #host: string;
  readonly #socket: Socket;
  readonly #ready: Promise<void>;
  /** The answer being read: its bytes so far, and how to settle it. */
  #pending:
    | {
        chunks: Buffer[];
        size: number;
        /** Where the body starts and how long it is, once the headers are read. */
        head?: { status: number; bodyAt: number; length: number };
        resolve: (answer: HttpAnswer) => void;
        reject: (error: Error) => void;
      }
    | undefined;
  #error: Error | undefined;

  constructor(url: string) {
    const { hostname, port } = new URL(url);
    this.#host = `${hostname}:${port}`;
    this.#socket = connect({ host: hostname, port: Number(port), noDelay: true });
    this.#ready = new Promise((resolve, reject) => {
      this.#socket.once('connect', resolve);
      this.#socket.once('error', reject);
    });
    this.#socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    this.#socket.on('error', (error: Error) => this.#fail(error));
    this.#socket.on('close', () => this.#fail(new Error('the server closed the connection')));
  }

  /** Sends one request (a JSON body when given) and reads its whole answer. */
  async request(method: string, path: string, body?: Buffer): Promise<HttpAnswer> {
    await this.#ready;
    if (this.#error) throw this.#error;
    if (this.#pending) throw new Error('one request at a time on a connection');
    const head =
      `${method} ${path} HTTP/1.1\r\nhost: ${this.#host}\r\n` +
      (body ? `content-type: application/json\r\ncontent-length: ${body.byteLength}\r\n` : '') +
      '\r\n';
    return new Promise((resolve, reject) => {
      this.#pending = { chunks: [], size: 0, resolve, reject };
      if (body && body.byteLength <= 64 * 1024) {
        this.#socket.write(Buffer.concat([Buffer.from(head, 'latin1'), body]));
      } else {
        this.#socket.cork();
        this.#socket.write(head, 'latin1');
        if (body) this.#socket.write(body);
        this.#socket.uncork();
      }
    });
  }

  close(): void {
    this.#socket.destroy();
  }

  #onData(chunk: Buffer): void {
    const pending = this.#pending;
    if (!pending) {
      this.#fail(new Error('bytes from the server with no request waiting'));
      return;
    }
    pending.chunks.push(chunk);
    pending.size += chunk.byteLength;
    if (!pending.head) {
      const bytes = pending.chunks.length === 1 ? chunk : Buffer.concat(pending.chunks);
      pending.chunks = [bytes];
      const end = bytes.indexOf(headerEnd);
      if (end === -1) return;
      const head = parseHead(bytes.toString('latin1', 0, end));
      if (head instanceof Error) {
        this.#fail(head);
        return;
      }
      pending.head = { ...head, bodyAt: end + headerEnd.byteLength };
    }
    const { status, bodyAt, length } = pending.head;
    if (pending.size < bodyAt + length) return;
    if (pending.size > bodyAt + length) {
      this.#fail(new Error('more bytes than the answer said it had'));
      return;
    }
    const bytes = pending.chunks.length === 1 ? pending.chunks[0] : Buffer.concat(pending.chunks);
    this.#pending = undefined;
    pending.resolve({ status, text: bytes?.toString('utf8', bodyAt) ?? '' });
  }

  #fail(error: Error): void {
    this.#error ??= error;
    const pending = this.#pending;
    this.#pending = undefined;
    pending?.reject(error);
    this.#socket.destroy();
  }
}

/** The status and Content-Length of an answer's head (status line and headers). */
function parseHead(head: string): { status: number; length: number } | Error {
  const lines = head.split('\r\n');
  const status = /^HTTP\/1\.1 (\d{3}) /.exec(lines[0] ?? '');
  if (!status) return new Error(`not an HTTP/1.1 status line: ${lines[0]}`);
  let length: number | undefined;
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === 'content-length') length = Number(value);
    if (name === 'transfer-encoding') return new Error(`a ${value} answer: not read here`);
  }
  const code = Number(status[1]);
  // No body, whatever the headers say (RFC 9112 section 6.3).
  if (code === 204 || code === 304) return { status: code, length: 0 };
  if (length === undefined || !Number.isInteger(length) || length < 0) {
    return new Error('an answer without a Content-Length');
  }
  return { status: code, length };
}
