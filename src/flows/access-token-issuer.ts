import { epochSeconds, type Clock } from '../clock.js';
import { formatScope } from '../domain/scope.js';
import { temporarilyUnavailable } from '../errors/oauth-error.js';
import { accessTokenSigningInput, compactJws, newJti, type SigningKey } from '../tokens/access-token.js';
import { batchedSigner, type Es256Signer } from '../tokens/signature-batch.js';

export interface AccessTokenRequest {
  /** User id, or the client_id for client_credentials. */
  readonly subject: string;
  readonly clientId: string;
  readonly audience: string;
  readonly scopes: readonly string[];
  /** Present for users only. */
  readonly roles?: readonly string[];
  readonly ttlSeconds: number;
  /** A jti and issue time chosen beforehand, when a stored row must name the token before it is signed. */
  readonly preassigned?: { readonly jti: string; readonly issuedAt: number };
}

export interface IssuedAccessToken {
  readonly token: string;
  readonly jti: string;
  readonly expiresAt: Date;
  readonly expiresIn: number;
}

export interface AccessTokenIssuer {
  issue(request: AccessTokenRequest): Promise<IssuedAccessToken>;
  /** Throws the 503 `issue` would, before work that cannot be undone (spending a refresh token). */
  assertCanSign(): void;
}

const noSigningKey = () => temporarilyUnavailable(30, 'no active signing key');

export interface AccessTokenIssuerDeps {
  readonly issuer: string;
  readonly keys: { activeKey(): SigningKey | undefined };
  readonly clock: Clock;
  /** Makes the signatures; by default in batches, one per event-loop turn. */
  readonly sign?: Es256Signer;
}

/** Signs RFC 9068 access tokens with the keyring's active key; none active means 503, never an unsigned token. */
export function createAccessTokenIssuer({ issuer, keys, clock, sign = batchedSigner() }: AccessTokenIssuerDeps): AccessTokenIssuer {
  return {
    async issue({ subject, clientId, audience, scopes, roles, ttlSeconds, preassigned }) {
      const key = keys.activeKey();
      if (key === undefined) throw noSigningKey();
      const now = preassigned?.issuedAt ?? epochSeconds(clock);
      const jti = preassigned?.jti ?? newJti();
      const exp = now + ttlSeconds;
      const signingInput = accessTokenSigningInput(key.kid, {
        iss: issuer,
        sub: subject,
        aud: audience,
        exp,
        iat: now,
        nbf: now,
        jti,
        client_id: clientId,
        ...(scopes.length > 0 ? { scope: formatScope(scopes) } : {}),
        ...(roles === undefined ? {} : { roles }),
      });
      const token = compactJws(signingInput, await sign(key.privateKey, signingInput));
      return { token, jti, expiresAt: new Date(exp * 1000), expiresIn: ttlSeconds };
    },
    assertCanSign() {
      if (keys.activeKey() === undefined) throw noSigningKey();
    },
  };
}
