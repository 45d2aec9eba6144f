/** One refresh token of a login session (family), as stored: the token itself never is. */
export interface RefreshTokenRecord {
  readonly id: string;
  readonly tokenHash: string;
  readonly familyId: string;
  readonly userId: string;
  readonly clientId: string;
  readonly scope: readonly string[];
  readonly audience: string;
  readonly createdAt: Date;
  /** Idle expiry: this token's own end, never past the family's. */
  readonly expiresAt: Date;
  /** Absolute end of the login session; rotation never moves it. */
  readonly familyExpiresAt: Date;
  readonly usedAt: Date | null;
  readonly revokedAt: Date | null;
  readonly replacedById: string | null;
  readonly accessTokenJti: string;
  readonly accessTokenExpiresAt: Date;
}

export type NewRefreshToken = Omit<RefreshTokenRecord, 'usedAt' | 'revokedAt' | 'replacedById'>;

/** A stored token looked up by its hash, with whether its user is disabled. */
export interface FoundRefreshToken extends RefreshTokenRecord {
  readonly userDisabled: boolean;
}

/**
 * Unspent, unrevoked, within its own and its family's lifetime, and its user not disabled: what
 * introspection calls active, and what rotation would accept. (Within REFRESH_REUSE_GRACE its
 * owner may still exchange the family's most recently spent token, which is not live.)
 */
export const isLiveRefreshToken = (token: FoundRefreshToken, now: number): boolean =>
  !token.userDisabled &&
  token.usedAt === null &&
  token.revokedAt === null &&
  token.expiresAt.getTime() > now &&
  token.familyExpiresAt.getTime() > now;
