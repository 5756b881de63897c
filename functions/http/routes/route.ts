import type { Operation, ResourceType } from '../../core/auth/acls.ts';
import type { Principal } from '../../core/auth/api-keys.ts';
import type { Authorizer } from '../../core/auth/authorizer.ts';
import type { CoreContext } from '../../core/context.ts';
import type { BatchReader } from '../../core/log/batch-reader.ts';
import type { WriterCache } from '../../core/log/writer-cache.ts';
import type { TargetPolicy } from '../../core/subscriptions/subscription.ts';
import type { MaintenanceService } from '../../maintenance/service.ts';
import type { CorsOrigins } from '../cors.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import type { HttpEvent } from '../request.ts';
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
  readonly metrics: Metrics;
  /** Which targets subscriptions may call (functions the deployment allows, public webhooks). */
  readonly targets: TargetPolicy;
  /** Authentication and ACLs; absent when auth is off (every request is the admin). */
  readonly auth?: Authorizer;
  /** Maintenance on demand: a pass in this process, or a state machine execution. */
  readonly maintenance: MaintenanceService;
  /** Origins browsers may call the API from (`*` for any); none when absent. */
  readonly corsOrigins?: CorsOrigins;
}

/** One permission a request needs: an operation on a resource. */
export type Access = readonly [Operation, ResourceType, string];

export interface RouteRequest {
  readonly event: HttpEvent;
  readonly params: Readonly<Record<string, string>>;
  readonly deps: HttpDeps;
  readonly requestId: string;
  readonly principal: Principal;
  /** Whether the principal may do this (for routes that filter what they list). */
  readonly can: (operation: Operation, type: ResourceType, name: string) => Promise<boolean>;
}

export interface Route {
  readonly method: string;
  /** Path with `{name}` segments, e.g. `/v1/topics/{topic}`. */
  readonly path: string;
  /**
   * What the request needs, checked before `handle` runs, so a refused request has done
   * nothing. `public` routes need no key at all.
   */
  readonly access: ((request: RouteRequest) => Access[] | Promise<Access[]>) | 'public';
  readonly handle: (request: RouteRequest) => Promise<HttpResponse>;
}
