import type { RouterInstance, RouterMiddleware } from '@koa/router';

export interface MetadataOptions {
  readonly issuer: string;
  /** Every scope some client may ask for, for `scopes_supported`. */
  readonly scopesSupported: () => Promise<readonly string[]>;
}

const CLIENT_AUTH_METHODS = ['client_secret_basic', 'client_secret_post'];

/** RFC 8414 authorization server metadata, also served at the OpenID discovery path. */
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
  router.get('/.well-known/oauth-authorization-server', serve).get('/.well-known/openid-configuration', serve);
}
