import type { RevocationReason } from '../domain/revocation.js';
import type { FamilyRevocation, RefreshTokenStore, RevokedSessions } from '../stores/refresh-token-store.js';
import type { Denylist } from './denylist.js';

export interface FamilyRevocationDeps {
  readonly refreshTokens: Pick<RefreshTokenStore, 'finishRevocation'>;
  readonly denylist: Pick<Denylist, 'publish'>;
}

/**
 * After a revocation of sessions has committed (nothing of them can be refreshed any more):
 * publishes its live tokens' denylisted access tokens, then revokes their spent tokens whose access
 * tokens are live, a batch at a time, publishing each. `report` is told how many were denylisted,
 * also when a batch fails: what was recorded by then reaches Redis at the next sync, and the next
 * revocation of the same sessions (another presentation of one of their tokens, say) goes on
 * with the rest.
 */
export async function completeRevocation(
  { refreshTokens, denylist }: FamilyRevocationDeps,
  of: RevokedSessions,
  revocation: FamilyRevocation,
  now: Date,
  reason: RevocationReason,
  report: (accessTokensDenylisted: number) => void,
): Promise<void> {
  let denylisted = 0;
  try {
    await denylist.publish(revocation.denied);
    denylisted = revocation.denied.length;
    await refreshTokens.finishRevocation(of, now, reason, async (denied) => {
      await denylist.publish(denied);
      denylisted += denied.length;
    });
  } finally {
    report(denylisted);
  }
}
