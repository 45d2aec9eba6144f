import { randomUUID } from 'node:crypto';
import type { Clock } from '../clock.js';
import type { Client } from '../domain/client.js';
import type { User } from '../domain/user.js';
import { hashRefreshToken, newRefreshToken } from '../tokens/refresh-token.js';
import type { AccessTokenIssuer, IssuedAccessToken } from './access-token-issuer.js';
import { accessTokenTtl } from './token-policy.js';
import type { RefreshTokenStore } from '../stores/refresh-token-store.js';

export interface SessionPolicy {
  readonly defaultAccessTokenTtl: number;
  /** Idle lifetime of one refresh token, seconds. */
  readonly refreshTokenTtl: number;
  /** Absolute lifetime of a family, seconds. */
  readonly refreshFamilyMaxAge: number;
}

export interface SessionIssuerDeps {
  readonly policy: SessionPolicy;
  readonly accessTokens: AccessTokenIssuer;
  readonly refreshTokens: Pick<RefreshTokenStore, 'insert'>;
  readonly clock: Clock;
}

export interface NewSession {
  readonly accessToken: IssuedAccessToken;
  readonly refreshToken: string;
  readonly familyId: string;
}

export interface SessionIssuer {
  /**
   * A login: an access token and the first refresh token of a new family, stored as its hash.
   * Undefined when the user was disabled after it was read (the access token made is never handed out).
   */
  /**
   * Starts a session for a user whose password was checked against `passwordHash` (as stored now:
   * after a rehash, the new one); undefined when the user is disabled or has another password by then.
   */
  start(input: { user: User; passwordHash: string; client: Client; scopes: readonly string[]; audience: string }): Promise<NewSession | undefined>;
}

export function createSessionIssuer({ policy, accessTokens, refreshTokens, clock }: SessionIssuerDeps): SessionIssuer {
  return {
    async start({ user, passwordHash, client, scopes, audience }) {
      const accessToken = await accessTokens.issue({
        subject: user.id,
        clientId: client.clientId,
        audience,
        scopes,
        roles: user.roles,
        ttlSeconds: accessTokenTtl(client, policy.defaultAccessTokenTtl),
      });
      const now = clock.now();
      const familyExpiresAt = new Date(now + policy.refreshFamilyMaxAge * 1000);
      const refreshToken = newRefreshToken();
      const familyId = randomUUID();
      const stored = await refreshTokens.insert({
        id: randomUUID(),
        tokenHash: hashRefreshToken(refreshToken),
        familyId,
        userId: user.id,
        clientId: client.clientId,
        scope: scopes,
        audience,
        createdAt: new Date(now),
        expiresAt: new Date(Math.min(now + policy.refreshTokenTtl * 1000, familyExpiresAt.getTime())),
        familyExpiresAt,
        accessTokenJti: accessToken.jti,
        accessTokenExpiresAt: accessToken.expiresAt,
      }, { passwordHash });
      return stored ? { accessToken, refreshToken, familyId } : undefined;
    },
  };
}
