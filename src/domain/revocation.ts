/** One access token on the denylist until it would have expired anyway. */
export interface RevokedAccessToken {
  readonly jti: string;
  readonly expiresAt: Date;
  readonly reason: RevocationReason;
}

/**
 * How long past its exp, by the clock of the host revoking it, an access token is still denylisted
 * (and its revocation kept): another host whose clock runs behind, an authd instance or a resource
 * server, still takes it for unexpired meanwhile. Redis drops a key at the token's exp by its own
 * clock, so the margin costs Redis nothing.
 */
export const EXPIRY_SKEW_MARGIN_MS = 120_000;

/** The earliest exp, by the clock that says `now`, of an access token still worth denylisting. */
export const denylistedIfExpiringAfter = (now: Date): Date => new Date(now.getTime() - EXPIRY_SKEW_MARGIN_MS);

export type RevocationReason = 'revoked' | 'refresh_reuse' | 'family_revoked' | 'sessions_revoked' | 'user_disabled';
