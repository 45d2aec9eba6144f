import type { Clock } from '../clock.js';
import { isLiveRefreshToken } from '../domain/refresh-token.js';
import { formatScope } from '../domain/scope.js';
import type { RefreshTokenStore } from '../stores/refresh-token-store.js';
import type { AccessTokenVerifier } from '../tokens/access-token-verifier.js';
import { hashRefreshToken, looksLikeRefreshToken } from '../tokens/refresh-token.js';
import type { Denylist } from './denylist.js';

export type IntrospectionResponse = { active: false } | ({ active: true; token_type: 'access_token' | 'refresh_token' } & Record<string, unknown>);

export interface IntrospectionDeps {
  readonly verifyAccessToken: AccessTokenVerifier;
  readonly denylist: Pick<Denylist, 'isRevoked'>;
  readonly refreshTokens: Pick<RefreshTokenStore, 'findByHash'>;
  readonly clock: Clock;
}

const INACTIVE = { active: false } as const;

/**
 * RFC 7662. An access token is active when it verifies (signature by a non-revoked key of ours,
 * issuer, type, not expired — no tolerance) and its jti is not denylisted. A refresh token is
 * active when it is unspent, unrevoked, unexpired and its user not disabled. Anything else is
 * `{active:false}`.
 */
export function createIntrospection({ verifyAccessToken, denylist, refreshTokens, clock }: IntrospectionDeps) {
  return async function introspect(token: string): Promise<IntrospectionResponse> {
    if (looksLikeRefreshToken(token)) {
      const record = await refreshTokens.findByHash(hashRefreshToken(token));
      if (record === undefined || !isLiveRefreshToken(record, clock.now())) return INACTIVE;
      return {
        active: true,
        token_type: 'refresh_token',
        client_id: record.clientId,
        sub: record.userId,
        ...(record.scope.length > 0 ? { scope: formatScope(record.scope) } : {}),
        exp: Math.floor(record.expiresAt.getTime() / 1000),
      };
    }
    const result = verifyAccessToken(token);
    if (!result.valid || (await denylist.isRevoked(result.claims.jti))) return INACTIVE;
    return { ...result.claims, active: true, token_type: 'access_token' };
  };
}

export type Introspect = ReturnType<typeof createIntrospection>;
