import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import type { CoreContext } from '../../core/context.ts';
import type { BatchReader } from '../../core/log/batch-reader.ts';
import type { WriterCache } from '../../core/log/writer-cache.ts';
import type { Logger } from '../logger.ts';
import type { HttpResponse } from '../responses.ts';

/** Everything a route needs, built once per process. */
export interface HttpDeps {
  readonly ctx: CoreContext;
  readonly reader: BatchReader;
  readonly writers: WriterCache;
  readonly sleep: (ms: number) => Promise<void>;
  /**
   * Runs work after the response (acks=0). The local server lets it run on; Lambda freezes
   * after responding, so there it completes before the response is sent.
   */
  readonly defer: (task: () => Promise<unknown>) => Promise<void>;
  readonly log: Logger;
}

export interface RouteRequest {
  readonly event: APIGatewayProxyEventV2;
  readonly params: Readonly<Record<string, string>>;
  readonly deps: HttpDeps;
  readonly requestId: string;
}

export interface Route {
  readonly method: string;
  /** Path with `{name}` segments, e.g. `/v1/topics/{topic}`. */
  readonly path: string;
  readonly handle: (request: RouteRequest) => Promise<HttpResponse>;
}
