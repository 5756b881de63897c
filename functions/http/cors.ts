/**
 * Cross-origin requests from browsers (CORS). The API answers preflights itself, in the
 * function, so the local server and API Gateway (which passes OPTIONS through to the
 * function when the HTTP API has no CORS configuration of its own) behave alike.
 *
 * Keys travel in the Authorization header, never in cookies, so `*` is safe to allow:
 * a page can only use a key its own code holds. Credentialed CORS is never answered.
 */
export type CorsOrigins = readonly string[];

/** Request headers a page may send: the key and a JSON or NDJSON body's type. */
const allowedHeaders = 'authorization, content-type';
/** Response headers a page may read besides the CORS-safelisted ones. */
const exposedHeaders = 'x-request-id, retry-after, allow';
/** Chromium caps a cached preflight at 2 hours. */
const maxAgeSeconds = 7200;

/**
 * `*`, or origins as a browser sends them (`https://app.example.com`, with a port when not
 * the default one). Anything else fails at start: a trailing slash or a path never matches.
 */
export function parseCorsOrigins(text: string): CorsOrigins {
  const origins = text
    .split(',')
    .map((o) => o.trim())
    .filter((o) => o !== '');
  for (const origin of origins) {
    if (origin === '*') continue;
    let parsed: URL | undefined;
    try {
      parsed = new URL(origin);
    } catch {
      parsed = undefined;
    }
    if (!parsed || parsed.origin !== origin) {
      throw new Error(
        `TRIBUTARY_CORS_ORIGINS takes '*' or origins such as https://app.example.com (scheme, host and port only); got '${origin}'`,
      );
    }
  }
  return origins;
}

/** The value of Access-Control-Allow-Origin for a request from `origin`, if it is allowed. */
function allowOrigin(origins: CorsOrigins, origin: string | undefined): string | undefined {
  if (origin === undefined) return undefined;
  if (origins.includes('*')) return '*';
  return origins.includes(origin) ? origin : undefined;
}

/** Headers for an answer to a request from `origin` (none when it is not allowed). */
export function corsHeaders(
  origins: CorsOrigins,
  origin: string | undefined,
): Record<string, string> {
  const allowed = allowOrigin(origins, origin);
  if (allowed === undefined) return {};
  return {
    'access-control-allow-origin': allowed,
    'access-control-expose-headers': exposedHeaders,
    // The answer depends on the Origin sent unless every origin gets the same one.
    ...(allowed !== '*' && { vary: 'origin' }),
  };
}

/** Headers for an answer to a preflight from `origin` for a path serving `methods`. */
export function preflightHeaders(
  origins: CorsOrigins,
  origin: string | undefined,
  methods: readonly string[],
): Record<string, string> {
  const allowed = allowOrigin(origins, origin);
  if (allowed === undefined) return {};
  return {
    'access-control-allow-origin': allowed,
    'access-control-allow-methods': methods.join(', '),
    'access-control-allow-headers': allowedHeaders,
    'access-control-max-age': String(maxAgeSeconds),
    ...(allowed !== '*' && { vary: 'origin' }),
  };
}
