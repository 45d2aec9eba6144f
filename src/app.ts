import cors from '@koa/cors';
import Router from '@koa/router';
import Koa from 'koa';
import type { Config } from './config/config.js';
import type { ClientLookup } from './flows/client-authentication.js';
import type { Introspect } from './flows/introspection.js';
import type { Revoke } from './flows/revocation.js';
import type { Grant } from './grants/grant.js';
import { introspectRoutes } from './http/routes/introspect.js';
import { revokeRoutes } from './http/routes/revoke.js';
import { tokenRoutes } from './http/routes/token.js';
import { handleErrors } from './http/middleware/errors.js';
import { parseOAuthBody } from './http/middleware/body.js';
import { observeRequests } from './http/middleware/observe.js';
import { refuseOtherSitesPages } from './http/middleware/origin.js';
import { requestId } from './http/middleware/request-id.js';
import { healthRoutes, type ReadinessCheck } from './http/routes/health.js';
import { jwksRoutes, type JwksSource } from './http/routes/jwks.js';
import { metadataRoutes } from './http/routes/metadata.js';
import { metricsRoutes } from './http/routes/metrics.js';
import type { Logger } from './observability/logger.js';
import type { Metrics } from './observability/metrics.js';

/** Everything the HTTP layer needs, built by main.ts (or a test) and passed in. */
export interface AppDependencies {
  readonly config: Pick<Config, 'issuer' | 'corsOrigins' | 'trustedProxies'>;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly keys: JwksSource;
  readonly readiness: readonly ReadinessCheck[];
  readonly scopesSupported: () => Promise<readonly string[]>;
  readonly clients: ClientLookup;
  readonly grants: readonly Grant[];
  readonly revoke: Revoke;
  readonly introspect: Introspect;
}

/** Whether responses carry CORS headers: only for origins listed in CORS_ORIGINS. */
export const corsEnabled = (config: Pick<Config, 'corsOrigins'>): boolean => config.corsOrigins.length > 0;

/**
 * The koa application, without listening: server.ts listens. Middleware added here does not see
 * a plain GET of the key set, which src/http/jwks-before-koa.ts answers ahead of koa.
 */
export function createApp(deps: AppDependencies): Koa {
  // Behind proxies, the client's address is the one the outermost trusted proxy appended: koa keeps
  // the last maxIpsCount entries of X-Forwarded-For and takes the first of them. Earlier entries are
  // whatever the client sent, and would let it pick its own IP for the login throttle.
  const hops = deps.config.trustedProxies;
  const app = new Koa({ proxy: hops > 0, maxIpsCount: Math.max(hops, 1) });
  app.silent = true;
  app.use(requestId());
  app.use(observeRequests(deps.logger, deps.metrics));
  app.use(handleErrors(deps.logger));
  if (corsEnabled(deps.config)) {
    const allowed = new Set(deps.config.corsOrigins);
    // A browser client may read the headers that tell it when to try again and how to authenticate.
    app.use(
      cors({
        origin: (ctx) => (allowed.has(ctx.get('Origin')) ? ctx.get('Origin') : ''),
        allowMethods: ['GET', 'POST'],
        exposeHeaders: ['Retry-After', 'WWW-Authenticate'],
      }),
    );
  }
  // One router for every endpoint: one route match per request.
  const router = new Router();
  // Every OAuth POST's first steps, in its route (so that a refusal is logged under the route).
  const entry = [refuseOtherSitesPages(new Set([new URL(deps.config.issuer).origin, ...deps.config.corsOrigins])), parseOAuthBody()];
  jwksRoutes(router, deps.keys);
  metadataRoutes(router, { issuer: deps.config.issuer, scopesSupported: deps.scopesSupported });
  healthRoutes(router, deps.readiness);
  metricsRoutes(router, deps.metrics.registry);
  tokenRoutes(router, { clients: deps.clients, grants: deps.grants, metrics: deps.metrics, entry });
  revokeRoutes(router, { clients: deps.clients, revoke: deps.revoke, entry });
  introspectRoutes(router, { clients: deps.clients, introspect: deps.introspect, entry });
  app.use(router.routes()).use(router.allowedMethods());
  return app;
}
