import type { Clock } from '../clock.js';
import type { Client } from '../domain/client.js';
import { isLiveRefreshToken } from '../domain/refresh-token.js';
import { denylistedIfExpiringAfter } from '../domain/revocation.js';
import { unauthorizedClient } from '../errors/oauth-error.js';
import type { Audit } from '../observability/audit.js';
import type { Metrics } from '../observability/metrics.js';
import type { FamilyRevocation, RefreshTokenStore } from '../stores/refresh-token-store.js';
import type { AccessTokenVerifier } from '../tokens/access-token-verifier.js';
import { hashRefreshToken, looksLikeRefreshToken } from '../tokens/refresh-token.js';
import type { Denylist } from './denylist.js';
import { completeRevocation } from './family-revocation.js';

export interface RevocationDeps {
  readonly verifyAccessToken: AccessTokenVerifier;
  readonly denylist: Pick<Denylist, 'revoke' | 'publish' | 'isRevoked'>;
  readonly refreshTokens: Pick<RefreshTokenStore, 'findByHash' | 'withLockedToken' | 'finishRevocation'>;
  readonly clock: Clock;
  readonly audit: Audit;
  readonly metrics: Pick<Metrics, 'revocations'>;
}

const otherClients = () => unauthorizedClient('token was issued to another client');

/**
 * RFC 7009. The token's shape decides what it is (`token_type_hint` is only a hint): a refresh
 * token revokes its whole family and denylists the family's access tokens; an access token of
 * ours joins the denylist until it expires, even before its `nbf`, or within EXPIRY_SKEW_MARGIN_MS
 * after its `exp`. A token revoked already is left as it is, neither counted nor audited again.
 * Tokens that are unknown, invalid or expired longer than that need no work. Another client's
 * live token (an access token not denylisted, a refresh token introspection calls active) is
 * refused and left alone, and its spent, revoked or expired one is answered as an unknown one;
 * either way the audit log tells (`token_of_another_client`): the answer tells the sender whether
 * the token is live, which a thief may ask without tripping reuse detection.
 */
export function createRevocation(deps: RevocationDeps) {
  const { refreshTokens, denylist, audit, metrics } = deps;

  const revokeRefreshToken = async (client: Client, token: string) => {
    const tokenHash = hashRefreshToken(token);
    const known = await refreshTokens.findByHash(tokenHash);
    if (known === undefined) return;
    if (known.clientId !== client.clientId) {
      audit('token_of_another_client', { token_type: 'refresh_token', family_id: known.familyId, client_id: client.clientId, owner_client_id: known.clientId });
      // Spent, revoked or expired, it is an invalid token: 200 and no effect (RFC 7009 §2.2).
      if (isLiveRefreshToken(known, deps.clock.now())) throw otherClients();
      return;
    }
    const now = new Date(deps.clock.now());
    const revoked = await refreshTokens.withLockedToken(tokenHash, now, async (family): Promise<FamilyRevocation | undefined> => family?.revokeFamily('family_revoked'));
    if (revoked === undefined) return;
    // Revoked before (reuse detection, a logout sent twice): nothing to tell, but a revocation of its
    // spent tokens cut short goes on.
    const changed = revoked.revokedTokens > 0;
    if (changed) metrics.revocations.inc({ token_type: 'refresh_token' });
    await completeRevocation(deps, { familyId: known.familyId }, revoked, now, 'family_revoked', (denylisted) => {
      if (changed) audit('family_revoked', { family_id: known.familyId, client_id: client.clientId, access_tokens_denylisted: denylisted });
    });
  };

  const revokeAccessToken = async (client: Client, token: string) => {
    const result = deps.verifyAccessToken(token);
    if (!result.valid && result.reason === 'invalid') return;
    const { jti, exp, client_id: owner } = result.claims;
    // Revoked too: a token whose nbf is still ahead here (an instance whose clock runs ahead issued
    // it, and resource servers, with 60 s of tolerance, accept it already), and one expired here
    // that an instance or resource server whose clock runs behind may still take, as ending a
    // session covers them (EXPIRY_SKEW_MARGIN_MS). Past that it is no token at all.
    const expired = !result.valid && result.reason === 'expired';
    if (expired && exp * 1000 <= denylistedIfExpiringAfter(new Date(deps.clock.now())).getTime()) return;
    if (owner !== client.clientId) {
      audit('token_of_another_client', { token_type: 'access_token', jti, client_id: client.clientId, owner_client_id: owner });
      // Expired here or denylisted, it is an invalid token to its sender (RFC 7009 §2.2): nothing to
      // do. Otherwise resource servers accept it, and another client's is refused.
      if (expired || (await denylist.isRevoked(jti))) return;
      throw otherClients();
    }
    // Recorded again even when revoked already (a logout sent twice, or two at once): Postgres keeps
    // the first, and Redis is told before this answers, which the revocation that recorded it may
    // not have done yet. Only the one Postgres took counts.
    if ((await denylist.revoke([{ jti, expiresAt: new Date(exp * 1000), reason: 'revoked' }])) === 0) return;
    metrics.revocations.inc({ token_type: 'access_token' });
    audit('token_revoked', { jti, client_id: client.clientId });
  };

  return async function revoke(client: Client, token: string): Promise<void> {
    if (looksLikeRefreshToken(token)) await revokeRefreshToken(client, token);
    else await revokeAccessToken(client, token);
  };
}

export type Revoke = ReturnType<typeof createRevocation>;
