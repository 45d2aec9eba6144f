import { connectDatabase, type DatabaseConnections } from '../../src/stores/database.js';
import { isDatabaseUnavailable } from '../../src/stores/database-unavailable.js';
import { createRevocationStore } from '../../src/stores/revocation-store.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

let testDb: TestDatabase;
let connections: DatabaseConnections;

beforeAll(async () => {
  testDb = await createTestDatabase();
  // A server whose default zone is not UTC (initdb takes the operating system's).
  await testDb.query(`ALTER DATABASE "${testDb.name}" SET timezone = 'Asia/Tokyo'`);
  connections = connectDatabase(testDb.url, { poolSize: 2 });
});
afterAll(async () => {
  await connections.close();
  await testDb.drop();
});

const at = new Date('2026-12-03T12:00:00.000Z');

/** The instant a row holds, in ms since the epoch, whatever the session's zone. */
const storedMs = async (jti: string) => {
  const [row] = await testDb.query<{ ms: number }>(`SELECT (extract(epoch FROM expires_at) * 1000)::float8 AS ms FROM revocations WHERE jti = $1`, [jti]);
  return row?.ms;
};

describe('timestamps on a Postgres whose time zone is not UTC', () => {
  it('stores the instants Prisma and node-postgres are given, not shifted by the zone', async () => {
    await connections.db.revocation.create({ data: { jti: 'through-prisma', expiresAt: at, reason: 'revoked', revokedAt: at } });
    await connections.db.$transaction((tx) => createRevocationStore(connections.sql).record([{ jti: 'through-a-transaction', expiresAt: at, reason: 'revoked' }], tx));
    await createRevocationStore(connections.sql).record([{ jti: 'through-node-postgres', expiresAt: at, reason: 'revoked' }]);
    for (const jti of ['through-prisma', 'through-a-transaction', 'through-node-postgres']) {
      expect([jti, await storedMs(jti)]).toEqual([jti, at.getTime()]);
    }
  });
});

describe('statements authd has stopped waiting for', () => {
  it('are cancelled by Postgres as well, after the same time (30 s unless told), and count as unavailable', async () => {
    const [{ statement_timeout: byDefault }] = (await connections.sql.query<{ statement_timeout: string }>('SHOW statement_timeout')).rows as [{ statement_timeout: string }];
    expect(byDefault).toBe('30s');
    const impatient = connectDatabase(testDb.url, { poolSize: 1, queryTimeoutMs: 5_000 });
    try {
      expect((await impatient.sql.query<{ statement_timeout: string }>('SHOW statement_timeout')).rows).toEqual([{ statement_timeout: '5s' }]);
      await impatient.sql.query('SET statement_timeout = 200'); // Postgres's side only: the pool would wait 5 s
      const cancelled = await impatient.sql.query('SELECT pg_sleep(2)').then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(cancelled).toMatchObject({ code: '57014' });
      expect(isDatabaseUnavailable(cancelled)).toBe(true);
    } finally {
      await impatient.close();
    }
  });
});
