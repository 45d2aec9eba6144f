import type { RevocationReason, RevokedAccessToken } from '../domain/revocation.js';
import type { Database, DatabaseTransaction } from './database.js';

/** The durable copy of the denylist: every revocation is written here before Redis. */
export interface RevocationStore {
  record(tokens: readonly RevokedAccessToken[], now: Date, tx?: DatabaseTransaction): Promise<void>;
  isRevoked(jti: string): Promise<boolean>;
  /** Unexpired revocations in pages (for re-seeding Redis). */
  unexpired(now: Date, after: string | undefined, limit: number): Promise<RevokedAccessToken[]>;
  /** Revocations recorded at or after `since` (to catch up Redis with writes made elsewhere). */
  recordedSince(since: Date, now: Date): Promise<RevokedAccessToken[]>;
  /** Deletes rows whose tokens have expired; returns how many. */
  pruneExpired(now: Date): Promise<number>;
}

export function createRevocationStore(db: Database): RevocationStore {
  return {
    async record(tokens, now, tx = db) {
      if (tokens.length === 0) return;
      await tx.revocation.createMany({
        data: tokens.map(({ jti, expiresAt, reason }) => ({ jti, expiresAt, reason, revokedAt: now })),
        skipDuplicates: true,
      });
    },
    async isRevoked(jti) {
      return (await db.revocation.findUnique({ where: { jti }, select: { jti: true } })) !== null;
    },
    async unexpired(now, after, limit) {
      const rows = await db.revocation.findMany({
        where: { expiresAt: { gt: now }, ...(after === undefined ? {} : { jti: { gt: after } }) },
        orderBy: { jti: 'asc' },
        take: limit,
      });
      return rows.map(toRevokedAccessToken);
    },
    async recordedSince(since, now) {
      const rows = await db.revocation.findMany({ where: { revokedAt: { gte: since }, expiresAt: { gt: now } } });
      return rows.map(toRevokedAccessToken);
    },
    async pruneExpired(now) {
      return (await db.revocation.deleteMany({ where: { expiresAt: { lte: now } } })).count;
    },
  };
}

const toRevokedAccessToken = ({ jti, expiresAt, reason }: { jti: string; expiresAt: Date; reason: string }): RevokedAccessToken => ({
  jti,
  expiresAt,
  reason: reason as RevocationReason,
});
