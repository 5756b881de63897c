import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Handler } from '../http/handler.ts';
import type { Logger } from '../http/logger.ts';
import { maxBodyBytes, payloadTooLarge } from '../http/request.ts';
import { errorResponse, type HttpResponse } from '../http/responses.ts';
import { toApiGatewayEvent } from './to-event.ts';

/** Serves the Lambda handler over node:http, as API Gateway would invoke it. */
export function createLocalServer(handler: Handler, log: Logger): Server {
  return createServer(async (req, res) => {
    let response: HttpResponse;
    try {
      const body = await readBody(req);
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
    res.end(response.isBase64Encoded ? Buffer.from(payload, 'base64') : payload);
  });
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > maxBodyBytes) throw payloadTooLarge(declared);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    size += buffer.byteLength;
    if (size > maxBodyBytes) throw payloadTooLarge(size);
    chunks.push(buffer);
  }
  return Buffer.concat(chunks);
}
