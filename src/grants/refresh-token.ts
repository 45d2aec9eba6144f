import { formatScope } from '../domain/scope.js';
import type { RefreshRequest, Rotation } from '../flows/refresh-rotation.js';
import type { Client } from '../domain/client.js';
import { requiredParam } from '../domain/request-params.js';
import { requestedAudience } from '../flows/token-policy.js';
import type { Grant } from './grant.js';

export type Rotate = (client: Client, presented: string, asked: RefreshRequest) => Promise<Rotation>;

/** RFC 6749 §6, with rotation: `grant_type=refresh_token` at /token and the same at /token/refresh. */
export function refreshTokenGrant(rotate: Rotate): Grant {
  return {
    grantType: 'refresh_token',
    async handle(request) {
      const { params } = request;
      const rotation = await rotate(request.client, requiredParam(params, 'refresh_token'), { scope: params.get('scope'), audience: requestedAudience(params) });
      return {
        access_token: rotation.accessToken.token,
        token_type: 'Bearer',
        expires_in: rotation.accessToken.expiresIn,
        refresh_token: rotation.refreshToken,
        ...(rotation.scopes.length > 0 ? { scope: formatScope(rotation.scopes) } : {}),
      };
    },
  };
}
