import type { Clock } from '../clock.js';
import type { RevocationReason } from '../domain/revocation.js';
import type { User } from '../domain/user.js';
import type { Audit } from '../observability/audit.js';
import type { FamilySummary, RefreshTokenStore } from '../stores/refresh-token-store.js';
import type { Denylist } from './denylist.js';
import { completeRevocation } from './family-revocation.js';

export interface SessionsDeps {
  readonly refreshTokens: Pick<RefreshTokenStore, 'listUserFamilies' | 'revokeUserFamilies' | 'finishRevocation'>;
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
      const now = new Date(clock.now());
      const revocation = await refreshTokens.revokeUserFamilies(user.id, now, reason);
      let accessTokensDenylisted = 0;
      await completeRevocation({ refreshTokens, denylist }, { userId: user.id }, revocation, now, reason, (denylisted) => {
        accessTokensDenylisted = denylisted;
        audit('sessions_revoked', { sub: user.id, reason, access_tokens_denylisted: denylisted });
      });
      return { accessTokensDenylisted };
    },
  };
}

export type Sessions = ReturnType<typeof createSessions>;
