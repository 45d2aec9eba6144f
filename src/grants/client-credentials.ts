import { isConfidential } from '../domain/client.js';
import { formatScope } from '../domain/scope.js';
import { unauthorizedClient } from '../errors/oauth-error.js';
import type { AccessTokenIssuer } from '../flows/access-token-issuer.js';
import { accessTokenTtl, grantedAudience, grantedScopes, requestedAudience } from '../flows/token-policy.js';
import type { Grant } from './grant.js';

export interface ClientCredentialsGrantDeps {
  readonly issuer: string;
  readonly defaultAccessTokenTtl: number;
  readonly accessTokens: AccessTokenIssuer;
}

/** RFC 6749 §4.4: a confidential client gets an access token for itself (`sub` = client_id), no refresh token. */
export function clientCredentialsGrant(deps: ClientCredentialsGrantDeps): Grant {
  return {
    grantType: 'client_credentials',
    async handle({ client, params }) {
      if (!isConfidential(client)) throw unauthorizedClient('client_credentials requires a confidential client');
      const scopes = grantedScopes(client, params.get('scope'));
      const issued = await deps.accessTokens.issue({
        subject: client.clientId,
        clientId: client.clientId,
        audience: grantedAudience(client, requestedAudience(params), deps.issuer),
        scopes,
        ttlSeconds: accessTokenTtl(client, deps.defaultAccessTokenTtl),
      });
      return {
        access_token: issued.token,
        token_type: 'Bearer',
        expires_in: issued.expiresIn,
        ...(scopes.length > 0 ? { scope: formatScope(scopes) } : {}),
      };
    },
  };
}
