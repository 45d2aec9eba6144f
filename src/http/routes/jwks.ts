import type { RouterInstance } from '@koa/router';

/** The published key set, serialised once by the keyring. */
export interface JwksSource {
  jwks(): { readonly body: string; readonly etag: string };
}

/** Resource servers may cache the key set this long; key rotation publishes at least this far ahead. */
export const JWKS_MAX_AGE_SECONDS = 300;

export function jwksRoutes(router: RouterInstance, keys: JwksSource): void {
  router.get('/.well-known/jwks.json', (ctx) => {
    const { body, etag } = keys.jwks();
    ctx.set('Cache-Control', `public, max-age=${JWKS_MAX_AGE_SECONDS}`);
    ctx.set('ETag', etag);
    if (matchesIfNoneMatch(ctx.get('if-none-match'), etag)) {
      ctx.status = 304;
      return;
    }
    ctx.type = 'application/json';
    ctx.body = body;
  });
}

/**
 * RFC 9110 §13.1.2 with weak comparison. Not koa's `ctx.fresh`: that also honours a request's
 * `Cache-Control: no-cache`, which fetch() adds to every conditional request it sends by hand.
 */
function matchesIfNoneMatch(header: string, etag: string): boolean {
  if (header.trim() === '*') return true;
  const opaque = (tag: string) => tag.trim().replace(/^W\//, '');
  return header.split(',').some((candidate) => opaque(candidate) === opaque(etag));
}
