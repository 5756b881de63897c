import { randomInt } from 'node:crypto';
import { Agent } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routes } from '../../functions/http/handler.ts';
import { type ErrorCode, errorCodes } from '../../sdk/src/error-codes.ts';
import { snapshot } from '../support/api.ts';
import { backends } from '../support/backends.ts';
import {
  describeRequest,
  type FuzzRequest,
  type FuzzResponse,
  mutate,
  randomJson,
  randomString,
  send,
  toJsonText,
} from '../support/fuzz.ts';
import { Random } from '../support/random.ts';
import { call, type RunningServer, startServer } from '../support/server.ts';

/**
 * Thousands of random and malformed requests across every route, on both backends: no
 * answer is a 5xx, every error has the documented shape and a status its code maps to,
 * the server stays up, and a control topic and group that no valid request here names are
 * exactly as they were. Repeat a run with FUZZ_SEED=<seed>; FUZZ_REQUESTS sets its length.
 */
const seed = Number(process.env.FUZZ_SEED ?? randomInt(2 ** 31));
const requestCount = Number(process.env.FUZZ_REQUESTS ?? 3_000);
if (!Number.isSafeInteger(seed) || !Number.isSafeInteger(requestCount) || requestCount < 1) {
  throw new Error('FUZZ_SEED must be an integer and FUZZ_REQUESTS a positive one');
}

const adminKey = 'trb_fuzz-admin';
const admin = { authorization: `Bearer ${adminKey}` };
const control = 'control';
const controlGroup = 'control-group';
/** Names the fuzz may create, write and delete. */
const fuzzTopics = ['fz', 'fz.b', 'fz_c'];
const fuzzGroups = ['fzg', 'fzg-2'];
/** Near the control names but never equal to them once decoded. */
const nearControl = [
  'Control',
  'control.',
  'control-',
  'controlx',
  'xcontrol',
  'control%2F',
  'control%00',
  'control%20',
  '%20control',
  'control%2e',
  'control-group.',
  'Control-group',
  'control-groupx',
];
/** Topics a body may name: it may read the control topic, never write it. */
const bodyTopics = [...fuzzTopics, control];
/** Names for random strings in bodies to use. */
const bodyNames = [...bodyTopics, ...fuzzGroups, controlGroup, 'fz-user', '*'];
const weirdSegments = [
  '',
  '.',
  '..',
  '%2e%2e',
  '%zz',
  '%',
  '%E9',
  '%ED%A0%80',
  '%F0%9F%98%80',
  '%2F',
  '%00',
  '%20',
  '~',
  'x'.repeat(1_025),
  'x'.repeat(5_000),
];

interface Member {
  readonly group: string;
  readonly memberId: string;
  generation: number;
  assignment: { topic: string; partitions: number[]; ownedSince: number[] }[];
  /** The cursor of its last poll answer. */
  cursor?: string;
}

/** What the fuzz learned from answers, so later requests can be well-formed. */
interface State {
  readonly members: Member[];
  readonly producers: { id: number; epoch: number }[];
  /** Leader epochs taken, by `topic/partition`: a write there must carry the latest. */
  readonly leaderEpochs: Map<string, number>;
  /** Maintenance runs started, to look up. */
  readonly passIds: string[];
  userKey: string;
}

interface Context {
  readonly params: Record<string, string>;
  readonly format: string;
  readonly member: Member | undefined;
}

interface Example {
  /** How often the route is chosen, relative to 1: deletes rarely, reads and writes often. */
  readonly weight?: number;
  readonly query?: (r: Random, member: Member | undefined) => Record<string, string>;
  readonly body?: (r: Random, ctx: Context, state: State) => unknown;
}

const formats = ['json', 'json', 'text', 'base64'];

function recordFor(r: Random, format: string): Record<string, unknown> {
  const value =
    format === 'json'
      ? r.pick([{ clicked: 'buy' }, 42, 'text', null, [1, 2]])
      : format === 'text'
        ? r.pick(['hello', '', null])
        : r.pick(['aGVsbG8=', '', null]);
  return {
    key: r.pick(['k1', 'k2', null]),
    value,
    ...(r.chance(0.5) && { headers: [{ name: 'trace', value }] }),
    ...(r.chance(0.2) && { timestamp: 1_700_000_000_000 }),
  };
}

function acl(r: Random): Record<string, unknown> {
  return {
    principal: r.pick(['fz-user', 'fz-other', '*']),
    permission: r.pick(['ALLOW', 'DENY']),
    operation: r.pick(['READ', 'WRITE', 'DESCRIBE', 'CREATE', 'DELETE', 'ALTER']),
    resourceType: r.pick(['TOPIC', 'GROUP', 'CLUSTER', 'TRANSACTIONAL_ID']),
    patternType: r.pick(['LITERAL', 'PREFIXED']),
    resourceName: r.pick(['fz', 'fz', 'fzg', 'cluster', '*']),
  };
}

/** A well-formed request for every route, to mutate one field at a time. */
const examples: Record<string, Example> = {
  'GET /v1/health': {},
  'GET /': {},
  'GET /v1': {},
  'GET /v1/openapi.json': {},
  'GET /v1/topics': {},
  'POST /v1/topics': {
    body: (r) => ({
      name: r.pick(fuzzTopics),
      partitions: 1 + r.int(3),
      config: r.pick([{}, { 'retention.ms': '60000' }, { 'cleanup.policy': 'compact' }]),
    }),
  },
  'GET /v1/topics/{topic}': {},
  'DELETE /v1/topics/{topic}': { weight: 0.3 },
  'PATCH /v1/topics/{topic}/config': {
    body: (r) =>
      r.pick([
        { 'retention.ms': '3600000' },
        { 'retention.bytes': null },
        { 'cleanup.policy': 'compact,delete' },
        { 'max.message.bytes': 2048 },
      ]),
  },
  'POST /v1/topics/{topic}/partitions': { body: (r) => ({ count: 2 + r.int(4) }) },
  'POST /v1/topics/{topic}/partitions/{partition}/leader': {},
  'POST /v1/topics/{topic}/records': {
    weight: 3,
    query: (r) => ({
      format: r.pick(formats),
      ...(r.chance(0.2) && { acks: r.pick(['0', '1', 'all']) }),
    }),
    body: (r, { params, format }, state) => {
      const producer = state.producers.at(-1);
      // A partition with an exclusive writer takes only writes carrying its epoch.
      const partition = r.int(3);
      const leaderEpoch = state.leaderEpochs.get(`${params.topic}/${partition}`);
      return {
        records: Array.from({ length: 1 + r.int(3) }, () => ({
          ...recordFor(r, format),
          partition,
        })),
        ...(leaderEpoch !== undefined && { leaderEpoch }),
        ...(producer &&
          r.chance(0.2) && { producer: { id: producer.id, epoch: producer.epoch, sequence: 0 } }),
      };
    },
  },
  'GET /v1/topics/{topic}/partitions/{partition}/records': {
    weight: 2,
    query: (r) => ({
      offset: r.pick(['0', '0', '1', '2']),
      format: r.pick(formats),
      ...(r.chance(0.3) && { maxRecords: String(1 + r.int(5)) }),
    }),
  },
  'GET /v1/topics/{topic}/partitions/{partition}/offsets': {
    query: (r) => ({ spec: r.pick(['earliest', 'latest', 'timestamp:0', 'timestamp:2']) }),
  },
  'POST /v1/producers': { body: (r) => r.pick([{}, { transactionalId: 'fz-tx' }]) },
  'POST /v1/transactions': {
    weight: 2,
    query: (r) => ({ format: r.pick(formats) }),
    body: (r, { member, format }, state) => {
      const producer = state.producers.at(-1) ?? { id: 1, epoch: 0 };
      const owned = member?.assignment.flatMap((a) =>
        a.partitions.map((p, i) => [a.topic, p, a.ownedSince[i] ?? 1] as const),
      );
      const [topic, partition, since] = owned?.length
        ? r.pick(owned)
        : [r.pick(fuzzTopics), r.int(3), 1];
      return {
        producer: { id: producer.id, epoch: producer.epoch, sequence: r.int(3) },
        records: Array.from({ length: r.int(3) }, () => ({
          topic: r.pick(fuzzTopics),
          ...recordFor(r, format),
          partition: r.int(3),
        })),
        ...(member &&
          r.chance(0.7) && {
            offsets: {
              group: member.group,
              memberId: member.memberId,
              generation: member.generation,
              offsets: [{ topic, partition, offset: r.int(3), ownedSince: since }],
            },
          }),
      };
    },
  },
  'GET /v1/groups': {},
  'GET /v1/groups/{group}': {},
  'DELETE /v1/groups/{group}': { weight: 0.5 },
  'POST /v1/groups/{group}/members': {
    body: (r) => ({
      topics: [r.pick(fuzzTopics)],
      sessionTimeoutMs: 60_000,
      autoOffsetReset: r.pick(['earliest', 'latest']),
      ...(r.chance(0.3) && { instanceId: r.pick(['fz-i1', 'fz-i2']) }),
    }),
  },
  'POST /v1/groups/{group}/members/{member}/heartbeat': {},
  'DELETE /v1/groups/{group}/members/{member}': { weight: 0.5 },
  'GET /v1/groups/{group}/members/{member}/records': {
    weight: 2,
    query: (r, member) => ({
      maxRecords: String(1 + r.int(10)),
      format: r.pick(formats),
      ...(member?.cursor && r.chance(0.7) && { cursor: member.cursor }),
    }),
  },
  'POST /v1/groups/{group}/offsets': {
    weight: 2,
    body: (r, { member }) => {
      const owned = member?.assignment.flatMap((a) =>
        a.partitions.map((p, i) => [a.topic, p, a.ownedSince[i] ?? 1] as const),
      );
      const [topic, partition, since] = owned?.length
        ? r.pick(owned)
        : [r.pick(bodyTopics), r.int(3), 1];
      return {
        ...(member && { memberId: member.memberId, generation: member.generation }),
        offsets: [
          {
            topic,
            partition,
            offset: r.int(3),
            metadata: 'fz',
            ...(r.chance(0.5) && { ownedSince: since }),
          },
        ],
      };
    },
  },
  'GET /v1/groups/{group}/offsets': {},
  'POST /v1/groups/{group}/offsets/reset': {
    body: (r) => ({
      topic: r.pick(bodyTopics),
      to: r.pick(['earliest', 'latest', '1', 'timestamp:0']),
    }),
  },
  'POST /v1/admin/keys': { body: (r) => ({ principal: r.pick(['fz-other', 'fz-third']) }) },
  'GET /v1/admin/keys': {},
  'DELETE /v1/admin/keys/{principal}': {},
  'POST /v1/admin/acls': { body: (r) => acl(r) },
  'GET /v1/admin/acls': {
    query: (r): Record<string, string> => (r.chance(0.5) ? { principal: 'fz-user' } : {}),
  },
  'DELETE /v1/admin/acls': { body: (r) => acl(r) },
  'POST /v1/topics/{topic}/subscriptions': {
    body: (r) => ({
      name: r.pick(['fz-sub', 'fz-sub2']),
      target: r.pick([
        { type: 'lambda', function: 'fz-fn' },
        { type: 'http', url: 'https://example.com/hook', headers: { 'x-fz': '1' } },
      ]),
      ...(r.chance(0.5) && { batchSize: 1 + r.int(100) }),
      ...(r.chance(0.3) && { startingPosition: r.pick(['LATEST', 'TRIM_HORIZON']) }),
      ...(r.chance(0.3) && { filter: { value: { clicked: ['buy'] } } }),
      ...(r.chance(0.2) && { onFailure: { topic: r.pick(fuzzTopics) } }),
    }),
  },
  'GET /v1/topics/{topic}/subscriptions': {},
  'GET /v1/topics/{topic}/subscriptions/{name}': {},
  'PATCH /v1/topics/{topic}/subscriptions/{name}': {
    body: (r) =>
      r.pick([{ enabled: false }, { enabled: true }, { batchSize: 10 }, { rotateSecret: true }]),
  },
  'DELETE /v1/topics/{topic}/subscriptions/{name}': { weight: 0.3 },
  'POST /v1/admin/maintenance': { weight: 0.3, body: () => ({}) },
  'GET /v1/admin/maintenance/{id}': {},
};

const routeKey = (route: { method: string; path: string }) => `${route.method} ${route.path}`;

/** Percent-encodes a segment; a lone surrogate, which encodeURIComponent refuses, as U+FFFD. */
function encode(text: string): string {
  try {
    return encodeURIComponent(text);
  } catch {
    return [...Buffer.from(text, 'utf8')]
      .map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`)
      .join('');
  }
}

/** A path segment for a route parameter: the fuzz's own names, or (when wrong) anything. */
function segmentFor(
  r: Random,
  name: string,
  state: State,
  params: Record<string, string>,
  wrong: boolean,
): string {
  if (wrong && r.chance(0.7)) {
    return r.weighted([
      [2, () => r.pick(weirdSegments)],
      [2, () => encode(randomString(r))],
      [1, () => r.pick(nearControl)],
    ]);
  }
  switch (name) {
    case 'topic':
      return r.pick(fuzzTopics);
    case 'group':
      return r.pick(fuzzGroups);
    case 'partition':
      return wrong
        ? r.pick(['-1', '01', '1e3', '999999999', '1000000000', '9007199254740993', 'one'])
        : String(r.int(3));
    case 'member': {
      const mine = state.members.filter((m) => m.group === params.group);
      return mine.length > 0 && !wrong ? r.pick(mine).memberId : randomUuid(r);
    }
    case 'principal':
      return r.pick(['fz-other', 'fz-third', 'admin', '*']);
    case 'name':
      return r.pick(['fz-sub', 'fz-sub2']);
    case 'id':
      return state.passIds.length > 0 && !wrong ? r.pick(state.passIds) : randomUuid(r);
    default:
      return encode(randomString(r));
  }
}

function randomUuid(r: Random): string {
  const hex = Array.from({ length: 32 }, () => r.int(16).toString(16)).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Path changes that keep a path routable are excluded: a trailing '/' is the same route. */
const unroutable: readonly ((path: string) => string)[] = [
  (p) => `/${p}`,
  (p) => `//x${p}`,
  (p) => p.replace('/v1/', '/v1//'),
  (p) => p.replace('/v1/', '/v1/x/../'),
  (p) => p.replace('/v1/', '/v1/./'),
  (p) => `${p}//`,
  (p) => p.replace('/v1/', '/V1/'),
  (p) => `/${encode(p.slice(1))}`,
];
const otherPathChanges: readonly ((path: string) => string)[] = [
  (p) => `${p}/`,
  (p) => `${p}/extra`,
  (p) => `${p}%00`,
  (p) => `${p}#fragment`,
  (p) => p.replace(/\/[^/]*$/, '/..'),
];

const queryNames = [
  'offset',
  'maxRecords',
  'maxBytes',
  'waitMs',
  'format',
  'acks',
  'spec',
  'principal',
  'expectedOffset',
  'leaderEpoch',
  'producerId',
  'producerEpoch',
  'sequence',
  'partition',
  '',
  'x',
];
// No value here makes a poll or fetch wait long: waitMs is valid only at 0 and 1.
const queryValues = ['', '-1', '0', '1', '1.5', '1e3', 'NaN', 'x', 'json', 'earliest', '20001'];

function queryText(r: Random, query: Record<string, string>, wrong: boolean): string {
  const pairs = Object.entries(query);
  if (wrong) {
    r.weighted<void>([
      [2, () => pairs.push([r.pick(queryNames), r.pick(queryValues)])],
      [1, () => pairs.push([r.pick(queryNames), randomString(r)])],
      [
        2,
        () =>
          pairs.length > 0 &&
          pairs.splice(r.int(pairs.length), 1, [pairs[0]?.[0] ?? 'x', r.pick(queryValues)]),
      ],
      [1, () => pairs.length > 0 && pairs.splice(r.int(pairs.length), 1)],
      [1, () => pairs.length > 0 && pairs.push(r.pick(pairs))],
    ]);
  }
  let text = pairs.map(([k, v]) => `${encode(k)}=${encode(v)}`).join('&');
  if (wrong && r.chance(0.1)) {
    text = r.pick(['%zz=1', '&&&', '=', 'a', '?', 'format=%ED%A0%80', 'a=%']);
  }
  return text ? `?${text}` : '';
}

function headersFor(
  r: Random,
  state: State,
  hasBody: boolean,
  wrong: boolean,
): Record<string, string> {
  if (!wrong) return { ...admin, ...(hasBody && { 'content-type': 'application/json' }) };
  const headers: Record<string, string> = {};
  const authorization = r.weighted<string | undefined>([
    [4, () => admin.authorization],
    [3, () => `Bearer ${state.userKey}`],
    [1, () => undefined],
    [
      2,
      () =>
        r.pick([
          'Bearer',
          'Bearer trb_nope',
          'Basic YTpi',
          `bearer ${adminKey}`,
          `Bearer ${'x'.repeat(4_000)}`,
        ]),
    ],
  ]);
  if (authorization !== undefined) headers.authorization = authorization;
  const type = r.weighted<string | undefined>([
    [2, () => 'application/json'],
    [2, () => undefined],
    [
      4,
      () =>
        r.pick([
          'application/json; charset=utf-8',
          'APPLICATION/JSON',
          'application/x-ndjson',
          'application/jsonl',
          'text/plain',
          'application/octet-stream',
          'multipart/form-data; boundary=x',
          'application/json;',
          ';',
          'application/vnd.api+json',
        ]),
    ],
  ]);
  if (type !== undefined) headers['content-type'] = type;
  if (r.chance(0.2)) {
    headers[r.pick(['x-fuzz', 'content-encoding', 'accept'])] = r.pick(['gzip', '*/*', 'x']);
  }
  return headers;
}

/** JSON text, broken when wrong: cut short, with a byte-order mark, or with invalid UTF-8. */
function bodyBytes(r: Random, text: string, wrong: boolean): Buffer {
  if (!wrong || r.chance(0.7)) return Buffer.from(text);
  return r.weighted<Buffer>([
    [1, () => Buffer.from(text.slice(0, r.int(text.length + 1)))],
    [1, () => Buffer.from(`\ufeff${text}`)],
    [1, () => Buffer.from(`${text},`)],
    [
      2,
      () => {
        const at = Math.max(0, text.indexOf('"') + 1);
        const bad = Buffer.from(r.pick([[0xff], [0xc3], [0xed, 0xa0, 0x80], [0xc0, 0x80]]));
        return Buffer.concat([Buffer.from(text.slice(0, at)), bad, Buffer.from(text.slice(at))]);
      },
    ],
  ]);
}

type Part = 'path' | 'query' | 'headers' | 'body' | 'method';
const parts: readonly Part[] = ['path', 'query', 'headers', 'body', 'method'];

interface Generated {
  readonly request: FuzzRequest;
  /** The route's exact path hidden behind a change that must keep it from any route. */
  readonly unroutable: boolean;
  readonly route: string | undefined;
  readonly params: Record<string, string>;
}

function generate(r: Random, state: State): Generated {
  if (r.chance(0.03)) {
    const path = r.pick([
      '/',
      '//',
      '/v1',
      '/v2/topics',
      '*',
      '/v1/topics/a/b/c/d/e',
      encode(randomString(r)),
    ]);
    const method = r.pick(['GET', 'POST', 'PUT']);
    return {
      request: { method, path, headers: admin },
      unroutable: false,
      route: undefined,
      params: {},
    };
  }
  const route = r.weighted(
    routes.map((route) => [examples[routeKey(route)]?.weight ?? 1, () => route] as const),
  );
  const example = examples[routeKey(route)] ?? {};
  // Aliasing: the control topic or group itself, behind a path change no route may match;
  // all else is right, so the only right answer is NOT_FOUND.
  const aliasing = route.path.includes('{') && r.chance(0.05);
  // Most requests are well-formed but for one part: they reach deeper code than garbage
  // does. Some are right throughout, some wrong everywhere.
  const wrong = new Set<Part>(
    aliasing
      ? []
      : r.weighted<Part[]>([
          [25, () => []],
          [55, () => [r.pick(parts)]],
          [20, () => parts.filter(() => r.chance(0.5))],
        ]),
  );
  const params: Record<string, string> = {};
  let path = route.path.replace(/\{(\w+)\}/g, (_, name: string) => {
    const segment =
      aliasing && name === 'topic'
        ? control
        : aliasing && name === 'group'
          ? controlGroup
          : segmentFor(r, name, state, params, wrong.has('path'));
    params[name] = segment;
    return segment;
  });
  if (aliasing) path = r.pick(unroutable)(path);
  else if (wrong.has('path') && r.chance(0.4)) {
    path = r.pick([...unroutable, ...otherPathChanges])(path);
  }
  const member = state.members.find(
    (m) =>
      m.group === params.group && (params.member === undefined || m.memberId === params.member),
  );
  const query = example.query?.(r, member) ?? {};
  path += queryText(r, query, wrong.has('query'));

  const format = query.format ?? 'json';
  const valid = example.body?.(r, { params, format, member }, state);
  const value = !wrong.has('body')
    ? valid
    : valid === undefined || r.chance(0.15)
      ? randomJson(r, bodyNames)
      : mutate(r, valid, bodyNames);
  const ndjson = route.path.endsWith('/records') && route.method === 'POST' && r.chance(0.2);
  let body: Buffer | undefined;
  if (value !== undefined) {
    const records =
      ndjson && value && typeof value === 'object' && 'records' in value
        ? value.records
        : undefined;
    const text = Array.isArray(records)
      ? records.map((record) => toJsonText(record)).join('\n')
      : toJsonText(value);
    body = bodyBytes(r, text, wrong.has('body'));
  }
  const headers = headersFor(r, state, body !== undefined, wrong.has('headers'));
  if (ndjson && !wrong.has('headers')) headers['content-type'] = 'application/x-ndjson';
  const method = wrong.has('method')
    ? r.pick(['GET', 'POST', 'PATCH', 'DELETE', 'PUT', 'HEAD', 'OPTIONS', 'FUZZ'])
    : route.method;
  return {
    request: { method, path, headers, ...(body && { body }) },
    unroutable: aliasing,
    route: routeKey(route),
    params,
  };
}

/** Remembers members, producers, cursors and runs the server made, for later requests. */
function learn(state: State, generated: Generated, response: FuzzResponse): void {
  if (response.status !== 200 || generated.request.method === 'HEAD') return;
  const body = JSON.parse(response.text);
  const { group = '', topic = '', partition = '' } = generated.params;
  switch (generated.route) {
    case 'GET /v1/groups/{group}/members/{member}/records':
      for (const m of state.members) if (m.memberId === body.memberId) m.cursor = body.cursor;
      break;
    case 'POST /v1/admin/maintenance':
      state.passIds.push(body.report.passId);
      break;
    case 'POST /v1/groups/{group}/members':
      state.members.push({ group, ...body });
      if (state.members.length > 20) state.members.shift();
      break;
    case 'POST /v1/groups/{group}/members/{member}/heartbeat':
      for (const m of state.members) {
        if (m.memberId !== body.memberId) continue;
        m.generation = body.generation;
        m.assignment = body.assignment;
      }
      break;
    case 'POST /v1/producers':
      state.producers.push({ id: body.producerId, epoch: body.producerEpoch });
      break;
    case 'POST /v1/topics/{topic}/partitions/{partition}/leader':
      state.leaderEpochs.set(`${topic}/${Number(partition)}`, body.leaderEpoch);
      break;
  }
}

/** Why the answer breaks the contract, or undefined. */
function fault(generated: Generated, response: FuzzResponse): string | undefined {
  if (response.status >= 500) return `a ${response.status}`;
  if (generated.request.method === 'HEAD') return undefined;
  if (response.status === 204) return response.text === '' ? undefined : 'a body on 204';
  let body: { error?: { code?: unknown; message?: unknown } };
  try {
    body = JSON.parse(response.text);
  } catch {
    return 'an answer that is not JSON';
  }
  if (response.status < 400) return undefined;
  const code = body.error?.code;
  if (typeof code !== 'string' || !(code in errorCodes)) return `an unknown error code ${code}`;
  const expected = errorCodes[code as ErrorCode].status;
  if (expected !== response.status)
    return `${code} with status ${response.status}, not ${expected}`;
  if (typeof body.error?.message !== 'string' || body.error.message === '') return 'no message';
  if (generated.unroutable && code !== 'NOT_FOUND') return 'a path that is no route reached one';
  return undefined;
}

describe('every route has a well-formed example to mutate', () => {
  it('covers the route table', () => {
    expect(routes.map(routeKey).filter((key) => !(key in examples))).toEqual([]);
  });
});

describe.each(backends)('random and malformed requests ($name)', (backend) => {
  let server: RunningServer;
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const state: State = {
    members: [],
    producers: [],
    leaderEpochs: new Map(),
    passIds: [],
    userKey: 'none',
  };

  /** What no request here may change: the control topic, its records and the control group. */
  async function controlView() {
    const all = await snapshot(server, admin);
    const topic = all.topics.find((t) => t.name === control);
    const records = [];
    for (const partition of [0, 1, 2]) {
      const at = `/v1/topics/${control}/partitions/${partition}/records?offset=0&maxRecords=10000`;
      records.push((await call(server.url, 'GET', at, undefined, admin)).body);
    }
    return {
      topic,
      objects: all.objects.filter((key) => topic && key.includes(topic.topicId)),
      group: all.groups.find((g) => g.group === controlGroup),
      records,
    };
  }

  beforeAll(async () => {
    server = await startServer(backend, { adminKey });
    const setup = async (method: string, path: string, body?: unknown) => {
      const answer = await call(server.url, method, path, body, admin);
      expect(answer.status, JSON.stringify(answer.body)).toBeLessThan(300);
      return answer.body;
    };
    await setup('POST', '/v1/topics', { name: control, partitions: 3 });
    await setup('POST', `/v1/topics/${control}/records`, {
      records: Array.from({ length: 12 }, (_, i) => ({
        key: `k${i}`,
        value: { i },
        headers: [{ name: 'h', value: 'v' }],
        partition: i % 3,
      })),
    });
    await setup('POST', `/v1/groups/${controlGroup}/offsets`, {
      offsets: [0, 1, 2].map((partition) => ({ topic: control, partition, offset: 2 + partition })),
    });
    for (const name of fuzzTopics) {
      await setup('POST', '/v1/topics', { name, partitions: 3 });
      await setup('POST', `/v1/topics/${name}/records`, { records: [{ value: 1 }, { value: 2 }] });
    }
    state.userKey = (await setup('POST', '/v1/admin/keys', { principal: 'fz-user' })).key;
    await setup('POST', '/v1/admin/acls', {
      principal: 'fz-user',
      permission: 'ALLOW',
      operation: 'READ',
      resourceType: 'TOPIC',
      patternType: 'PREFIXED',
      resourceName: 'fz',
    });
  });
  afterAll(async () => {
    agent.destroy();
    await server.close();
  });

  it(`answers ${requestCount} of them with a 4xx in the documented shape or a success, changing nothing it must not`, {
    timeout: Math.max(120_000, requestCount * 50),
  }, async () => {
    console.log(
      `fuzz (${backend.name}): seed ${seed}, ${requestCount} requests; repeat with FUZZ_SEED=${seed}`,
    );
    const before = await controlView();
    const r = new Random(seed);
    /** How often each route succeeded: a route that never does is fuzzed only shallowly. */
    const successes = new Map(routes.map((route) => [routeKey(route), 0]));
    for (let i = 0; i < requestCount; i++) {
      const generated = generate(r, state);
      let response: FuzzResponse;
      try {
        response = await send(server.url, agent, generated.request);
      } catch (error: unknown) {
        response = { status: 0, headers: {}, text: String(error) };
      }
      const why =
        response.status === 0 ? `no answer (${response.text})` : fault(generated, response);
      if (why) {
        throw new Error(
          `Request ${i} of seed ${seed} (FUZZ_SEED=${seed} repeats the run) got ${why}:\n` +
            `${describeRequest(generated.request)}\n` +
            `answer ${response.status}: ${response.text.slice(0, 1_000)}`,
        );
      }
      learn(state, generated, response);
      if (generated.route && response.status < 300) {
        successes.set(generated.route, (successes.get(generated.route) ?? 0) + 1);
      }
      if (i % 500 === 499) {
        expect((await call(server.url, 'GET', '/v1/health')).status, `after request ${i}`).toBe(
          200,
        );
      }
    }
    const succeeded = [...successes.values()].reduce((sum, n) => sum + n, 0);
    const never = [...successes].filter(([, n]) => n === 0).map(([route]) => route);
    console.log(
      `fuzz (${backend.name}): ${succeeded} of ${requestCount} succeeded; ` +
        `routes that never did: ${never.length > 0 ? never.join(', ') : 'none'}`,
    );
    expect((await call(server.url, 'GET', '/v1/health')).status).toBe(200);
    expect(await controlView()).toEqual(before);
  });
});
