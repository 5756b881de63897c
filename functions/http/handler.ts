import type { ErrorCode } from '../../sdk/src/error-codes.ts';
import { adminPrincipal, assertPrincipalName, type Principal } from '../core/auth/api-keys.ts';
import { TributaryError } from '../core/errors.ts';
import { assertValidGroupName } from '../core/groups/group.ts';
import { assertValidSubscriptionName } from '../core/subscriptions/subscription.ts';
import { assertValidTopicName } from '../core/topics/topic-name.ts';
import { corsHeaders, preflightHeaders } from './cors.ts';
import type { Metrics } from './metrics.ts';
import { type HttpEvent, header } from './request.ts';
import { errorCodeOf, errorResponse, type HttpResponse, json } from './responses.ts';
import { adminRoutes } from './routes/admin.ts';
import { groupRoutes } from './routes/groups.ts';
import { producerRoutes } from './routes/producers.ts';
import { recordRoutes } from './routes/records.ts';
import type { HttpDeps, Route, RouteRequest } from './routes/route.ts';
import { serviceRoutes } from './routes/service.ts';
import { subscriptionRoutes } from './routes/subscriptions.ts';
import { topicRoutes } from './routes/topics.ts';
import { transactionRoutes } from './routes/transactions.ts';

/** Every route the API serves (tests derive their coverage from it). */
export const routes: readonly Route[] = [
  {
    method: 'GET',
    path: '/v1/health',
    access: 'public',
    handle: async () => json(200, { status: 'ok' }),
  },
  ...serviceRoutes,
  ...topicRoutes,
  ...subscriptionRoutes,
  ...recordRoutes,
  ...producerRoutes,
  ...transactionRoutes,
  ...groupRoutes,
  ...adminRoutes,
];

interface CompiledRoute extends Route {
  readonly pattern: RegExp;
  readonly names: readonly string[];
}

const compiled: readonly CompiledRoute[] = routes.map((route) => {
  const names: string[] = [];
  const source = route.path.replace(/\{(\w+)\}/g, (_, name: string) => {
    names.push(name);
    return '([^/]+)';
  });
  // A trailing slash is forgiven, but `//` is not the root.
  const slash = route.path.endsWith('/') ? '' : '/?';
  return { ...route, pattern: new RegExp(`^${source}${slash}$`), names };
});

export type Handler = (event: HttpEvent) => Promise<HttpResponse>;

/**
 * The API as one function of an API Gateway HTTP API (payload v2) event. Lambda and the
 * local server both call it, so the cloud and a laptop run one code path.
 * Every route: parse and validate, call the core, map the result or the typed error.
 */
export function createHandler(deps: HttpDeps): Handler {
  return async (event) => {
    const requestId = event.requestContext?.requestId ?? 'unknown';
    const origin = header(event, 'origin');
    const cors = corsHeaders(deps.corsOrigins ?? [], origin);
    // HEAD is GET without the body (RFC 9110), wherever GET is served.
    const head = event.requestContext?.http?.method?.toUpperCase() === 'HEAD';
    const done = (response: HttpResponse, code?: ErrorCode) => {
      count(deps.metrics, response, code);
      const answer = withHeaders(response, { ...cors, 'x-request-id': requestId });
      return head ? withoutBody(answer) : answer;
    };
    try {
      const method = event.requestContext.http.method.toUpperCase();
      const path = event.rawPath;
      const matches: [CompiledRoute, RegExpExecArray][] = [];
      for (const route of compiled) {
        const match = route.pattern.exec(path);
        if (match) matches.push([route, match]);
      }
      if (matches.length === 0) {
        throw new TributaryError(
          'NOT_FOUND',
          `No route ${method} ${path}. Routes are under /v1/; GET /v1/openapi.json describes them all.`,
        );
      }
      const served = matches.map(([route]) => route.method);
      const allow = [...new Set(served.flatMap((m) => (m === 'GET' ? ['GET', 'HEAD'] : [m])))];
      allow.push('OPTIONS');
      // OPTIONS, and a browser's CORS preflight, are answered for every path a route serves,
      // before authentication: a preflight never carries the key.
      if (method === 'OPTIONS') {
        const headers = {
          allow: allow.join(', '),
          ...preflightHeaders(deps.corsOrigins ?? [], origin, allow),
        };
        return done({ statusCode: 204, headers });
      }
      const found = matches.find(([route]) => route.method === (head ? 'GET' : method));
      if (!found) {
        const refused = new TributaryError(
          'METHOD_NOT_ALLOWED',
          `${method} is not supported on ${path}; it takes ${allow.join(', ')}.`,
          { allow },
        );
        const response = errorResponse(refused, requestId, deps.log);
        return done(withHeaders(response, { allow: allow.join(', ') }), refused.code);
      }
      const [route, match] = found;
      const params = Object.fromEntries(
        route.names.map((name, i) => [name, pathParam(name, match[i + 1] ?? '')]),
      );
      const request = await authorized(route, { event, params, deps, requestId });
      return done(await route.handle(request));
    } catch (error: unknown) {
      return done(errorResponse(error, requestId, deps.log), errorCodeOf(error));
    }
  };
}

/** Who is asking (401 without a valid key), and whether they may (403), before anything runs. */
async function authorized(
  route: Route,
  bare: Omit<RouteRequest, 'principal' | 'can'>,
): Promise<RouteRequest> {
  const { auth } = bare.deps;
  if (!auth || route.access === 'public') {
    return { ...bare, principal: authOff, can: async () => true };
  }
  const principal = await auth.authenticate(header(bare.event, 'authorization'));
  const request: RouteRequest = {
    ...bare,
    principal,
    can: (operation, type, name) => auth.isAllowed(principal, operation, type, name),
  };
  for (const [operation, type, name] of await route.access(request)) {
    await auth.require(principal, operation, type, name);
  }
  return request;
}

/** With auth off every request acts as the admin, as on a laptop. */
const authOff: Principal = { name: adminPrincipal, admin: true };

function count(metrics: Metrics, response: HttpResponse, code: ErrorCode | undefined): void {
  const status = response.statusCode ?? 200;
  metrics.count('Requests');
  if (status >= 500) metrics.count('ServerErrors');
  else if (status >= 400) metrics.count('ClientErrors');
  if (code) metrics.count('Errors', 1, { code });
}

/**
 * Names in the path, checked as they are decoded, before authorization or any read: a
 * malformed name is a 400 on every route, whether it creates or looks up (Kafka answers
 * INVALID_TOPIC_EXCEPTION, not UNKNOWN_TOPIC_OR_PARTITION, for a malformed topic name).
 * Partitions are parsed by their routes; a member id the server never issued is unknown.
 */
const pathNameRules: Readonly<Record<string, (name: string) => void>> = {
  topic: assertValidTopicName,
  group: assertValidGroupName,
  principal: assertPrincipalName,
  name: assertValidSubscriptionName,
};

function pathParam(name: string, segment: string): string {
  let value: string;
  try {
    value = decodeURIComponent(segment);
  } catch {
    throw new TributaryError(
      'INVALID_REQUEST',
      `Path segment '${segment.slice(0, 300)}' is not valid percent-encoding.`,
    );
  }
  pathNameRules[name]?.(value);
  return value;
}

/**
 * The answer to HEAD: GET's status and headers, with the length of the body GET would send,
 * and no body.
 */
function withoutBody(response: HttpResponse): HttpResponse {
  const { body, ...rest } = response;
  // A 204 has no content and says no length (RFC 9110).
  if (rest.statusCode === 204) return rest;
  const length = body === undefined ? 0 : Buffer.byteLength(body);
  return withHeaders(rest, { 'content-length': String(length) });
}

function withHeaders(response: HttpResponse, headers: Record<string, string>): HttpResponse {
  return { ...response, headers: { ...response.headers, ...headers } };
}
