import type { Clock } from '../clock.js';
import type { RevocationReason } from '../domain/revocation.js';
import type { User } from '../domain/user.js';
import type { Audit } from '../observability/audit.js';
import type { FamilySummary, RefreshTokenStore } from '../stores/refresh-token-store.js';
import type { Denylist } from './denylist.js';

export interface SessionsDeps {
  readonly refreshTokens: Pick<RefreshTokenStore, 'listUserFamilies' | 'revokeUserFamilies'>;
  readonly denylist: Pick<Denylist, 'publish'>;
  readonly clock: Clock;
  readonly audit: Audit;
}

/** A user's login sessions (refresh-token families): list them, or end them all with their access tokens. */
export function createSessions({ refreshTokens, denylist, clock, audit }: SessionsDeps) {
  return {
    list(user: User): Promise<FamilySummary[]> {
      return refreshTokens.listUserFamilies(user.id, new Date(clock.now()));
    },
    async revokeAll(user: User, reason: RevocationReason = 'sessions_revoked'): Promise<{ accessTokensDenylisted: number }> {
      const denied = await refreshTokens.revokeUserFamilies(user.id, new Date(clock.now()), reason);
      await denylist.publish(denied);
      audit('sessions_revoked', { sub: user.id, reason, access_tokens_denylisted: denied.length });
      return { accessTokensDenylisted: denied.length };
    },
  };
}

export type Sessions = ReturnType<typeof createSessions>;
