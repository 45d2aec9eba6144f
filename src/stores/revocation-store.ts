import type { RevocationReason, RevokedAccessToken } from '../domain/revocation.js';
import type { Database, DatabaseTransaction, SqlPool } from './database.js';

/** Named prepared statements (parsed and planned once per connection): these run per request. */
const RECORD_REVOCATIONS = `INSERT INTO revocations (jti, expires_at, reason, revoked_at)
  SELECT jti, expires_at, reason, $4::timestamptz FROM unnest($1::text[], $2::timestamptz[], $3::text[]) AS t(jti, expires_at, reason)
  ON CONFLICT (jti) DO NOTHING`;

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

export function createRevocationStore(db: Database, sql: SqlPool): RevocationStore {
  return {
    async record(tokens, now, tx) {
      if (tokens.length === 0) return;
      if (tx !== undefined) {
        await tx.revocation.createMany({
          data: tokens.map(({ jti, expiresAt, reason }) => ({ jti, expiresAt, reason, revokedAt: now })),
          skipDuplicates: true,
        });
        return;
      }
      await sql.query({
        name: 'authd_record_revocations',
        text: RECORD_REVOCATIONS,
        values: [tokens.map((t) => t.jti), tokens.map((t) => t.expiresAt), tokens.map((t) => t.reason), now],
      });
    },
    async isRevoked(jti) {
      return (await sql.query({ name: 'authd_is_revoked', text: 'SELECT 1 FROM revocations WHERE jti = $1', values: [jti] })).rowCount === 1;
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
