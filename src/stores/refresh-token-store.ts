import type { FoundRefreshToken, NewRefreshToken, RefreshTokenRecord } from '../domain/refresh-token.js';
import { denylistedIfExpiringAfter, type RevocationReason, type RevokedAccessToken } from '../domain/revocation.js';
import type { RefreshToken as RefreshTokenRow } from '../generated/prisma/client.js';
import { deleteInBatches, PRUNE_BATCH, type Database, type DatabaseTransaction, type SqlPool } from './database.js';
import { isTransactionConflict } from './prisma-errors.js';
import type { RevocationStore } from './revocation-store.js';

/** What a successful rotation hands back: what the access token issued with the successor needs. */
export interface RotatedRefreshToken {
  readonly successor: Pick<RefreshTokenRecord, 'userId' | 'scope' | 'audience'>;
  readonly userRoles: readonly string[];
}

/**
 * What the one-statement rotation did: rotated the token; found it but not live for this request;
 * or found no token with that hash, which no later statement can find either (a token is stored
 * before anyone is given it).
 */
export type LiveRotation = ({ readonly kind: 'rotated' } & RotatedRefreshToken) | { readonly kind: 'not-live' } | { readonly kind: 'unknown' };

export interface RotateLiveInput {
  readonly tokenHash: string;
  readonly clientId: string;
  readonly now: Date;
  /** Access-token scopes asked for; the token's scope must contain them all. */
  readonly requestedScope: readonly string[];
  /** The audience asked for, if any; it must be the token's. */
  readonly requestedAudience: string | undefined;
  readonly successorId: string;
  readonly successorHash: string;
  /** now + idle TTL; the store caps it at the family's end. */
  readonly successorIdleExpiry: Date;
  readonly accessTokenJti: string;
  readonly accessTokenExpiresAt: Date;
}

/** What a revocation wrote in its transaction; `finishRevocation` then revokes the spent tokens. */
export interface FamilyRevocation {
  /** Live tokens it marked revoked: none when the family had been revoked already. */
  readonly revokedTokens: number;
  /**
   * The access tokens of those tokens it denylisted (recorded in Postgres; Redis is the caller's):
   * those unexpired, or expired less than EXPIRY_SKEW_MARGIN_MS ago by the clock that revoked them,
   * and not recorded before (a `/revoke` of the access token, with its own reason).
   */
  readonly denied: RevokedAccessToken[];
}

/** Whose revoked sessions `finishRevocation` finishes: one family's, or every one of a user's. */
export type RevokedSessions = { readonly familyId: string } | { readonly userId: string };

/** Operations on a family while one of its tokens is row-locked, inside one transaction. */
export interface LockedFamily {
  readonly token: RefreshTokenRecord;
  /** Locks and reads another token of the family (the successor). */
  lockToken(id: string): Promise<RefreshTokenRecord | undefined>;
  isUserEnabled(userId: string): Promise<{ enabled: boolean; roles: readonly string[] }>;
  /** Whether the family still has a live token (unspent, unrevoked). */
  hasLiveToken(): Promise<boolean>;
  /** Revokes one live token and denylists (durably) its unexpired access token. */
  revokeToken(token: RefreshTokenRecord, reason: RevocationReason): Promise<RevokedAccessToken[]>;
  /**
   * Revokes every live token of the family and denylists their unexpired access tokens; the spent
   * tokens whose access token is live are left to `finishRevocation`, after the transaction.
   */
  revokeFamily(reason: RevocationReason): Promise<FamilyRevocation>;
  /** Stores a new successor of the locked token, marks the token spent if it was not, and links the two. */
  replaceSuccessor(successor: NewRefreshToken): Promise<RefreshTokenRecord>;
}

export interface FamilySummary {
  readonly familyId: string;
  readonly clientId: string;
  readonly createdAt: Date;
  readonly lastUsedAt: Date;
  readonly expiresAt: Date;
  /** Whether the family still has a live token. */
  readonly active: boolean;
}

export interface RefreshTokenStore {
  /**
   * Stores the first token of a new family (a login) whose password was checked against
   * `passwordHash`; false when the user is disabled, gone, or has another password by then.
   */
  insert(token: NewRefreshToken, login: { readonly passwordHash: string }): Promise<boolean>;
  /**
   * Spends a live token of this client and stores its successor in one statement: under
   * concurrent use exactly one caller gets `rotated`. `not-live` when the token exists but was not
   * live for this request (other client, spent, revoked, expired, user disabled, scope not
   * contained); `unknown` when no token has that hash.
   */
  rotateLive(input: RotateLiveInput): Promise<LiveRotation>;
  /**
   * Runs `work` in a transaction with the token's row locked; `undefined` when no such token. A
   * transaction Postgres aborts for a deadlock is run again, `work` with it: it must do nothing
   * but work on the family.
   */
  withLockedToken<T>(tokenHash: string, now: Date, work: (family: LockedFamily | undefined) => Promise<T>): Promise<T>;
  findByHash(tokenHash: string): Promise<FoundRefreshToken | undefined>;
  /**
   * Revokes, a batch of PRUNE_BATCH per transaction, the spent tokens whose access token is live
   * of the family or the user's families that have no live token left (a revoked one: a new
   * session of the user is left alone), and hands each batch's access tokens, denylisted
   * (recorded in Postgres), to `publish`. Returns how many it denylisted. Run after the
   * revocation's transaction; run again, it goes on where a failed one stopped.
   */
  finishRevocation(of: RevokedSessions, now: Date, reason: RevocationReason, publish: (denied: RevokedAccessToken[]) => Promise<void>): Promise<number>;
  /** Revokes the live tokens of every family of a user, as `revokeFamily` does, in a transaction. */
  revokeUserFamilies(userId: string, now: Date, reason: RevocationReason): Promise<FamilyRevocation>;
  listUserFamilies(userId: string, now: Date): Promise<FamilySummary[]>;
  /**
   * Deletes the rows of families none of whose refresh or access tokens is still within its
   * lifetime, or ended less than EXPIRY_SKEW_MARGIN_MS before `now` (so that a revocation from a
   * host whose clock runs behind still finds the family, as revocations keep that margin), in
   * batches, none after `stop` has aborted; returns how many.
   */
  pruneDeadFamilies(now: Date, stop?: AbortSignal): Promise<number>;
}

/** Every column, named as the Prisma model names them, for plain SQL reads. */
const RECORD_COLUMNS = `id, token_hash AS "tokenHash", family_id AS "familyId", user_id AS "userId", client_id AS "clientId",
  scope, audience, created_at AS "createdAt", expires_at AS "expiresAt", family_expires_at AS "familyExpiresAt",
  used_at AS "usedAt", revoked_at AS "revokedAt", replaced_by_id AS "replacedById",
  access_token_jti AS "accessTokenJti", access_token_expires_at AS "accessTokenExpiresAt"`;

/** What an insert sets; the rest (used, revoked, replaced by) starts empty. */
const INSERTED_COLUMNS = `id, token_hash, family_id, user_id, client_id, scope, audience, created_at,
  expires_at, family_expires_at, access_token_jti, access_token_expires_at`;

/**
 * The first token of a session: every password login inserts one, unless its user has been
 * disabled meanwhile, or given another password ($13: the hash the login's password was checked
 * against, or the one its rehash wrote). FOR SHARE makes the check wait for a disable or a password
 * change running at the same moment and read what it committed, and makes one that comes after
 * wait for the insert: so either the login inserts nothing, or its family exists before the
 * revocation that follows a disable (or an operator's `sessions revoke` after a password change)
 * looks for families.
 */
const INSERT_REFRESH_TOKEN = `INSERT INTO refresh_tokens (${INSERTED_COLUMNS})
  SELECT $1::uuid, $2::text, $3::uuid, u.id, $5::text, $6::text[], $7::text, $8::timestamptz, $9::timestamptz,
         $10::timestamptz, $11::text, $12::timestamptz
  FROM users u WHERE u.id = $4::uuid AND NOT u.disabled AND u.password_hash = $13::text
  FOR SHARE`;

/** The token with whether its user is disabled (a disable commits before its sessions are revoked). */
const FIND_BY_HASH = `SELECT ${RECORD_COLUMNS},
  (SELECT u.disabled FROM users u WHERE u.id = refresh_tokens.user_id) AS "userDisabled"
  FROM refresh_tokens WHERE token_hash = $1`;

/**
 * Spends a live token and inserts its successor in one statement (so one round trip and one
 * implicit transaction): of concurrent callers, only the first UPDATE matches `used_at IS NULL`.
 * Run as a named prepared statement: parsing and planning this statement on every refresh cost
 * Postgres more CPU than executing it (refresh throughput ~1,500 -> ~2,100 req/s in the bench).
 * It returns only what the new access token needs: reading back the successor's fifteen columns,
 * four of them parsed into Dates, cost authd about 5% of a refresh's CPU (0.90–1.00× after).
 */
const ROTATE_LIVE = `
  WITH spent AS (
    UPDATE refresh_tokens SET used_at = $1, replaced_by_id = $2
    WHERE token_hash = $3 AND client_id = $4
      AND used_at IS NULL AND revoked_at IS NULL
      AND expires_at > $1 AND family_expires_at > $1
      AND scope @> $5::text[]
      AND ($10::text IS NULL OR audience = $10)
      AND EXISTS (SELECT 1 FROM users u WHERE u.id = refresh_tokens.user_id AND NOT u.disabled)
    RETURNING family_id, user_id, client_id, scope, audience, family_expires_at
  ), successor AS (
    INSERT INTO refresh_tokens (${INSERTED_COLUMNS})
    SELECT $2, $6, family_id, user_id, client_id, scope, audience, $1,
           LEAST($7::timestamptz, family_expires_at), family_expires_at, $8, $9
    FROM spent
    RETURNING user_id, scope, audience
  )
  SELECT true AS rotated, s.user_id AS "userId", s.scope, s.audience, COALESCE(u.roles, '{}') AS "userRoles"
  FROM successor s JOIN users u ON u.id = s.user_id
  UNION ALL
  SELECT false, NULL, NULL, NULL, NULL WHERE NOT EXISTS (SELECT 1 FROM spent) AND EXISTS (SELECT 1 FROM refresh_tokens WHERE token_hash = $3)`;

/**
 * Every rotation adds a row, so rows of families that can no longer be used are deleted. A family
 * is dead once every one of its refresh tokens and every access token issued with them has
 * expired: nothing of it can be refreshed, and nothing of it is left to denylist when the user is
 * disabled or the family revoked (an access token can outlive its refresh token by up to its TTL).
 * This selects a live row of the family `family`, as of $1.
 */
const liveRowOf = (family: string) => `SELECT 1 FROM refresh_tokens other
      WHERE other.family_id = ${family} AND (other.expires_at > $1 OR other.access_token_expires_at > $1)`;

/**
 * Up to $2 rows of dead families, counted by family (a family's count may miss rows past the
 * limit). Finding them hashes the family of every live row, a scan of the whole table: so a pass
 * finds many at once, and their rows are deleted afterwards through the family index
 * (DELETE_DEAD_FAMILIES). When each batch of 10,000 rows was found by that hash, a backlog of
 * 250,000 dead rows in a table of 1,250,000 took 12.5 s to delete; in passes, 3.1 s.
 */
const FIND_DEAD_FAMILIES = `SELECT family_id AS "familyId", count(*)::int AS "rows" FROM (
  SELECT t.family_id FROM refresh_tokens t
  WHERE t.expires_at <= $1 AND t.access_token_expires_at <= $1 AND NOT EXISTS (${liveRowOf('t.family_id')})
  LIMIT $2) AS dead
  GROUP BY family_id`;

/** Dead rows one pass finds at most (see FIND_DEAD_FAMILIES): at most that many family ids in memory. */
const DEAD_ROWS_PER_PASS = 100_000;

/**
 * Deletes up to $2 rows of the families $3, each checked dead again: a family stays dead, as no
 * token is stored already expired and none expired is exchanged, as long as the hosts' clocks
 * agree within EXPIRY_SKEW_MARGIN_MS. Each family is checked once and its rows fetched through the
 * family index, and OFFSET 0 keeps Postgres from turning the check into one join over the whole
 * table (a hash of every live row, which it chose for a batch of 10,000 one-row families). SKIP
 * LOCKED: instances pruning at once take different rows, and a revocation holding a row does not
 * hold the prune. The rows are deleted by their addresses (ctid), as the revocations' prune does.
 */
const DELETE_DEAD_FAMILIES = `DELETE FROM refresh_tokens WHERE ctid = ANY(ARRAY(
  SELECT family.ctid FROM unnest($3::uuid[]) AS dead(family_id)
  CROSS JOIN LATERAL (
    SELECT t.ctid FROM refresh_tokens t
    WHERE t.family_id = dead.family_id AND NOT EXISTS (${liveRowOf('dead.family_id')} OFFSET 0)
    FOR UPDATE OF t SKIP LOCKED) AS family
  LIMIT $2))`;

/** Families whose rows add up to at most `rows` each (a larger family alone), in the order given. */
export function familiesInBatches(families: readonly { familyId: string; rows: number }[], rows: number): string[][] {
  const batches: string[][] = [];
  let batch: string[] = [];
  let batchRows = 0;
  for (const family of families) {
    if (batch.length > 0 && batchRows + family.rows > rows) {
      batches.push(batch);
      batch = [];
      batchRows = 0;
    }
    batch.push(family.familyId);
    batchRows += family.rows;
  }
  if (batch.length > 0) batches.push(batch);
  return batches;
}

/** What a revocation selects the tokens by, and the column that holds it. */
type RevokedBy = 'id' | 'familyId' | 'userId';
/**
 * A revocation's statements, for the tokens whose `column` is $1.
 *
 * `revokeLive` revokes, at the time $2, the live tokens (unspent, unrevoked), one statement however
 * many, and returns their access tokens. Once it commits, nothing of the family can be refreshed.
 *
 * `spentToRevoke` finds, as of $2, the spent tokens whose access token has not expired, or expired
 * less than EXPIRY_SKEW_MARGIN_MS before, of families with no live token (a user's new session is
 * left alone), freshest access token first. `finishRevocation` reads them once the revocation has
 * committed, and revokes them in batches (REVOKE_SPENT), each in a transaction of its own, so that
 * ending the family does not wait for them. A thief rotating a stolen token back to back grows its
 * family by a row a rotation, each with a live access token: revoked in one statement with the
 * live one, hundreds of thousands of them took longer than the statement and transaction
 * timeouts, the revocation was undone, and the family lived on. Read from the table, a finish cut
 * short (a failure, a shutdown) is taken up by the next one. A spent token whose access token
 * expired before that is left as it is: no rotation takes a spent token, and its access token needs
 * no denylisting. Presented again, it is reuse, or, once its family is revoked, refused as a
 * revoked token is.
 *
 * (The families with a live token are found once, by an uncorrelated subquery that Postgres
 * hashes: a NOT EXISTS correlated by family walks the whole family again for each of its rows.)
 *
 * `liveTokenLeft` says whether a live token is left among them: read by a new statement, so from
 * a new snapshot.
 */
const revocationSql = (column: string) => ({
  revokeLive: `UPDATE refresh_tokens SET revoked_at = $2
  WHERE ${column} = $1::uuid AND revoked_at IS NULL AND used_at IS NULL
  RETURNING access_token_jti AS jti, access_token_expires_at AS "expiresAt"`,
  spentToRevoke: `SELECT id FROM refresh_tokens t
  WHERE t.${column} = $1::uuid AND t.revoked_at IS NULL AND t.used_at IS NOT NULL AND t.access_token_expires_at > $2
    AND t.family_id NOT IN (SELECT live.family_id FROM refresh_tokens live WHERE live.${column} = $1::uuid AND live.used_at IS NULL AND live.revoked_at IS NULL)
  ORDER BY t.access_token_expires_at DESC`,
  liveTokenLeft: `SELECT EXISTS (
  SELECT 1 FROM refresh_tokens WHERE ${column} = $1::uuid AND used_at IS NULL AND revoked_at IS NULL) AS "left"`,
});
const REVOCATION_SQL: Record<RevokedBy, ReturnType<typeof revocationSql>> = {
  id: revocationSql('id'),
  familyId: revocationSql('family_id'),
  userId: revocationSql('user_id'),
};

/** Revokes, at the time $2, those of the spent tokens $1 not revoked since they were found, and returns their access tokens. */
const REVOKE_SPENT = `UPDATE refresh_tokens SET revoked_at = $2
  WHERE id = ANY($1::uuid[]) AND revoked_at IS NULL
  RETURNING access_token_jti AS jti, access_token_expires_at AS "expiresAt"`;

/**
 * How long one of these transactions may run. A revocation's marks the live tokens of a family or
 * of a user's families (few, however large a family has grown); each batch of `finishRevocation`
 * PRUNE_BATCH spent ones. Each statement is also bounded by the pool's query timeout (30 s).
 */
const TRANSACTION_TIMEOUT_MS = 60_000;

/** A transaction Postgres aborted for a deadlock or a serialization failure is run this many times at most. */
const CONFLICT_ATTEMPTS = 3;

export function createRefreshTokenStore(db: Database, sql: SqlPool, revocations: RevocationStore): RefreshTokenStore {
  /**
   * `work` in a transaction, run again when Postgres aborts it for a deadlock or a serialization
   * failure, which would otherwise answer 500, or leave a disabled user's tokens off the denylist.
   * A refresh in its grace window locks the spent token and then its successor; a revocation's
   * transaction locks live tokens only, and `finishRevocation`'s batches lock spent ones, each in a
   * transaction of its own, so the two no longer wait on each other in a circle (they did while a
   * revocation locked the spent tokens too). Two revocations of overlapping tokens (a user's and
   * one of their families') may still lock shared rows in different orders.
   */
  const inTransaction = async <T>(work: (tx: DatabaseTransaction) => Promise<T>): Promise<T> => {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await db.$transaction(work, { timeout: TRANSACTION_TIMEOUT_MS });
      } catch (error) {
        if (attempt >= CONFLICT_ATTEMPTS || !isTransactionConflict(error)) throw error;
      }
    }
  };

  /**
   * Marks the live tokens of a token, a family or a user revoked and records their unexpired access
   * tokens, a statement for each however many there are. The spent tokens whose access token is
   * live are left to `finishRevocation`, once this transaction has committed.
   *
   * Repeated until a pass finds nothing and no live token is left: a rotation running at the same
   * moment (or a grace exchange) holds the row lock of the token it spends, so the update waits for
   * it, but the successor it inserts is not in this pass's snapshot (READ COMMITTED). Postgres then
   * checks the waited-for row again as the rotation left it: spent, it no longer matches, so the
   * pass may find nothing at all. The successor, committed by then, is what the next statement
   * sees. A rotation that starts after a pass has locked its token finds it revoked and does nothing.
   *
   * The access tokens are recorded once the passes are done, in one statement: Postgres stamps a
   * revocation when its statement starts, and catch-up looks only CATCH_UP_MARGIN_MS (30 s) behind
   * its last sync for one that committed late, while passes that waited for row locks could have
   * put a first pass's stamp further back than that.
   */
  /** Whether a live token is left among the tokens whose `by` is `value`, read by a statement of its own (a new snapshot). */
  const liveTokenLeft = async (tx: DatabaseTransaction, by: RevokedBy, value: string): Promise<boolean> => {
    const [{ left }] = await tx.$queryRawUnsafe<[{ left: boolean }]>(REVOCATION_SQL[by].liveTokenLeft, value);
    return left;
  };

  const revokeWhere = async (tx: DatabaseTransaction, by: RevokedBy, value: string, now: Date, reason: RevocationReason): Promise<FamilyRevocation> => {
    const denied: RevokedAccessToken[] = [];
    const expiringAfter = denylistedIfExpiringAfter(now);
    let revokedTokens = 0;
    for (;;) {
      const rows = await tx.$queryRawUnsafe<{ jti: string; expiresAt: Date }[]>(REVOCATION_SQL[by].revokeLive, value, now);
      if (rows.length === 0) {
        if (await liveTokenLeft(tx, by, value)) continue;
        return { revokedTokens, denied: await revocations.record(denied, tx) };
      }
      revokedTokens += rows.length;
      for (const row of rows) if (row.expiresAt > expiringAfter) denied.push({ jti: row.jti, expiresAt: row.expiresAt, reason });
    }
  };

  /** Revokes the spent tokens `ids` in a transaction of its own, their access tokens recorded with them. */
  const revokeSpentBatch = (ids: readonly string[], now: Date, reason: RevocationReason): Promise<RevokedAccessToken[]> =>
    inTransaction(async (tx) => {
      const rows = await tx.$queryRawUnsafe<{ jti: string; expiresAt: Date }[]>(REVOKE_SPENT, ids, now);
      return revocations.record(
        rows.map((row) => ({ jti: row.jti, expiresAt: row.expiresAt, reason })),
        tx,
      );
    });

  return {
    async insert(token, { passwordHash }) {
      const { rowCount } = await sql.query({
        name: 'authd_insert_refresh_token',
        text: INSERT_REFRESH_TOKEN,
        values: [
          token.id,
          token.tokenHash,
          token.familyId,
          token.userId,
          token.clientId,
          [...token.scope],
          token.audience,
          token.createdAt,
          token.expiresAt,
          token.familyExpiresAt,
          token.accessTokenJti,
          token.accessTokenExpiresAt,
          passwordHash,
        ],
      });
      return rowCount === 1;
    },

    async rotateLive(input) {
      type Row = ({ rotated: true } & RotatedRefreshToken['successor'] & { userRoles: string[] }) | { rotated: false };
      const { rows } = await sql.query<Row>({ name: 'authd_rotate_live', text: ROTATE_LIVE, values: [
        input.now,
        input.successorId,
        input.tokenHash,
        input.clientId,
        [...input.requestedScope],
        input.successorHash,
        input.successorIdleExpiry,
        input.accessTokenJti,
        input.accessTokenExpiresAt,
        input.requestedAudience ?? null,
      ] });
      const row = rows[0];
      if (row === undefined) return { kind: 'unknown' };
      if (!row.rotated) return { kind: 'not-live' };
      return { kind: 'rotated', successor: { userId: row.userId, scope: row.scope, audience: row.audience }, userRoles: row.userRoles };
    },

    withLockedToken(tokenHash, now, work) {
      return inTransaction(async (tx) => {
        const lock = async (column: 'token_hash' | 'id', value: string) => {
          const rows = await tx.$queryRawUnsafe<RefreshTokenRow[]>(
            `SELECT ${RECORD_COLUMNS} FROM refresh_tokens WHERE ${column} = $1${column === 'id' ? '::uuid' : ''} FOR UPDATE`,
            value,
          );
          return rows[0] === undefined ? undefined : toRefreshTokenRecord(rows[0]);
        };
        const token = await lock('token_hash', tokenHash);
        if (token === undefined) return work(undefined);
        return work({
          token,
          lockToken: (id) => lock('id', id),
          async isUserEnabled(userId) {
            const user = await tx.user.findUnique({ where: { id: userId }, select: { disabled: true, roles: true } });
            return { enabled: user !== null && !user.disabled, roles: user?.roles ?? [] };
          },
          hasLiveToken: () => liveTokenLeft(tx, 'familyId', token.familyId),
          revokeToken: async (target, reason) => (await revokeWhere(tx, 'id', target.id, now, reason)).denied,
          revokeFamily: (reason) => revokeWhere(tx, 'familyId', token.familyId, now, reason),
          async replaceSuccessor(successor) {
            const created = await tx.refreshToken.create({ data: { ...successor, scope: [...successor.scope] } });
            await tx.refreshToken.update({
              where: { id: token.id },
              data: { replacedById: created.id, usedAt: token.usedAt ?? successor.createdAt },
            });
            return toRefreshTokenRecord(created);
          },
        });
      });
    },

    async findByHash(tokenHash) {
      const { rows } = await sql.query<RefreshTokenRow & { userDisabled: boolean | null }>({ name: 'authd_refresh_by_hash', text: FIND_BY_HASH, values: [tokenHash] });
      const row = rows[0];
      // No user row (none can be missing while the foreign key holds) counts as disabled.
      return row === undefined ? undefined : { ...toRefreshTokenRecord(row), userDisabled: row.userDisabled !== false };
    },

    async finishRevocation(of, now, reason, publish) {
      const [by, value] = 'familyId' in of ? (['familyId', of.familyId] as const) : (['userId', of.userId] as const);
      // Read once, then revoked by id: a batch that found its rows again from the family each time
      // walked the rows revoked before it, and one running beside another finish could stop early.
      const { rows } = await sql.query<{ id: string }>(REVOCATION_SQL[by].spentToRevoke, [value, denylistedIfExpiringAfter(now)]);
      let denylisted = 0;
      for (let at = 0; at < rows.length; at += PRUNE_BATCH) {
        const denied = await revokeSpentBatch(
          rows.slice(at, at + PRUNE_BATCH).map(({ id }) => id),
          now,
          reason,
        );
        denylisted += denied.length;
        await publish(denied);
      }
      return denylisted;
    },

    revokeUserFamilies(userId, now, reason) {
      return inTransaction((tx) => revokeWhere(tx, 'userId', userId, now, reason));
    },

    async pruneDeadFamilies(now, stop) {
      const expiredBy = denylistedIfExpiringAfter(now);
      let deleted = 0;
      for (;;) {
        if (stop?.aborted) return deleted;
        const { rows: families } = await sql.query<{ familyId: string; rows: number }>(FIND_DEAD_FAMILIES, [expiredBy, DEAD_ROWS_PER_PASS]);
        const before = deleted;
        for (const batch of familiesInBatches(families, PRUNE_BATCH)) deleted += await deleteInBatches(sql, DELETE_DEAD_FAMILIES, expiredBy, stop, [batch]);
        const found = families.reduce((sum, family) => sum + family.rows, 0);
        // Rows skipped as locked (a revocation holding them) would be found again by the next pass.
        if (found < DEAD_ROWS_PER_PASS || deleted === before) return deleted;
      }
    },

    listUserFamilies(userId, now) {
      return db.$queryRaw<FamilySummary[]>`
        SELECT family_id AS "familyId", MIN(client_id) AS "clientId", MIN(created_at) AS "createdAt",
               MAX(created_at) AS "lastUsedAt", MAX(expires_at) AS "expiresAt",
               BOOL_OR(used_at IS NULL AND revoked_at IS NULL AND expires_at > ${now}) AS "active"
        FROM refresh_tokens WHERE user_id = ${userId}::uuid
        GROUP BY family_id ORDER BY MIN(created_at)`;
    },
  };
}

export const toRefreshTokenRecord = (row: RefreshTokenRow): RefreshTokenRecord => ({
  id: row.id,
  tokenHash: row.tokenHash,
  familyId: row.familyId,
  userId: row.userId,
  clientId: row.clientId,
  scope: row.scope,
  audience: row.audience,
  createdAt: row.createdAt,
  expiresAt: row.expiresAt,
  familyExpiresAt: row.familyExpiresAt,
  usedAt: row.usedAt,
  revokedAt: row.revokedAt,
  replacedById: row.replacedById,
  accessTokenJti: row.accessTokenJti,
  accessTokenExpiresAt: row.accessTokenExpiresAt,
});
