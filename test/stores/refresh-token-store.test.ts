import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { connectDatabase, type DatabaseConnections } from '../../src/stores/database.js';
import { createRefreshTokenStore, familiesInBatches, type FamilyRevocation, type RefreshTokenStore, type RevokedSessions } from '../../src/stores/refresh-token-store.js';
import { createRevocationStore } from '../../src/stores/revocation-store.js';
import type { RevocationReason, RevokedAccessToken } from '../../src/domain/revocation.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { explainingDeletes, planNodes, rowsToDelete } from '../support/plans.js';

let testDb: TestDatabase;
let connections: DatabaseConnections;
let store: RefreshTokenStore;
let userId: string;

beforeAll(async () => {
  testDb = await createTestDatabase();
  connections = connectDatabase(testDb.url, { poolSize: 3 });
  store = createRefreshTokenStore(connections.db, connections.sql, createRevocationStore(connections.sql));
  userId = randomUUID();
  await testDb.query(`INSERT INTO users (id, username, username_normalized, password_hash, updated_at) VALUES ($1, 'alice', 'alice', 'x', now())`, [userId]);
  await testDb.query(`INSERT INTO clients (client_id, name, grant_types, updated_at) VALUES ('web', 'web', '{refresh_token}', now())`);
});
afterAll(async () => {
  await connections.close();
  await testDb.drop();
});

const HOUR_MS = 3_600_000;
/** Past EXPIRY_SKEW_MARGIN_MS: an access token this long expired is not denylisted. */
const LONG_EXPIRED_MS = -10 * 60_000;

/** Inserts one token of a family as a rotation would; returns its id, hash and jti. */
const insertToken = async (
  db: { query: (text: string, values: unknown[]) => Promise<unknown> },
  familyId: string,
  used: boolean,
  expiresInMs = HOUR_MS,
  accessExpiresInMs = expiresInMs,
) => {
  const token = { id: randomUUID(), hash: `hash-${randomUUID()}`, jti: `jti-${randomUUID()}` };
  const later = new Date(Date.now() + expiresInMs);
  await db.query(
    `INSERT INTO refresh_tokens (id, token_hash, family_id, user_id, client_id, audience, created_at, expires_at,
       family_expires_at, used_at, access_token_jti, access_token_expires_at)
     VALUES ($1, $2, $3, $4, 'web', 'https://api.example.test', now(), $5, $5, $6, $7, $8)`,
    [token.id, token.hash, familyId, userId, later, used ? new Date() : null, token.jti, new Date(Date.now() + accessExpiresInMs)],
  );
  return token;
};

/** Every access token a finish of `of`'s revocation denylists, in the order of its batches. */
const finish = async (of: RevokedSessions, now = new Date(), reason: RevocationReason = 'refresh_reuse'): Promise<RevokedAccessToken[]> => {
  const denied: RevokedAccessToken[] = [];
  await store.finishRevocation(of, now, reason, async (batch) => {
    for (const token of batch) denied.push(token);
  });
  return denied;
};

/** A family's whole revocation, as the flows make it: its transaction, then the finish of its spent tokens. */
const revokeFamilyOf = async (tokenHash: string, reason: RevocationReason): Promise<{ revokedTokens: number; denied: RevokedAccessToken[] }> => {
  const now = new Date();
  let familyId = '';
  const { revokedTokens, denied } = await store.withLockedToken(tokenHash, now, (family) => {
    familyId = family!.token.familyId;
    return family!.revokeFamily(reason);
  });
  return { revokedTokens, denied: denied.concat(await finish({ familyId }, now, reason)) };
};

describe('rotating in one statement', () => {
  const rotate = (tokenHash: string, clientId = 'web') =>
    store.rotateLive({
      tokenHash,
      clientId,
      now: new Date(),
      requestedScope: [],
      requestedAudience: undefined,
      successorId: randomUUID(),
      successorHash: `hash-${randomUUID()}`,
      successorIdleExpiry: new Date(Date.now() + HOUR_MS),
      accessTokenJti: `jti-${randomUUID()}`,
      accessTokenExpiresAt: new Date(Date.now() + 60_000),
    });

  it('rotates a live token, tells a token it cannot rotate from one that does not exist', async () => {
    const live = await insertToken(testDb, randomUUID(), false);
    expect(await rotate(live.hash)).toEqual({ kind: 'rotated', successor: { userId, scope: [], audience: 'https://api.example.test' }, userRoles: [] });
    expect(await rotate(live.hash)).toEqual({ kind: 'not-live' });
    const other = await insertToken(testDb, randomUUID(), false);
    expect(await rotate(other.hash, 'another-client')).toEqual({ kind: 'not-live' });
    expect(await rotate(`hash-${randomUUID()}`)).toEqual({ kind: 'unknown' });
  });

  it('reads a user\'s NULL roles (a row written outside authd) as no roles', async () => {
    const live = await insertToken(testDb, randomUUID(), false);
    await testDb.query('UPDATE users SET roles = NULL WHERE id = $1', [userId]);
    try {
      expect(await rotate(live.hash)).toMatchObject({ kind: 'rotated', userRoles: [] });
    } finally {
      await testDb.query(`UPDATE users SET roles = '{}' WHERE id = $1`, [userId]);
    }
  });
});

describe('revoking a family', () => {
  /**
   * Runs `revoke` while another connection's transaction, after `halfway`, holds its row locks, and
   * commits that transaction once the revocation waits for it; what `halfway` made, and the revocation.
   */
  const revokedDuring = async <T>(halfway: (other: pg.Client) => Promise<T>, revoke: () => Promise<Pick<FamilyRevocation, 'revokedTokens' | 'denied'>>) => {
    const other = new pg.Client({ connectionString: testDb.url });
    await other.connect();
    try {
      await other.query('BEGIN');
      const made = await halfway(other);
      const revoking = revoke();
      await testDb.blockedOnALock('the revocation');
      await other.query('COMMIT');
      return { made, revocation: await revoking };
    } finally {
      await other.end();
    }
  };

  it.each([
    ['live', HOUR_MS],
    // Clients refresh once their access token has expired: Postgres checks the waited-for row again, spent, and it no longer matches.
    ['expired', LONG_EXPIRED_MS],
  ])('also revokes the successor of a rotation that commits while the revocation waits for its row (access tokens %s)', async (_, accessExpiresInMs) => {
    const familyId = randomUUID();
    const reused = await insertToken(testDb, familyId, true, HOUR_MS, accessExpiresInMs);
    const live = await insertToken(testDb, familyId, false, HOUR_MS, accessExpiresInMs);

    // A rotation of the live token, halfway: its row is spent and locked, its successor not yet committed.
    const { made: successor, revocation } = await revokedDuring(
      async (rotation) => {
        await rotation.query('UPDATE refresh_tokens SET used_at = now() WHERE id = $1', [live.id]);
        return insertToken(rotation, familyId, false);
      },
      () => revokeFamilyOf(reused.hash, 'refresh_reuse'),
    );
    const withLiveAccessTokens = accessExpiresInMs > 0 ? [reused, live, successor] : [successor];
    // What reuse detection reads: a live token revoked, so the family was live and the reuse is reported.
    expect(revocation.revokedTokens).toBe(1);
    expect(revocation.denied.map(({ jti }) => jti).sort()).toEqual(withLiveAccessTokens.map(({ jti }) => jti).sort());
    const rows = await testDb.query<{ id: string; revoked: boolean }>('SELECT id, revoked_at IS NOT NULL AS revoked FROM refresh_tokens WHERE family_id = $1', [familyId]);
    expect(rows).toHaveLength(3);
    expect(rows.find(({ id }) => id === successor.id)).toEqual({ id: successor.id, revoked: true });
    const recorded = await testDb.query<{ jti: string; reason: string }>('SELECT jti, reason FROM revocations WHERE jti = $1', [successor.jti]);
    expect(recorded).toEqual([{ jti: successor.jti, reason: 'refresh_reuse' }]);
  });

  it("also revokes the new successor of a grace exchange that commits while the revocation waits for the old one's row", async () => {
    const familyId = randomUUID();
    const older = await insertToken(testDb, familyId, true, HOUR_MS, LONG_EXPIRED_MS);
    const spent = await insertToken(testDb, familyId, true, HOUR_MS, LONG_EXPIRED_MS);
    const successor = await insertToken(testDb, familyId, false);

    // A grace exchange of the spent token, halfway: its successor revoked and locked, a new successor not yet committed.
    const { made: fresh, revocation } = await revokedDuring(
      async (exchange) => {
        await exchange.query('SELECT id FROM refresh_tokens WHERE id = ANY($1::uuid[]) FOR UPDATE', [[spent.id, successor.id]]);
        await exchange.query('UPDATE refresh_tokens SET revoked_at = now() WHERE id = $1', [successor.id]);
        const made = await insertToken(exchange, familyId, false);
        await exchange.query('UPDATE refresh_tokens SET replaced_by_id = $1 WHERE id = $2', [made.id, spent.id]);
        return made;
      },
      () => revokeFamilyOf(older.hash, 'family_revoked'),
    );
    expect(revocation).toEqual({ revokedTokens: 1, denied: [{ jti: fresh.jti, expiresAt: expect.any(Date), reason: 'family_revoked' }] });
    const [row] = await testDb.query<{ revoked: boolean }>('SELECT revoked_at IS NOT NULL AS revoked FROM refresh_tokens WHERE id = $1', [fresh.id]);
    expect(row).toEqual({ revoked: true });
  });
});

describe('revoking a family with a history', () => {
  it('writes its live token and the spent ones whose access token is live, and leaves the rest of its history alone', async () => {
    const familyId = randomUUID();
    // One after another: the test database's one client takes one query at a time.
    const spentLongAgo = [];
    for (let n = 0; n < 3; n += 1) spentLongAgo.push(await insertToken(testDb, familyId, true, HOUR_MS, LONG_EXPIRED_MS));
    // Its access token expired a minute ago by this clock: a host whose clock runs behind still takes it.
    const spentAMinuteAgo = await insertToken(testDb, familyId, true, HOUR_MS, -60_000);
    const spentRecently = [await insertToken(testDb, familyId, true), await insertToken(testDb, familyId, true), spentAMinuteAgo];
    const live = await insertToken(testDb, familyId, false);

    const { revokedTokens, denied } = await revokeFamilyOf(spentLongAgo[0]!.hash, 'refresh_reuse');

    const written = [...spentRecently, live];
    expect(revokedTokens).toBe(1);
    expect(denied.map(({ jti }) => jti).sort()).toEqual(written.map(({ jti }) => jti).sort());
    const rows = await testDb.query<{ id: string; revoked: boolean }>('SELECT id, revoked_at IS NOT NULL AS revoked FROM refresh_tokens WHERE family_id = $1', [familyId]);
    expect(new Map(rows.map(({ id, revoked }) => [id, revoked]))).toEqual(
      new Map([...spentLongAgo.map(({ id }) => [id, false] as const), ...written.map(({ id }) => [id, true] as const)]),
    );
    const recorded = await testDb.query<{ jti: string }>('SELECT jti FROM revocations WHERE jti = ANY($1::text[]) ORDER BY jti', [
      [...spentLongAgo, ...written].map(({ jti }) => jti),
    ]);
    expect(recorded.map(({ jti }) => jti)).toEqual(written.map(({ jti }) => jti).sort());
    // A second revocation finds nothing left to write.
    expect(await revokeFamilyOf(spentLongAgo[1]!.hash, 'refresh_reuse')).toEqual({ revokedTokens: 0, denied: [] });
  });
});

describe("revoking a user's families", () => {
  it('revokes the spent tokens of the families it ended, and leaves a session begun after it alone', async () => {
    const user = randomUUID();
    await testDb.query(`INSERT INTO users (id, username, username_normalized, password_hash, updated_at) VALUES ($1, $2, $2, 'x', now())`, [user, `user-${user}`]);
    const tokenOf = async (familyId: string, used: boolean) => {
      const token = await insertToken(testDb, familyId, used);
      await testDb.query('UPDATE refresh_tokens SET user_id = $1 WHERE id = $2', [user, token.id]);
      return token;
    };
    const [ended, begunAfter] = [randomUUID(), randomUUID()];
    const endedTokens = [await tokenOf(ended, true), await tokenOf(ended, false)];
    const now = new Date();
    const revocation = await store.revokeUserFamilies(user, now, 'sessions_revoked');
    // A login and a rotation between the revocation's transaction and its finish.
    const newSession = [await tokenOf(begunAfter, true), await tokenOf(begunAfter, false)];
    const finished = await finish({ userId: user }, now, 'sessions_revoked');

    expect([revocation.revokedTokens, revocation.denied.map(({ jti }) => jti), finished.map(({ jti }) => jti)]).toEqual([1, [endedTokens[1]!.jti], [endedTokens[0]!.jti]]);
    const rows = await testDb.query<{ id: string; revoked: boolean }>('SELECT id, revoked_at IS NOT NULL AS revoked FROM refresh_tokens WHERE user_id = $1', [user]);
    expect(new Map(rows.map(({ id, revoked }) => [id, revoked]))).toEqual(
      new Map([...endedTokens.map(({ id }) => [id, true] as const), ...newSession.map(({ id }) => [id, false] as const)]),
    );
  });
});

describe('revoking a family that a thief has grown', () => {
  /** Rotations a stolen token can make in a minute or two, each with an access token still live. */
  const ROTATIONS = 150_000;

  it(`ends the family in a transaction of its own, then revokes all ${ROTATIONS.toLocaleString('en')} spent tokens in batches, recording every live access token`, async () => {
    const familyId = randomUUID();
    await testDb.query(
      `INSERT INTO refresh_tokens (id, token_hash, family_id, user_id, client_id, audience, created_at, expires_at,
         family_expires_at, used_at, access_token_jti, access_token_expires_at)
       SELECT gen_random_uuid(), 'grown-' || n, $1, $2, 'web', 'https://api.example.test', now(), now() + interval '1 hour',
         now() + interval '1 hour', CASE WHEN n < $3 THEN now() END, 'grown-jti-' || n, now() + interval '15 minutes'
       FROM generate_series(1, $3) AS n`,
      [familyId, userId, ROTATIONS],
    );
    const counts = async () =>
      (
        await testDb.query<{ live: number; unrevoked: number; recorded: number }>(
          `SELECT count(*) FILTER (WHERE used_at IS NULL AND revoked_at IS NULL)::int AS live,
                  count(*) FILTER (WHERE revoked_at IS NULL)::int AS unrevoked,
                  (SELECT count(*)::int FROM revocations WHERE jti LIKE 'grown-jti-%' AND reason = 'refresh_reuse') AS recorded
           FROM refresh_tokens WHERE family_id = $1`,
          [familyId],
        )
      )[0];
    const now = new Date();
    const revocation = await store.withLockedToken('grown-1', now, (family) => family!.revokeFamily('refresh_reuse'));
    // Committed: nothing of the family can be refreshed, whatever its spent tokens' revocation meets.
    expect([revocation.revokedTokens, revocation.denied.map(({ jti }) => jti)]).toEqual([1, [`grown-jti-${ROTATIONS}`]]);
    expect(await counts()).toEqual({ live: 0, unrevoked: ROTATIONS - 1, recorded: 1 });

    // A finish cut short (here after its first batch) leaves no trace to go on from but the table: the next one goes on.
    const cutShort = store.finishRevocation({ familyId }, now, 'refresh_reuse', async () => {
      throw new Error('the process stopped');
    });
    await expect(cutShort).rejects.toThrow('the process stopped');
    expect(await counts()).toEqual({ live: 0, unrevoked: ROTATIONS - 1 - 10_000, recorded: 1 + 10_000 });
    const batches: number[] = [];
    const denylisted = await store.finishRevocation({ familyId }, now, 'refresh_reuse', async (batch) => {
      batches.push(batch.length);
    });
    expect([denylisted, batches.length, Math.max(...batches)]).toEqual([ROTATIONS - 1 - 10_000, 14, 10_000]);
    expect(await counts()).toEqual({ live: 0, unrevoked: 0, recorded: ROTATIONS });
  }, 60_000);
});

describe('starting a session', () => {
  const firstToken = (user: string) => {
    const later = new Date(Date.now() + HOUR_MS);
    return {
      id: randomUUID(),
      tokenHash: `hash-${randomUUID()}`,
      familyId: randomUUID(),
      userId: user,
      clientId: 'web',
      scope: ['read'],
      audience: 'https://api.example.test',
      createdAt: new Date(),
      expiresAt: later,
      familyExpiresAt: later,
      accessTokenJti: `jti-${randomUUID()}`,
      accessTokenExpiresAt: later,
    };
  };
  const addUser = async (disabled: boolean) => {
    const id = randomUUID();
    await testDb.query(`INSERT INTO users (id, username, username_normalized, password_hash, disabled, updated_at) VALUES ($1, $2, $2, 'x', $3, now())`, [id, `user-${id}`, disabled]);
    return id;
  };
  const familyCount = async (user: string) => (await testDb.query('SELECT 1 FROM refresh_tokens WHERE user_id = $1', [user])).length;

  /** The login's check, as the users added here store their password: the hash 'x'. */
  const checkedAgainstX = { passwordHash: 'x' };

  it('stores the first token of an enabled user, and nothing for a disabled one or one whose password is not the one checked', async () => {
    const [enabled, disabled, changed] = [await addUser(false), await addUser(true), await addUser(false)];
    expect(await store.insert(firstToken(enabled), checkedAgainstX)).toBe(true);
    expect(await store.insert(firstToken(disabled), checkedAgainstX)).toBe(false);
    expect(await store.insert(firstToken(changed), { passwordHash: 'the hash before a change' })).toBe(false);
    expect([await familyCount(enabled), await familyCount(disabled), await familyCount(changed)]).toEqual([1, 0, 0]);
  });

  it.each([
    ['a disable', 'UPDATE users SET disabled = true WHERE id = $1'],
    // `user password`, which an operator follows with `sessions revoke`: a login checked against the old password must not start a session after it.
    ['a password change', "UPDATE users SET password_hash = 'y' WHERE id = $1"],
  ])('waits for %s running at the same moment, and then stores nothing', async (_, change) => {
    const user = await addUser(false);
    const changing = new pg.Client({ connectionString: testDb.url });
    await changing.connect();
    try {
      await changing.query('BEGIN');
      await changing.query(change, [user]);
      const inserting = store.insert(firstToken(user), checkedAgainstX);
      await testDb.blockedOnALock('the insert');
      await changing.query('COMMIT');
      expect(await inserting).toBe(false);
    } finally {
      await changing.end();
    }
    expect(await familyCount(user)).toBe(0);
  });
});

describe('deadlocks', () => {
  /** A promise and what resolves it: one transaction tells the other how far it has gone. */
  const signal = () => {
    let resolve!: () => void;
    const promise = new Promise<void>((done) => (resolve = done));
    return { promise, resolve };
  };
  /** A family rotated once: its spent token and that token's live successor. */
  const rotatedFamily = async () => {
    const familyId = randomUUID();
    const spent = await insertToken(testDb, familyId, true);
    const successor = await insertToken(testDb, familyId, false);
    await testDb.query('UPDATE refresh_tokens SET replaced_by_id = $1 WHERE id = $2', [successor.id, spent.id]);
    return { familyId, spent, successor };
  };

  it('settles a grace exchange and a revocation of its successor that reach the two tokens in opposite orders', async () => {
    const { familyId, spent, successor } = await rotatedFamily();
    const [spentLocked, successorLocked] = [signal(), signal()];
    // The grace path: the spent token, then its successor. The revocation of the successor: it, then the whole family.
    const grace = store.withLockedToken(spent.hash, new Date(), async (family) => {
      spentLocked.resolve();
      await successorLocked.promise;
      return family!.lockToken(successor.id);
    });
    const revocation = store.withLockedToken(successor.hash, new Date(), async (family) => {
      successorLocked.resolve();
      await spentLocked.promise;
      return family!.revokeFamily('family_revoked');
    });
    const [graceResult, revoked] = await Promise.all([grace, revocation]);
    expect(graceResult?.id).toBe(successor.id);
    expect(revoked.denied.map(({ jti }) => jti)).toEqual([successor.jti]);
    expect((await finish({ familyId })).map(({ jti }) => jti)).toEqual([spent.jti]);
    const rows = await testDb.query<{ revoked: boolean }>('SELECT revoked_at IS NOT NULL AS revoked FROM refresh_tokens WHERE family_id = $1', [familyId]);
    expect(rows).toEqual([{ revoked: true }, { revoked: true }]);
  });

  it('ends the family without waiting for a grace exchange that holds its spent token, which the finish revokes after it', async () => {
    const { familyId, spent, successor } = await rotatedFamily();
    const [spentLocked, familyEnded] = [signal(), signal()];
    let attempts = 0;
    // Before the split a revocation locked every spent token with a live access token in its
    // transaction, so this order deadlocked and Postgres aborted one of the two.
    const grace = store.withLockedToken(spent.hash, new Date(), async (family) => {
      spentLocked.resolve();
      await familyEnded.promise;
      return family!.lockToken(successor.id);
    });
    await spentLocked.promise;
    const revoked = await store.withLockedToken(successor.hash, new Date(), (family) => {
      attempts += 1;
      return family!.revokeFamily('family_revoked');
    });
    familyEnded.resolve();
    // The grace exchange reads the successor as the revocation committed it: revoked, so it exchanges nothing.
    expect(await grace).toMatchObject({ id: successor.id, revokedAt: expect.any(Date) });
    expect([attempts, revoked.denied.map(({ jti }) => jti)]).toEqual([1, [successor.jti]]);
    expect((await finish({ familyId })).map(({ jti }) => jti)).toEqual([spent.jti]);
  });
});

describe('pruning', () => {
  it('deletes every row of a family whose refresh and access tokens have all expired, and nothing of any other', async () => {
    const dead = randomUUID();
    await insertToken(testDb, dead, true, -2 * HOUR_MS);
    await insertToken(testDb, dead, false, -HOUR_MS);
    const alive = randomUUID();
    await insertToken(testDb, alive, true, -HOUR_MS); // spent long ago, kept for reuse detection
    await insertToken(testDb, alive, false, HOUR_MS);
    // Refresh token expired at the family's end, its access token not yet: still to be denylisted on revocation.
    const accessTokenLive = randomUUID();
    await insertToken(testDb, accessTokenLive, false, -60_000, 600_000);
    // A table of some size, where a join over all of it would cost more than fetching the batch's rows.
    await testDb.query(
      `INSERT INTO refresh_tokens (id, token_hash, family_id, user_id, client_id, audience, created_at, expires_at,
         family_expires_at, used_at, access_token_jti, access_token_expires_at)
       SELECT gen_random_uuid(), 'kept-' || n, $1, $2, 'web', 'https://api.example.test', now(), now() + interval '1 hour',
         now() + interval '1 hour', now(), 'kept-jti-' || n, now() - interval '1 hour'
       FROM generate_series(1, 20000) AS n`,
      [randomUUID(), userId],
    );
    const before = await testDb.query<{ n: number }>('SELECT count(*)::int AS n FROM refresh_tokens');

    const explaining = explainingDeletes(connections.sql);
    expect(await createRefreshTokenStore(connections.db, explaining.pool, createRevocationStore(connections.sql)).pruneDeadFamilies(new Date())).toBe(2);
    // The batch fetches its rows by address, and finds them through the family index: a scan of
    // every row belongs to the pass that found the family, never to each batch.
    expect(explaining.plans.map(rowsToDelete)).toEqual([expect.objectContaining({ 'Node Type': 'Tid Scan', 'Relation Name': 'refresh_tokens' })]);
    const nodes = explaining.plans.flatMap(planNodes);
    expect(nodes.filter((node) => node['Node Type'] === 'Seq Scan')).toEqual([]);
    expect(new Set(nodes.flatMap((node) => node['Index Name'] ?? []))).toEqual(new Set(['refresh_tokens_family_id_idx']));
    expect(await testDb.query('SELECT id FROM refresh_tokens WHERE family_id = $1', [dead])).toEqual([]);
    expect(await testDb.query('SELECT id FROM refresh_tokens WHERE family_id = $1', [alive])).toHaveLength(2);
    expect(await testDb.query('SELECT id FROM refresh_tokens WHERE family_id = $1', [accessTokenLive])).toHaveLength(1);
    expect(await testDb.query<{ n: number }>('SELECT count(*)::int AS n FROM refresh_tokens')).toEqual([{ n: before[0]!.n - 2 }]);
    expect(await store.pruneDeadFamilies(new Date())).toBe(0);
  });

  it('keeps a family for two minutes after its last token expired, as revocations keep their margin', async () => {
    const justDead = randomUUID();
    await insertToken(testDb, justDead, false, -60_000);
    const longDead = randomUUID();
    await insertToken(testDb, longDead, false, LONG_EXPIRED_MS);
    expect(await store.pruneDeadFamilies(new Date())).toBe(1);
    expect(await testDb.query('SELECT family_id FROM refresh_tokens WHERE family_id = ANY($1::uuid[])', [[justDead, longDead]])).toEqual([{ family_id: justDead }]);
    await testDb.query('DELETE FROM refresh_tokens WHERE family_id = $1', [justDead]);
  });

  it('deletes the dead rows that one pass cannot hold in the passes after it, a batch of families at a time through the family index', async () => {
    // One token each, from one statement: 100,001 families, a row more than a pass finds.
    const { rowCount } = await connections.sql.query(
      `INSERT INTO refresh_tokens (id, token_hash, family_id, user_id, client_id, audience, created_at, expires_at,
         family_expires_at, access_token_jti, access_token_expires_at)
       SELECT gen_random_uuid(), 'many-' || n, gen_random_uuid(), $1, 'web', 'https://api.example.test', now() - interval '1 day',
         now() - interval '1 hour', now() - interval '1 hour', 'many-jti-' || n, now() - interval '1 hour'
       FROM generate_series(1, 100001) AS n`,
      [userId],
    );
    expect(rowCount).toBe(100_001);
    const alive = randomUUID();
    await insertToken(testDb, alive, true, -HOUR_MS);
    await insertToken(testDb, alive, false, HOUR_MS);
    // Statistics as autovacuum would leave them: the plan that Postgres picks from them is checked.
    await testDb.query('ANALYZE refresh_tokens');

    const explaining = explainingDeletes(connections.sql);
    const pruning = createRefreshTokenStore(connections.db, explaining.pool, createRevocationStore(connections.sql));
    expect(await pruning.pruneDeadFamilies(new Date())).toBe(100_001);
    expect(await testDb.query<{ n: number }>(`SELECT count(*)::int AS n FROM refresh_tokens WHERE token_hash LIKE 'many-%'`)).toEqual([{ n: 0 }]);
    expect(await testDb.query('SELECT id FROM refresh_tokens WHERE family_id = $1', [alive])).toHaveLength(2);
    // Eleven batches of 10,000 one-row families or fewer, none a scan of the whole table.
    expect(explaining.plans.length).toBeGreaterThanOrEqual(11);
    const nodes = explaining.plans.flatMap(planNodes);
    expect(nodes.filter((node) => node['Node Type'] === 'Seq Scan')).toEqual([]);
    expect(new Set(nodes.flatMap((node) => node['Index Name'] ?? []))).toEqual(new Set(['refresh_tokens_family_id_idx']));
    await testDb.query('DELETE FROM refresh_tokens WHERE family_id = $1', [alive]);
  });

  it('keeps a family that has a live token again by the time its rows are deleted', async () => {
    const revived = randomUUID();
    await insertToken(testDb, revived, true, LONG_EXPIRED_MS);
    const dead = randomUUID();
    await insertToken(testDb, dead, true, LONG_EXPIRED_MS);
    // A live token stored in one of the families between the pass that found them and the delete.
    const pool = new Proxy(connections.sql, {
      get: (target, property, receiver) =>
        property === 'query'
          ? async (text: string, values: unknown[]) => {
              const result = await target.query(text, values);
              if (text.startsWith('SELECT family_id')) await insertToken(testDb, revived, false, HOUR_MS);
              return result;
            }
          : Reflect.get(target, property, receiver),
    });
    expect(await createRefreshTokenStore(connections.db, pool, createRevocationStore(connections.sql)).pruneDeadFamilies(new Date())).toBe(1);
    expect(await testDb.query('SELECT id FROM refresh_tokens WHERE family_id = $1', [dead])).toEqual([]);
    expect(await testDb.query('SELECT id FROM refresh_tokens WHERE family_id = $1', [revived])).toHaveLength(2);
    await testDb.query('DELETE FROM refresh_tokens WHERE family_id = $1', [revived]);
  });

  it('deletes nothing once told to stop (a shutdown)', async () => {
    const dead = randomUUID();
    await insertToken(testDb, dead, false, -HOUR_MS);
    expect(await store.pruneDeadFamilies(new Date(), AbortSignal.abort())).toBe(0);
    expect(await testDb.query('SELECT id FROM refresh_tokens WHERE family_id = $1', [dead])).toHaveLength(1);
  });
});

describe('batches of dead families', () => {
  const family = (familyId: string, rows: number) => ({ familyId, rows });

  it('fills each batch up to the row limit, in the order given', () => {
    expect(familiesInBatches([family('a', 4), family('b', 6), family('c', 1), family('d', 9), family('e', 1)], 10)).toEqual([['a', 'b'], ['c', 'd'], ['e']]);
  });

  it('gives a family larger than the limit a batch of its own', () => {
    expect(familiesInBatches([family('a', 2), family('b', 25), family('c', 3)], 10)).toEqual([['a'], ['b'], ['c']]);
  });

  it('makes no batch of no families', () => {
    expect(familiesInBatches([], 10)).toEqual([]);
  });
});
