import type { RevokedAccessToken } from '../domain/revocation.js';
import { deleteInBatches, type DatabaseTransaction, type SqlPool } from './database.js';

/**
 * Every revocation is recorded through this statement, one however many: a named prepared
 * statement on the pool (parsed and planned once per connection), sent unnamed inside a transaction.
 * It is stamped with Postgres's clock, which catch-up compares with its own: a writer's clock (the
 * CLI on an admin host a minute behind) or a long transaction's start would place it before a
 * catch-up's window, where no instance would ever look.
 */
const RECORD_REVOCATIONS = `INSERT INTO revocations (jti, expires_at, reason, revoked_at)
  SELECT jti, expires_at, reason, statement_timestamp()
  FROM unnest($1::text[], $2::timestamptz[], $3::text[]) AS t(jti, expires_at, reason)
  ON CONFLICT (jti) DO NOTHING
  RETURNING jti`;

/**
 * Recent revocations in pages, in the order of an index on (revoked_at, jti): the first page those
 * recorded within the last $1 milliseconds by Postgres's clock, each next page after the last row
 * of the one before.
 */
const RECORDED_COLUMNS = `jti, expires_at AS "expiresAt", reason, revoked_at AS "revokedAt"`;
const FIRST_RECORDED_WITHIN = `SELECT ${RECORDED_COLUMNS} FROM revocations
  WHERE revoked_at >= statement_timestamp() - $1::float8 * interval '1 millisecond' AND expires_at > $2 ORDER BY revoked_at, jti LIMIT $3`;
const NEXT_RECORDED_WITHIN = `SELECT ${RECORDED_COLUMNS} FROM revocations
  WHERE (revoked_at, jti) > ($1, $2) AND expires_at > $3 ORDER BY revoked_at, jti LIMIT $4`;

/** Every unexpired revocation in pages, in the order of the primary key (re-seeding Redis, loading the in-process copy). */
const unexpiredSql = (comparison: '>=' | '>') => `SELECT jti, expires_at AS "expiresAt", reason
  FROM revocations WHERE expires_at > $1 AND jti ${comparison} $2 ORDER BY jti LIMIT $3`;
const FIRST_UNEXPIRED = unexpiredSql('>=');
const NEXT_UNEXPIRED = unexpiredSql('>');

/**
 * Revocations whose tokens have expired, deleted in batches so that a backlog (a flood of
 * revocations, an instance that pruned nothing for days) never holds one statement past the
 * statement timeout, which would fail every prune from then on. SKIP LOCKED: instances pruning at
 * once take different rows, instead of one waiting for the other's batch and, finding nothing
 * left of it, stopping with the backlog still there. The batch's rows are deleted by their
 * addresses (ctid), which Postgres fetches directly: `jti IN (…)` was planned as a hash join
 * over the whole table, for every batch (1.2 million rows: 280 ms a batch, against 18 ms). Sent
 * unnamed: a generic plan, which a named statement may settle on, cannot see how few rows LIMIT asks for.
 */
const PRUNE_EXPIRED = `DELETE FROM revocations WHERE ctid = ANY(ARRAY(
  SELECT ctid FROM revocations WHERE expires_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED))`;

/** A revocation with the time it was recorded, which places it in a page of recent ones. */
export interface RecordedRevocation extends RevokedAccessToken {
  readonly revokedAt: Date;
}

/** The durable copy of the denylist: every revocation is written here before Redis. */
export interface RevocationStore {
  /**
   * Returns those it recorded: a jti recorded before (by another revocation of the same token, or
   * of its family) is left as it was, with its reason, and is not returned.
   */
  record(tokens: readonly RevokedAccessToken[], tx?: DatabaseTransaction): Promise<RevokedAccessToken[]>;
  isRevoked(jti: string): Promise<boolean>;
  /**
   * Unexpired revocations, a page of at most `limit` at a time in jti order, those after `after`
   * (re-seeding Redis, loading the in-process copy).
   */
  unexpired(now: Date, after: string | undefined, limit: number): Promise<RevokedAccessToken[]>;
  /**
   * Unexpired revocations recorded within the last `withinMs` by Postgres's clock, a page of at
   * most `limit` at a time: pass the last row of a page as `after` for the next one (to catch up
   * Redis with writes made elsewhere).
   */
  recordedWithin(withinMs: number, now: Date, after: RecordedRevocation | undefined, limit: number): Promise<RecordedRevocation[]>;
  /** Deletes rows whose tokens have expired, in batches, none after `stop` has aborted; returns how many. */
  pruneExpired(now: Date, stop?: AbortSignal): Promise<number>;
}

export function createRevocationStore(sql: SqlPool): RevocationStore {
  return {
    async record(tokens, tx) {
      if (tokens.length === 0) return [];
      const values = [tokens.map((t) => t.jti), tokens.map((t) => t.expiresAt), tokens.map((t) => t.reason)];
      // One statement however many (createMany sent 100,000 rows as four statements of 32,766 parameters).
      const rows =
        tx !== undefined
          ? await tx.$queryRawUnsafe<{ jti: string }[]>(RECORD_REVOCATIONS, ...values)
          : (await sql.query<{ jti: string }>({ name: 'authd_record_revocations', text: RECORD_REVOCATIONS, values })).rows;
      const recorded = new Set(rows.map(({ jti }) => jti));
      return tokens.filter(({ jti }) => recorded.has(jti));
    },
    async isRevoked(jti) {
      return (await sql.query({ name: 'authd_is_revoked', text: 'SELECT 1 FROM revocations WHERE jti = $1', values: [jti] })).rowCount === 1;
    },
    async unexpired(now, after, limit) {
      const { rows } = await sql.query<RevokedAccessToken>(
        after === undefined
          ? { name: 'authd_first_unexpired', text: FIRST_UNEXPIRED, values: [now, '', limit] }
          : { name: 'authd_next_unexpired', text: NEXT_UNEXPIRED, values: [now, after, limit] },
      );
      return rows;
    },
    async recordedWithin(withinMs, now, after, limit) {
      const { rows } = await sql.query<RecordedRevocation>(
        after === undefined
          ? { name: 'authd_first_recorded_within', text: FIRST_RECORDED_WITHIN, values: [withinMs, now, limit] }
          : { name: 'authd_next_recorded_within', text: NEXT_RECORDED_WITHIN, values: [after.revokedAt, after.jti, now, limit] },
      );
      return rows;
    },
    pruneExpired(now, stop) {
      return deleteInBatches(sql, PRUNE_EXPIRED, now, stop);
    },
  };
}
