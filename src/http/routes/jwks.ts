import Router from '@koa/router';

/** The published key set, serialised once by the keyring. */
export interface JwksSource {
  jwks(): { readonly body: string; readonly etag: string };
}

/** Resource servers may cache the key set this long; key rotation publishes at least this far ahead. */
export const JWKS_MAX_AGE_SECONDS = 300;

export function jwksRoutes(keys: JwksSource): Router {
  return new Router().get('/.well-known/jwks.json', (ctx) => {
    const { body, etag } = keys.jwks();
    ctx.set('Cache-Control', `public, max-age=${JWKS_MAX_AGE_SECONDS}`);
    ctx.status = 200;
    ctx.etag = etag;
    if (ctx.fresh) {
      ctx.status = 304;
      return;
    }
    ctx.type = 'application/json';
    ctx.body = body;
  });
}
