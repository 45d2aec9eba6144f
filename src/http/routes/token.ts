import type { RouterInstance } from '@koa/router';
import type { Context, Middleware } from 'koa';
import { isGrantType, type Client, type GrantType } from '../../domain/client.js';
import { unauthorizedClient, unsupportedGrantType } from '../../errors/oauth-error.js';
import { authenticateClient, type ClientLookup } from '../../flows/client-authentication.js';
import type { Grant, TokenRequest, TokenResponse } from '../../grants/grant.js';
import type { Metrics } from '../../observability/metrics.js';
import { abandonedSignal } from '../abandoned.js';
import { withoutPort } from '../client-address.js';
import { readClientCredentials } from '../client-credentials.js';
import { requiredParam, type RequestParams } from '../../domain/request-params.js';

export interface TokenRouteDeps {
  readonly clients: ClientLookup;
  readonly grants: readonly Grant[];
  readonly metrics: Pick<Metrics, 'tokensIssued'>;
  /** What every OAuth POST passes through first (app.ts: the origin check, the body's parsing into `ctx.state.params`). */
  readonly entry: readonly Middleware[];
}

/**
 * A token request as a grant sees it, its abandonment signal made on first use: only the password
 * grant asks, and only before queueing argon2 work. A class on purpose: the same lazy getter in an
 * object literal cost ~25 µs of GC per client_credentials request (measured; BENCHMARKS.md).
 */
class HttpTokenRequest implements TokenRequest {
  readonly ip: string;
  readonly requestId: string;
  readonly #ctx: Context;
  #abandoned: AbortSignal | undefined;

  constructor(
    ctx: Context,
    readonly params: RequestParams,
    readonly client: Client,
  ) {
    this.#ctx = ctx;
    this.ip = withoutPort(ctx.ip);
    this.requestId = ctx.state.requestId as string;
  }

  get abandoned(): AbortSignal {
    return (this.#abandoned ??= abandonedSignal(this.#ctx));
  }
}

/** `POST /token` and `POST /token/refresh`: authenticate the client, check it may use the grant, run the grant. */
export function tokenRoutes(router: RouterInstance, { clients, grants, metrics, entry }: TokenRouteDeps): void {
  const byType = new Map<GrantType, Grant>(grants.map((grant) => [grant.grantType, grant]));

  const exchange = async (ctx: Context, grantTypeParam: string) => {
    const params = ctx.state.params as RequestParams;
    const grant = isGrantType(grantTypeParam) ? byType.get(grantTypeParam) : undefined;
    if (grant === undefined) throw unsupportedGrantType('unsupported grant_type');
    const client = await authenticateClient(clients, readClientCredentials(ctx, params));
    ctx.state.clientId = client.clientId;
    if (!client.grantTypes.includes(grant.grantType)) throw unauthorizedClient(`client may not use ${grant.grantType}`);
    const request = new HttpTokenRequest(ctx, params, client);
    const response = await grant.handle(request);
    metrics.tokensIssued.inc({ grant_type: grant.grantType });
    respond(ctx, response);
  };

  router
    .post('/token', ...entry, (ctx) => exchange(ctx, requiredParam(ctx.state.params as RequestParams, 'grant_type')))
    .post('/token/refresh', ...entry, (ctx) => exchange(ctx, 'refresh_token'));
}

/** RFC 6749 §5.1: token responses are never cached. */
export function respond(ctx: Context, body: TokenResponse): void {
  ctx.set('Cache-Control', 'no-store');
  ctx.set('Pragma', 'no-cache');
  ctx.body = body;
}
