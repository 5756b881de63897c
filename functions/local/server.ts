import { randomUUID } from 'node:crypto';
import {
  createServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
  STATUS_CODES,
} from 'node:http';
import { type Duplex, finished } from 'node:stream';
import { BufferPool } from '../core/buffer-pool.ts';
import { TributaryError } from '../core/errors.ts';
import type { Handler } from '../http/handler.ts';
import type { Logger } from '../http/logger.ts';
import { maxBodyBytes, payloadTooLarge } from '../http/request.ts';
import { errorResponse, type HttpResponse } from '../http/responses.ts';
import { toApiGatewayEvent } from './to-event.ts';

/**
 * The answer to the last request on each connection: once that request was read in full,
 * bytes after it that cannot be read wait for the answer before they are refused (see
 * answerUnreadable).
 */
const answering = new WeakMap<Duplex, ServerResponse>();

/**
 * Request bodies of 64 KiB and more are read into lent buffers (a batch of a thousand 1 KiB
 * records is a megabyte a request), given back once the answer is written: the handler keeps
 * nothing of its event's body past its answer (see HttpEvent's `rawBody`).
 */
const bodies = new BufferPool({ minBytes: 64 * 1024, keepBytes: 32 * 1024 * 1024 });

/** Serves the Lambda handler over node:http, as API Gateway would invoke it. */
export function createLocalServer(handler: Handler, log: Logger): Server {
  const server = createServer(async (req, res) => {
    const started = performance.now();
    answering.set(req.socket, res);
    let response: HttpResponse;
    let body: Buffer | undefined;
    try {
      body = await readBody(req, bodies);
      response = await handler(toApiGatewayEvent(req, body));
    } catch (error: unknown) {
      response = errorResponse(error, 'local', log);
      // The rest of an oversized body is not read; close so the client is not left waiting.
      res.setHeader('connection', 'close');
    }
    res.statusCode = response.statusCode ?? 200;
    for (const [name, value] of Object.entries(response.headers ?? {}))
      res.setHeader(name, String(value));
    const payload = response.body ?? '';
    res.end(
      response.isBase64Encoded && typeof payload === 'string'
        ? Buffer.from(payload, 'base64')
        : payload,
    );
    accessLog(log, req, res.statusCode, started, response.headers?.['x-request-id']);
    // Once the answer is with the socket (or the socket gone): nothing reads the body then.
    // (Smaller bodies were not lent.)
    if (body && body.byteLength >= bodies.minBytes) {
      const lent = body;
      finished(res, () => bodies.give(lent));
    }
  });
  server.on('clientError', (error: Error, socket: Duplex) => answerUnreadable(error, socket, log));
  return server;
}

/** One line per request, at INFO: what was asked, the answer's status, how long it took. */
function accessLog(
  log: Logger,
  req: IncomingMessage,
  status: number,
  started: number,
  requestId: unknown,
): void {
  const ms = Math.round(performance.now() - started);
  const method = req.method ?? '?';
  const target = req.url ?? '/';
  log.info(`${method} ${target} ${status} ${ms} ms`, { method, target, status, ms, requestId });
}

/**
 * What node:http cannot parse (an unknown method, a malformed request line, headers over
 * 16 KB) never reaches the handler; it is answered in the API's error shape all the same.
 */
function answerUnreadable(
  error: Error & { code?: string; rawPacket?: Buffer },
  socket: Duplex,
  log: Logger,
): void {
  // Unreadable bytes after a request read in full (a pipelined request, or anything after a
  // request that said `connection: close`) are no part of it: that request is being served,
  // and may have written records, so its answer goes first. Refused at once, the client
  // would read a 400 as that request's answer, and retry what was done.
  //   POST …records (read in full) → handler writes the record
  //   "garbage" → clientError → 400 written and the socket ended → the 200 is never sent
  const current = answering.get(socket);
  if (current?.req.complete) {
    answering.delete(socket);
    finished(current, () => answerUnreadable(error, socket, log));
    return;
  }
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const requestId = randomUUID();
  const message =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? 'The request line and headers are over 16 KB.'
      : `The request is not HTTP/1.1 this server can read (${error.code ?? error.message}).`;
  const response = errorResponse(new TributaryError('INVALID_REQUEST', message), requestId, log);
  const body = response.body ?? '';
  // The answer to a HEAD request has no body, or the client reads it as the next answer.
  const head = error.rawPacket?.subarray(0, 5).toString('latin1') === 'HEAD ';
  socket.end(
    [
      `HTTP/1.1 ${response.statusCode} ${STATUS_CODES[response.statusCode ?? 400]}`,
      'content-type: application/json',
      `content-length: ${Buffer.byteLength(body)}`,
      `x-request-id: ${requestId}`,
      'connection: close',
      '',
      head ? '' : body,
    ].join('\r\n'),
  );
}

/**
 * The request's body, refused with PAYLOAD_TOO_LARGE once over {@link maxBodyBytes}. A body
 * of declared length is read into a buffer `pool` lends, which the caller gives back.
 */
export function readBody(req: IncomingMessage, pool: BufferPool): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > maxBodyBytes) return Promise.reject(payloadTooLarge(declared));
  // With its length declared (node:http passes on no more than that), each chunk is copied
  // into one buffer of that length as it comes, and is let go, rather than all being held to
  // be joined at the end. A body longer than declared is joined from chunks all the same.
  let whole: Buffer | undefined;
  if (declared > 0 && Number.isInteger(declared)) {
    // A small body comes from the memory Node shares among small buffers: nothing to lend.
    whole = declared < pool.minBytes ? Buffer.allocUnsafe(declared) : asBuffer(pool.take(declared));
  }
  const chunks: Buffer[] = [];
  let size = 0;
  let settled = false;
  // Listeners rather than an async iterator: a request of one small record is read in one
  // chunk, and the iterator's machinery cost more than the reading.
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer | string) => {
      const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
      const at = size;
      size += buffer.byteLength;
      if (size > maxBodyBytes) {
        if (whole) pool.give(whole);
        whole = undefined;
        fail(payloadTooLarge(size));
        return;
      }
      if (whole && size <= whole.byteLength) {
        whole.set(buffer, at);
        return;
      }
      if (whole) {
        // Copied out before the lent buffer goes back.
        chunks.push(Buffer.from(whole.subarray(0, at)));
        pool.give(whole);
      }
      whole = undefined;
      chunks.push(buffer);
    };
    // Read when readable, as an async iterator does: what waits unread holds the socket back,
    // and a large body arrives in fewer, larger chunks.
    const onReadable = () => {
      for (let chunk = req.read(); chunk !== null && !settled; chunk = req.read()) onData(chunk);
    };
    const onEnd = () => {
      stop();
      resolve(whole ? whole.subarray(0, size) : Buffer.concat(chunks));
    };
    // Gone before its end: as an async iterator reports it.
    const onClose = () =>
      fail(Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }));
    const stop = () => {
      settled = true;
      req.off('readable', onReadable);
      req.off('end', onEnd);
      req.off('error', fail);
      req.off('close', onClose);
    };
    function fail(error: unknown) {
      stop();
      // As an async iterator left early does: the rest is not read.
      req.destroy();
      reject(error);
    }
    req.on('readable', onReadable);
    req.on('end', onEnd);
    req.on('error', fail);
    req.on('close', onClose);
  });
}

const asBuffer = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
