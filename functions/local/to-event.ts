import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { HttpEvent } from '../http/request.ts';

/** Content types API Gateway passes as text; anything else arrives base64-encoded. */
const textTypes = /^(application\/(json|x-ndjson|jsonl)|text\/)/i;

/**
 * Turns a node:http request into the event API Gateway's HTTP API (payload format 2.0)
 * would send, so the local server runs the Lambda handler unchanged. The body's bytes go as
 * they were read (`rawBody`, which the handler reads); `body`, the text or base64 API Gateway
 * would send, is made only if something asks for it.
 */
export function toApiGatewayEvent(req: IncomingMessage, body: Buffer): HttpEvent {
  const { path, query: rawQuery } = splitTarget(req.url ?? '/');
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined)
      headers[name.toLowerCase()] = Array.isArray(value) ? value.join(',') : value;
  }
  // A Map, then fromEntries: assigned into a `{}`, a parameter named __proto__ would vanish
  // rather than be refused as unknown, as it is in Lambda.
  const params = new Map<string, string>();
  for (const [name, value] of new URLSearchParams(rawQuery)) {
    // API Gateway joins repeated parameters with commas.
    const before = params.get(name);
    params.set(name, before === undefined ? value : `${before},${value}`);
  }
  const query: Record<string, string> = Object.fromEntries(params);
  const isText = textTypes.test(headers['content-type'] ?? 'application/json');
  const now = Date.now();
  let text: string | undefined;
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: path,
    rawQueryString: rawQuery,
    headers,
    ...(Object.keys(query).length > 0 && { queryStringParameters: query }),
    requestContext: {
      accountId: 'local',
      apiId: 'local',
      domainName: headers.host ?? 'localhost',
      domainPrefix: 'localhost',
      http: {
        method: req.method ?? 'GET',
        path,
        protocol: `HTTP/${req.httpVersion}`,
        sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: randomUUID(),
      routeKey: '$default',
      stage: '$default',
      time: new Date(now).toISOString(),
      timeEpoch: now,
    },
    rawBody: body,
    get body() {
      if (body.byteLength === 0) return undefined;
      text ??= isText ? body.toString('utf8') : body.toString('base64');
      return text;
    },
    isBase64Encoded: !isText && body.byteLength > 0,
  };
}

/**
 * The path and query of a request target, as sent: nothing resolved, collapsed or decoded,
 * so `//x/y` stays `//x/y` (which no route matches) and `/a/../b` stays as it is. Resolving
 * the target against a base URL would read `//x/y` as host `x` and path `/y`, another route.
 * A target in absolute form (`http://host/path`, as sent to a proxy) keeps its path part.
 */
function splitTarget(target: string): { path: string; query: string } {
  const absolute = /^[a-z][a-z0-9+.-]*:\/\/[^/?]*/i.exec(target);
  const rest = absolute ? target.slice(absolute[0].length) : target;
  const mark = rest.indexOf('?');
  const path = mark === -1 ? rest : rest.slice(0, mark);
  return { path: path || '/', query: mark === -1 ? '' : rest.slice(mark + 1) };
}
