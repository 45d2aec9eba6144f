import { connectDatabase, type DatabaseConnections } from '../../src/stores/database.js';
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
    await connections.db.$transaction((tx) => createRevocationStore(connections.db, connections.sql).record([{ jti: 'through-a-transaction', expiresAt: at, reason: 'revoked' }], at, tx));
    await createRevocationStore(connections.db, connections.sql).record([{ jti: 'through-node-postgres', expiresAt: at, reason: 'revoked' }], at);
    for (const jti of ['through-prisma', 'through-a-transaction', 'through-node-postgres']) {
      expect([jti, await storedMs(jti)]).toEqual([jti, at.getTime()]);
    }
  });
});
