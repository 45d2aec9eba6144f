/** One access token on the denylist until it would have expired anyway. */
export interface RevokedAccessToken {
  readonly jti: string;
  readonly expiresAt: Date;
  readonly reason: RevocationReason;
}

export type RevocationReason = 'revoked' | 'refresh_reuse' | 'family_revoked' | 'sessions_revoked' | 'user_disabled';
