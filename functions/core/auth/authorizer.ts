import type { CoreContext } from '../context.ts';
import { TributaryError } from '../errors.ts';
import { type Acl, isAllowed, listAcls, type Operation, type ResourceType } from './acls.ts';
import { authenticate, type Principal } from './api-keys.ts';

/**
 * Authentication and authorisation for requests, with what it read kept for `cacheMs` so a
 * request costs no extra reads in the steady state. A revoked key or a changed ACL takes
 * effect within that time on every instance, at once on the instance that made the change.
 */
export class Authorizer {
  readonly #ctx: CoreContext;
  readonly #adminKeyHash: string | undefined;
  readonly #cacheMs: number;
  readonly #principals = new Map<string, { principal: Principal | undefined; at: number }>();
  readonly #acls = new Map<string, { acls: Acl[]; at: number }>();

  constructor(ctx: CoreContext, options: { adminKeyHash: string | undefined; cacheMs: number }) {
    this.#ctx = ctx;
    this.#adminKeyHash = options.adminKeyHash;
    this.#cacheMs = options.cacheMs;
  }

  /** The principal of `Authorization: Bearer <key>`; UNAUTHENTICATED without a valid key. */
  async authenticate(authorization: string | undefined): Promise<Principal> {
    const key = authorization?.match(/^Bearer\s+(\S+)\s*$/i)?.[1];
    if (!key) {
      throw new TributaryError(
        'UNAUTHENTICATED',
        "Send an API key: 'Authorization: Bearer <key>'.",
      );
    }
    const now = this.#ctx.now();
    const cached = this.#principals.get(key);
    let principal = cached && now - cached.at <= this.#cacheMs ? cached.principal : undefined;
    if (!principal) {
      principal = await authenticate(this.#ctx, key, this.#adminKeyHash);
      if (this.#principals.size > 10_000) this.#principals.clear();
      this.#principals.set(key, { principal, at: now });
    }
    if (!principal) throw new TributaryError('UNAUTHENTICATED', 'The API key is not valid.');
    return principal;
  }

  async isAllowed(principal: Principal, operation: Operation, type: ResourceType, name: string) {
    if (principal.admin) return true;
    return isAllowed(await this.#aclsFor(principal.name), principal.name, operation, type, name);
  }

  /** FORBIDDEN unless the principal may do `operation` on the resource. */
  async require(principal: Principal, operation: Operation, type: ResourceType, name: string) {
    if (await this.isAllowed(principal, operation, type, name)) return;
    throw new TributaryError(
      'FORBIDDEN',
      `Principal '${principal.name}' may not ${operation} ${type} '${name}'.`,
      { principal: principal.name, operation, resourceType: type, resourceName: name },
    );
  }

  /** Forget what was read, after this instance changed keys or ACLs. */
  forget(): void {
    this.#principals.clear();
    this.#acls.clear();
  }

  async #aclsFor(principal: string): Promise<Acl[]> {
    const now = this.#ctx.now();
    const cached = this.#acls.get(principal);
    if (cached && now - cached.at <= this.#cacheMs) return cached.acls;
    const [own, everyone] = await Promise.all([
      listAcls(this.#ctx, principal),
      listAcls(this.#ctx, '*'),
    ]);
    const acls = [...own, ...everyone];
    if (this.#acls.size > 10_000) this.#acls.clear();
    this.#acls.set(principal, { acls, at: now });
    return acls;
  }
}
