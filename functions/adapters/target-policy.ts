/**
 * Which targets a deployment lets subscriptions call, checked when a subscription is saved
 * (a clear 400) and again at every delivery (addresses can change under a name).
 *
 * - Lambda functions: those the deployment lists (TRIBUTARY_SUBSCRIBER_FUNCTIONS, set by the
 *   construct from the ARNs its role may invoke), matched by name, qualifier, and region and
 *   account where the target gives them. No list: any function (the local server).
 * - Webhooks: HTTPS to a public address. Private, loopback, link-local (the instance
 *   metadata service at 169.254.169.254 included), carrier-grade NAT, multicast and every
 *   other special-purpose range is refused — in AWS such an address would reach into the
 *   deployment's own network. The local server allows loopback (plain http too), so a
 *   developer can point a subscription at a receiver on the same machine.
 */

import { lookup } from 'node:dns/promises';
import ipaddr from 'ipaddr.js';
import { TributaryError } from '../core/errors.ts';
import type { SubscriptionTarget, TargetPolicy } from '../core/subscriptions/subscription.ts';

export interface AddressRules {
  /** The local server: loopback receivers are allowed. */
  readonly allowLoopback: boolean;
}

/** Why the address may not be called, or undefined when it may. */
export function refusedAddress(address: string, rules: AddressRules): string | undefined {
  if (!ipaddr.isValid(address)) return `'${address}' is not an IP address`;
  // IPv4-mapped IPv6 addresses (::ffff:10.0.0.1) are judged as the IPv4 address they are.
  const parsed = ipaddr.process(address);
  const range = parsed.range();
  if (range === 'loopback' && rules.allowLoopback) return undefined;
  if (range !== 'unicast') return `${address} is a ${range} address`;
  // ipaddr.js calls every IPv6 address it has no name for unicast, the deprecated
  // IPv4-compatible ones (::7f00:1, ::a00:1) among them; only 2000::/3 is allotted to
  // global unicast.
  if (parsed.kind() === 'ipv6' && !parsed.match(globalUnicast)) {
    return `${address} is not a global unicast address`;
  }
  return undefined;
}

const globalUnicast = ipaddr.parseCIDR('2000::/3');

/** Resolves a host name to every address it has. */
export type Resolver = (host: string) => Promise<string[]>;

export const systemResolver: Resolver = async (host) =>
  (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);

/** The host of a URL as an address or name (IPv6 literals without their brackets). */
export const hostOf = (url: URL): string => url.hostname.replace(/^\[(.*)\]$/, '$1');

export class DeploymentTargetPolicy implements TargetPolicy {
  readonly #functions: readonly FunctionRef[] | undefined;
  readonly #rules: AddressRules;
  readonly #resolve: Resolver;

  constructor(options: {
    /** Function ARNs subscriptions may invoke; undefined: any. */
    readonly allowedFunctions: readonly string[] | undefined;
    readonly rules: AddressRules;
    readonly resolve?: Resolver;
  }) {
    this.#functions = options.allowedFunctions?.map(parseFunction);
    this.#rules = options.rules;
    this.#resolve = options.resolve ?? systemResolver;
  }

  async check(target: SubscriptionTarget): Promise<void> {
    if (target.type === 'lambda') return this.#checkFunction(target.function);
    let url: URL;
    try {
      url = new URL(target.url);
    } catch {
      throw refused('target.url', `'${target.url}' is not a URL`);
    }
    if (url.username || url.password) {
      throw refused('target.url', 'credentials do not go in the URL; use target.headers');
    }
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && this.#rules.allowLoopback)) {
      throw refused('target.url', 'webhooks are called over https');
    }
    const host = hostOf(url);
    const addresses = ipaddr.isValid(host) ? [host] : await this.#addresses(host);
    const loopbackOnly = addresses.every((a) => ipaddr.process(a).range() === 'loopback');
    if (
      url.protocol !== 'https:' &&
      !(url.protocol === 'http:' && this.#rules.allowLoopback && loopbackOnly)
    ) {
      throw refused('target.url', 'webhooks are called over https');
    }
    for (const address of addresses) {
      const reason = refusedAddress(address, this.#rules);
      if (reason) {
        throw refused('target.url', `${url.host} is not a public address (${reason})`);
      }
    }
  }

  async #addresses(host: string): Promise<string[]> {
    try {
      return await this.#resolve(host);
    } catch {
      throw refused('target.url', `the host ${host} does not resolve`);
    }
  }

  #checkFunction(name: string): void {
    if (this.#functions === undefined) return;
    const wanted = parseFunction(name);
    const allowed = this.#functions.some(
      (f) =>
        f.name === wanted.name &&
        f.qualifier === wanted.qualifier &&
        (wanted.region === undefined || f.region === wanted.region) &&
        (wanted.account === undefined || f.account === wanted.account),
    );
    if (!allowed) {
      const names = this.#functions.map((f) => f.arn).join(', ') || 'none';
      throw refused(
        'target.function',
        `this deployment may invoke only the functions it lists (subscriberFunctions): ${names}`,
      );
    }
  }
}

interface FunctionRef {
  readonly arn: string;
  readonly name: string;
  readonly qualifier: string | undefined;
  readonly region: string | undefined;
  readonly account: string | undefined;
}

/**
 * A function as Lambda's FunctionName takes it: a name (`my-fn`, `my-fn:live`), a partial
 * ARN (`123456789012:function:my-fn`) or a full one (`arn:aws:lambda:…:function:my-fn:live`).
 */
export function parseFunction(ref: string): FunctionRef {
  const parts = ref.split(':');
  const at = parts.indexOf('function');
  if (at === -1) {
    return {
      arn: ref,
      name: parts[0] ?? '',
      qualifier: parts[1],
      region: undefined,
      account: undefined,
    };
  }
  return {
    arn: ref,
    name: parts[at + 1] ?? '',
    qualifier: parts[at + 2],
    region: at >= 4 ? parts[at - 2] : undefined,
    account: parts[at - 1],
  };
}

const refused = (field: string, message: string) =>
  new TributaryError('INVALID_SUBSCRIPTION', `${field}: ${message}.`, { field });
