import type { RouterInstance, RouterMiddleware } from '@koa/router';

export interface MetadataOptions {
  readonly issuer: string;
  /** Every scope some client may ask for, for `scopes_supported`. */
  readonly scopesSupported: () => Promise<readonly string[]>;
}

const CLIENT_AUTH_METHODS = ['client_secret_basic', 'client_secret_post'];

/** A path as @koa/router (path-to-regexp 8) matches it literally: its special characters escaped. */
const literalRoute = (path: string) => path.replace(/[{}()[\]+?!:*\\]/g, '\\$&');

/**
 * RFC 8414 authorization server metadata, also served at the OpenID discovery path. For an issuer
 * with a path (`https://example.com/auth`), RFC 8414 §3.1 has clients insert the well-known suffix
 * between host and path (`/.well-known/oauth-authorization-server/auth`), which a proxy that strips
 * the prefix passes on as it is; OpenID clients append it to the issuer, which such a proxy turns
 * into the plain path.
 */
export function metadataRoutes(router: RouterInstance, { issuer, scopesSupported }: MetadataOptions): void {
  const document = (scopes: readonly string[]) => ({
    issuer,
    token_endpoint: `${issuer}/token`,
    jwks_uri: `${issuer}/.well-known/jwks.json`,
    revocation_endpoint: `${issuer}/revoke`,
    introspection_endpoint: `${issuer}/introspect`,
    grant_types_supported: ['password', 'client_credentials', 'refresh_token'],
    response_types_supported: [],
    scopes_supported: scopes,
    token_endpoint_auth_methods_supported: [...CLIENT_AUTH_METHODS, 'none'],
    revocation_endpoint_auth_methods_supported: [...CLIENT_AUTH_METHODS, 'none'],
    introspection_endpoint_auth_methods_supported: CLIENT_AUTH_METHODS,
  });
  const serve: RouterMiddleware = async (ctx) => {
    ctx.set('Cache-Control', 'public, max-age=300');
    ctx.body = document(await scopesSupported());
  };
  const issuerPath = new URL(issuer).pathname;
  router.get('/.well-known/oauth-authorization-server', serve).get('/.well-known/openid-configuration', serve);
  if (issuerPath !== '/') router.get(`/.well-known/oauth-authorization-server${literalRoute(issuerPath)}`, serve);
}
