import type { RevocationReason } from '../domain/revocation.js';
import type { FamilyRevocation, RefreshTokenStore } from '../stores/refresh-token-store.js';
import type { Denylist } from './denylist.js';

export interface FamilyRevocationDeps {
  readonly refreshTokens: Pick<RefreshTokenStore, 'finishRevocation'>;
  readonly denylist: Pick<Denylist, 'publish'>;
}

/**
 * After a family's revocation has committed (nothing of it can be refreshed any more): publishes
 * its live tokens' denylisted access tokens, then revokes its spent tokens whose access tokens are
 * live, in batches, and publishes those. `report` is told how many were denylisted, also when a
 * batch fails: what was recorded by then reaches Redis at the next sync.
 */
export async function completeFamilyRevocation(
  { refreshTokens, denylist }: FamilyRevocationDeps,
  revocation: Pick<FamilyRevocation, 'denied' | 'spent'>,
  now: Date,
  reason: RevocationReason,
  report: (accessTokensDenylisted: number) => void,
): Promise<void> {
  let denylisted = 0;
  try {
    await denylist.publish(revocation.denied);
    denylisted = revocation.denied.length;
    const rest = await refreshTokens.finishRevocation(revocation.spent, now, reason);
    await denylist.publish(rest);
    denylisted += rest.length;
  } finally {
    report(denylisted);
  }
}
