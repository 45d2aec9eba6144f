import { MAX_ACCESS_TOKEN_TTL_SECONDS } from '../config/config.js';
import { isAudience, type Client } from '../domain/client.js';
import type { RequestParams } from '../domain/request-params.js';
import { parseScope, SCOPE_TOKEN } from '../domain/scope.js';
import { invalidScope, invalidTarget } from '../errors/oauth-error.js';

/**
 * The scopes a token gets: all of the client's allowed scopes when none are asked for,
 * else exactly those asked for, each of which the client must be allowed.
 */
export function grantedScopes(client: Client, requested: string | undefined, ceiling: readonly string[] = client.scopes): string[] {
  if (requested === undefined) return [...ceiling];
  const scopes = requestedScopes(requested);
  const refused = scopes.find((scope) => !ceiling.includes(scope));
  if (refused !== undefined) throw notAllowed(refused);
  return scopes;
}

/**
 * A `scope` parameter as distinct tokens. A token outside RFC 6749 §3.3's syntax is refused here,
 * before anything looks it up (Postgres refuses a NUL byte outright): no client can have it. So is
 * a value of spaces alone, which names no scope (an empty value is one omitted: all the scopes).
 */
export function requestedScopes(scope: string): string[] {
  const scopes = parseScope(scope);
  if (scopes.length === 0) throw invalidScope('scope must name at least one scope');
  const malformed = scopes.find((token) => !SCOPE_TOKEN.test(token));
  if (malformed !== undefined) throw notAllowed(malformed);
  return scopes;
}

const notAllowed = (scope: string) => invalidScope(`scope ${JSON.stringify(scope.slice(0, 64))} is not allowed`);

/**
 * The audience a token request asks for: `audience`, or RFC 8707's `resource`, the name OAuth
 * libraries send. Both at once must name the same target. RFC 8707 §2 lets a client send several
 * resources; a token has one audience, so that is `invalid_target`.
 */
export function requestedAudience(params: RequestParams): string | undefined {
  if (params.sentMoreThanOnce('resource')) throw invalidTarget('a token has one audience: send one resource');
  const audience = params.get('audience');
  const resource = params.get('resource');
  if ([audience, resource].some((target) => target !== undefined && !isAudience(target))) throw invalidTarget('no client has such an audience');
  // RFC 8707 §2: an absolute URI without a fragment.
  if (resource !== undefined && (!URL.canParse(resource) || resource.includes('#'))) throw invalidTarget('resource must be an absolute URI without a fragment');
  if (audience !== undefined && resource !== undefined && audience !== resource) throw invalidTarget('audience and resource name different targets');
  return audience ?? resource;
}

/**
 * The token's audience: the one asked for, which the client must have, or the client's first. A
 * client that lists none has the issuer, asked for or not.
 */
export function grantedAudience(client: Client, requested: string | undefined, issuer: string): string {
  const audiences = client.audiences.length > 0 ? client.audiences : [issuer];
  if (requested === undefined) return audiences[0]!;
  if (!audiences.includes(requested)) throw invalidTarget('audience not allowed for this client');
  return requested;
}

/** The client's own lifetime or the default, never more than the cap. */
export const accessTokenTtl = (client: Client, defaultTtl: number): number =>
  Math.min(client.accessTokenTtl ?? defaultTtl, MAX_ACCESS_TOKEN_TTL_SECONDS);
