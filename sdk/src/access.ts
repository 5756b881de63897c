import { bodyOf } from './answers.ts';
import { type HttpClient, segment } from './http.ts';

/**
 * A newly issued API key. The key is shown once: the server keeps only its hash.
 *
 * @example
 * const { key }: ApiKey = await tributary.keys.create('billing');
 */
export interface ApiKey {
  readonly principal: string;
  readonly key: string;
}

/**
 * A principal with a key, as `keys.list()` shows it (never the key).
 *
 * @example
 * for (const { principal, createdAt } of await tributary.keys.list()) console.log(principal, new Date(createdAt));
 */
export interface ApiKeySummary {
  readonly principal: string;
  /** Epoch milliseconds. */
  readonly createdAt: number;
}

/**
 * A Kafka-style ACL. `principal` may be `*` (every principal); a LITERAL `resourceName` may
 * be `*` (every resource of the type); a PREFIXED one matches names starting with it. DENY
 * wins over ALLOW. A `resourceName` is `*` or 1-249 characters of `[a-zA-Z0-9._-]`, as the
 * topics and groups it names are.
 *
 * @example
 * const acl: Acl = {
 *   principal: 'billing',
 *   permission: 'ALLOW',
 *   operation: 'WRITE',
 *   resourceType: 'TOPIC',
 *   patternType: 'PREFIXED',
 *   resourceName: 'payments.',
 * };
 */
export interface Acl {
  readonly principal: string;
  readonly permission: 'ALLOW' | 'DENY';
  readonly operation: 'READ' | 'WRITE' | 'CREATE' | 'DELETE' | 'ALTER' | 'DESCRIBE';
  readonly resourceType: 'TOPIC' | 'GROUP' | 'CLUSTER' | 'TRANSACTIONAL_ID';
  readonly patternType: 'LITERAL' | 'PREFIXED';
  readonly resourceName: string;
}

/**
 * API keys, one per principal: `tributary.keys`. Managing keys needs ALTER on the cluster,
 * listing them DESCRIBE.
 *
 * @example
 * const { key } = await tributary.keys.create('billing');
 * const billing = new Tributary({ url, apiKey: key });
 */
export class ApiKeys {
  readonly #http: HttpClient;

  /** @internal Use `tributary.keys`. */
  constructor(http: HttpClient) {
    this.#http = http;
  }

  /**
   * Issues a key for `principal`, replacing (revoking) the key it had, if one.
   *
   * @example
   * const { principal, key } = await tributary.keys.create('billing');
   */
  async create(principal: string): Promise<ApiKey> {
    return bodyOf(
      await this.#http.request({
        method: 'POST',
        path: '/v1/admin/keys',
        body: { principal },
        // A resend would issue another key and revoke the one the first attempt made.
        idempotent: false,
      }),
    );
  }

  /**
   * Every principal with a key, and when the key was issued (never the key itself).
   *
   * @example
   * const principals = (await tributary.keys.list()).map((k) => k.principal);
   */
  async list(): Promise<ApiKeySummary[]> {
    const answer = await this.#http.request({
      method: 'GET',
      path: '/v1/admin/keys',
      idempotent: true,
    });
    return bodyOf<{ keys: ApiKeySummary[] }>(answer).keys;
  }

  /**
   * Revokes the principal's key; its ACLs stay. `KEY_NOT_FOUND` when it has none.
   *
   * @example
   * await tributary.keys.delete('billing');
   */
  async delete(principal: string): Promise<void> {
    await this.#http.request({
      method: 'DELETE',
      path: `/v1/admin/keys/${segment(principal)}`,
      idempotent: true,
    });
  }
}

/**
 * Access control lists: `tributary.acls`.
 *
 * @example
 * await tributary.acls.create({
 *   principal: 'billing', permission: 'ALLOW', operation: 'READ',
 *   resourceType: 'GROUP', patternType: 'LITERAL', resourceName: 'billing-workers',
 * });
 */
export class Acls {
  readonly #http: HttpClient;

  /** @internal Use `tributary.acls`. */
  constructor(http: HttpClient) {
    this.#http = http;
  }

  /**
   * Adds an ACL (adding one that exists changes nothing).
   *
   * @example
   * await tributary.acls.create({
   *   principal: 'billing', permission: 'ALLOW', operation: 'WRITE',
   *   resourceType: 'TOPIC', patternType: 'PREFIXED', resourceName: 'payments.',
   * });
   */
  async create(acl: Acl): Promise<Acl> {
    return bodyOf(
      await this.#http.request({
        method: 'POST',
        path: '/v1/admin/acls',
        body: aclBody(acl),
        idempotent: true,
      }),
    );
  }

  /**
   * Every ACL, or only those of one principal.
   *
   * @example
   * const billing = await tributary.acls.list({ principal: 'billing' });
   */
  async list(filter: { readonly principal?: string } = {}): Promise<Acl[]> {
    const answer = await this.#http.request({
      method: 'GET',
      path: '/v1/admin/acls',
      query: { principal: filter.principal },
      idempotent: true,
    });
    return bodyOf<{ acls: Acl[] }>(answer).acls;
  }

  /**
   * Removes an ACL, given exactly as it was added. `ACL_NOT_FOUND` when there is none.
   *
   * @example
   * const [first] = await tributary.acls.list({ principal: 'billing' });
   * if (first) await tributary.acls.delete(first);
   */
  async delete(acl: Acl): Promise<void> {
    await this.#http.request({
      method: 'DELETE',
      path: '/v1/admin/acls',
      body: aclBody(acl),
      idempotent: true,
    });
  }
}

/** Exactly the ACL's fields: the server refuses unknown ones. */
const aclBody = (acl: Acl): Acl => ({
  principal: acl.principal,
  permission: acl.permission,
  operation: acl.operation,
  resourceType: acl.resourceType,
  patternType: acl.patternType,
  resourceName: acl.resourceName,
});
