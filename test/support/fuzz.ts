/**
 * A small seeded generator of hostile HTTP requests, for test/e2e/fuzz.test.ts: random and
 * malformed paths, query strings, headers and bodies, and well-formed bodies with one
 * field made wrong. Everything comes from one seed, so a run can be repeated exactly.
 */

import { type Agent, request } from 'node:http';
import type { Random } from './random.ts';

/**
 * A value that stands for JSON nested `depth` arrays deep. The test process would overflow
 * its own stack building and serialising such a value, so it is spliced into the text
 * after JSON.stringify (see {@link toJsonText}).
 */
const deepMarker = (depth: number) => `\u0000deep:${depth}\u0000`;
const deepMarkerText = /"\\u0000deep:(\d+)\\u0000"/g;

export function toJsonText(value: unknown): string {
  return JSON.stringify(value).replace(deepMarkerText, (_, depth: string) => {
    const n = Number(depth);
    return `${'['.repeat(n)}${']'.repeat(n)}`;
  });
}

/** Strings that break things: empty, long, control characters, non-ASCII, lone surrogates. */
export function randomString(r: Random, names: readonly string[] = []): string {
  return r.weighted<string>([
    [3, () => r.pick(['', ' ', 'a', 'null', '0', '-1', 'true', '*', '.', '..', '#', '%', '/'])],
    [
      3,
      () => Array.from({ length: r.int(12) }, () => String.fromCharCode(33 + r.int(94))).join(''),
    ],
    [2, () => r.pick(['é', '😀', '中文', 'a\u0000b', 'line\nbreak', '\t', '\u202e', '\uffff'])],
    [2, () => r.pick(['\ud800', '\udfff', 'a\ud83d', '\ude00x', '\ud800\ud800'])],
    [1, () => 'x'.repeat(r.pick([249, 250, 1_024, 1_025, 5_000]))],
    [1, () => 'é'.repeat(r.pick([249, 400, 1_000]))],
    [0.2, () => 'x'.repeat(r.pick([100_000, 500_000]))],
    [names.length > 0 ? 4 : 0, () => r.pick(names)],
  ]);
}

const boundaryNumbers = [
  0,
  1,
  -1,
  0.5,
  -0.5,
  1.5,
  2 ** 31,
  -(2 ** 31),
  2 ** 32,
  2 ** 53 - 1,
  2 ** 53 + 2,
  -(2 ** 53),
  1e21,
  1e308,
  -1e308,
  5e-324,
  1_000,
  1_001,
  10_000,
  10_001,
];

/** Any JSON value, of a random shape. */
export function randomJson(r: Random, names: readonly string[] = [], depth = 0): unknown {
  const leaf = depth >= 3;
  return r.weighted<unknown>([
    [1, () => null],
    [1, () => r.chance(0.5)],
    [2, () => r.pick(boundaryNumbers)],
    [3, () => randomString(r, names)],
    [leaf ? 0 : 2, () => Array.from({ length: r.int(4) }, () => randomJson(r, names, depth + 1))],
    [
      leaf ? 0 : 2,
      () =>
        Object.fromEntries(
          Array.from({ length: r.int(4) }, () => [
            r.pick(['__proto__', 'constructor', '', 'a', 'value', 'topic', randomString(r)]),
            randomJson(r, names, depth + 1),
          ]),
        ),
    ],
    [0.5, () => deepMarker(r.pick([99, 100, 101, 5_000, 100_000]))],
  ]);
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/**
 * The value with one thing made wrong: a field replaced by a value of another type or an
 * edge case, removed, or joined by an unknown one. Well-formed-but-wrong requests reach
 * deeper code than garbage does.
 */
export function mutate(r: Random, value: unknown, names: readonly string[]): unknown {
  const copy = structuredClone(value) as Json;
  // Every place in the (shallow) example, found without recursion.
  const places: { parent: Json[] | { [key: string]: Json }; key: string | number }[] = [];
  const pending: Json[] = [copy];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    if (next === null || typeof next !== 'object') continue;
    for (const [key, child] of Object.entries(next)) {
      places.push({ parent: next, key: Array.isArray(next) ? Number(key) : key });
      pending.push(child);
    }
  }
  if (places.length === 0 || r.chance(0.05)) return randomJson(r, names);
  const { parent, key } = r.pick(places);
  const set = (v: unknown) => {
    (parent as Record<string | number, unknown>)[key] = v;
  };
  r.weighted<void>([
    [4, () => set(randomJson(r, names))],
    [2, () => set(r.pick(boundaryNumbers))],
    [2, () => set(randomString(r, names))],
    [
      1,
      () =>
        Array.isArray(parent)
          ? parent.splice(Number(key), 1)
          : delete (parent as Record<string, unknown>)[key],
    ],
    [1, () => Array.isArray(parent) || set(undefined)],
    [
      1,
      () => {
        if (!Array.isArray(parent)) (parent as Record<string, unknown>).unexpected = 1;
      },
    ],
    [1, () => set(deepMarker(r.pick([100, 101, 5_000])))],
    [1, () => set([parent[key as never]])],
  ]);
  return copy;
}

export interface FuzzRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: Buffer;
}

export interface FuzzResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly text: string;
}

/** Sends the request exactly as given (node:http neither resolves nor re-encodes the path). */
export function send(
  url: string,
  agent: Agent,
  req: FuzzRequest,
  timeoutMs = 30_000,
): Promise<FuzzResponse> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const outgoing = request(
      {
        agent,
        hostname,
        port,
        method: req.method,
        path: req.path,
        // Stated even on a GET, where node:http would otherwise send the body unannounced.
        headers: { ...req.headers, 'content-length': String(req.body?.byteLength ?? 0) },
        timeout: timeoutMs,
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', reject);
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            text: Buffer.concat(chunks).toString('utf8'),
          }),
        );
      },
    );
    outgoing.on('timeout', () => outgoing.destroy(new Error(`no answer in ${timeoutMs} ms`)));
    outgoing.on('error', reject);
    outgoing.end(req.body);
  });
}

/** The request, readably and not too long, for a failure message. */
export function describeRequest(req: FuzzRequest): string {
  const cut = (text: string, max: number) =>
    text.length > max ? `${text.slice(0, max)}… (${text.length} characters)` : text;
  const body = req.body
    ? req.body.toString('utf8').includes('\ufffd')
      ? `base64:${cut(req.body.toString('base64'), 600)}`
      : cut(req.body.toString('utf8'), 600)
    : '(none)';
  return [
    `${req.method} ${cut(req.path, 600)}`,
    ...Object.entries(req.headers).map(([name, value]) => `${name}: ${cut(value, 200)}`),
    `body: ${body}`,
  ].join('\n');
}
