import { randomUUID } from 'node:crypto';
import { connectDatabase, pingDatabase, type DatabaseConnections } from '../../src/stores/database.js';
import { isDatabaseUnavailable } from '../../src/stores/database-unavailable.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { closedPort, proxiedUrl } from '../support/net.js';

let testDb: TestDatabase;
let live: DatabaseConnections;
let dead: DatabaseConnections;

beforeAll(async () => {
  testDb = await createTestDatabase();
  live = connectDatabase(testDb.url, { poolSize: 1 });
  dead = connectDatabase(`postgresql://postgres@127.0.0.1:${await closedPort()}/authd`, { poolSize: 1 });
});
afterAll(async () => {
  await Promise.all([live.close(), dead.close()]);
  await testDb.drop();
});

const failure = (work: () => Promise<unknown>) => work().then(() => { throw new Error('expected a failure'); }, (error: unknown) => error);

describe('isDatabaseUnavailable', () => {
  it('is true for an unreachable server, through node-postgres, Prisma and Prisma raw queries', async () => {
    expect(isDatabaseUnavailable(await failure(() => dead.sql.query('SELECT 1')))).toBe(true);
    expect(isDatabaseUnavailable(await failure(() => dead.db.client.findMany()))).toBe(true);
    expect(isDatabaseUnavailable(await failure(() => dead.db.$queryRaw`SELECT 1`))).toBe(true);
    expect(isDatabaseUnavailable(await failure(() => dead.db.$transaction((tx) => tx.client.findMany())))).toBe(true);
  });

  it('is true when a transaction cannot get a connection in time', async () => {
    const busy = connectDatabase(testDb.url, { poolSize: 1 });
    try {
      const holding = busy.sql.query('SELECT pg_sleep(3)');
      const waited = await failure(() => busy.db.$transaction((tx) => tx.client.findMany(), { maxWait: 200 }));
      expect(waited).toMatchObject({ code: 'P2028' });
      expect(isDatabaseUnavailable(waited)).toBe(true);
      await holding;
    } finally {
      await busy.close();
    }
  });

  it('is true when Postgres is too slow for a transaction to end within its timeout', async () => {
    const expired = await failure(() => live.db.$transaction(async (tx) => {
      await tx.$executeRaw`SELECT pg_sleep(0.4)`;
      return tx.client.findMany();
    }, { timeout: 100 }));
    expect(expired).toMatchObject({ code: 'P2028' });
    expect(isDatabaseUnavailable(expired)).toBe(true);
  });

  it('is true for a statement a connected server stops answering, through node-postgres and Prisma', async () => {
    const { url, proxy } = await proxiedUrl(testDb.url);
    const hung = connectDatabase(url, { poolSize: 2, queryTimeoutMs: 300 });
    try {
      await Promise.all([hung.sql.query('SELECT 1'), hung.db.client.findMany()]);
      proxy.silence();
      expect(isDatabaseUnavailable(await failure(() => hung.sql.query('SELECT 1')))).toBe(true);
      expect(isDatabaseUnavailable(await failure(() => hung.db.client.findMany()))).toBe(true);
      expect(isDatabaseUnavailable(await failure(() => hung.db.$transaction((tx) => tx.client.findMany())))).toBe(true);
    } finally {
      await proxy.close();
      await hung.close();
    }
  });

  it('is true for a transaction still aborted for a conflict after the store ran it again (a 503 to retry, not a 500)', () => {
    const conflict = Object.assign(new Error('TransactionWriteConflict'), { name: 'DriverAdapterError', cause: { kind: 'TransactionWriteConflict' } });
    expect(isDatabaseUnavailable(Object.assign(new Error('write conflict or a deadlock'), { code: 'P2034' }))).toBe(true);
    expect(isDatabaseUnavailable(Object.assign(new Error('Raw query failed. Code: `40P01`'), { code: 'P2010', meta: { driverAdapterError: conflict } }))).toBe(true);
  });

  it('is true for a server that takes no writes (a standby, a read-only database), and readiness fails for it', async () => {
    const readOnly = connectDatabase(`${testDb.url}${testDb.url.includes('?') ? '&' : '?'}options=${encodeURIComponent('-c default_transaction_read_only=on')}`, { poolSize: 1 });
    try {
      const refused = await failure(() => readOnly.sql.query(`INSERT INTO revocations (jti, expires_at, reason, revoked_at) VALUES ('ro', now(), 'revoked', now())`));
      expect(refused).toMatchObject({ code: '25006' });
      expect(isDatabaseUnavailable(refused)).toBe(true);
      expect(isDatabaseUnavailable(await failure(() => readOnly.db.revocation.create({ data: { jti: 'ro', expiresAt: new Date(), reason: 'revoked', revokedAt: new Date() } })))).toBe(true);
      await expect(pingDatabase(readOnly.sql)).rejects.toThrow('postgres takes no writes');
      await expect(pingDatabase(live.sql)).resolves.toBeUndefined();
    } finally {
      await readOnly.close();
    }
  });

  it('is true for a server that is shutting down or out of resources', () => {
    expect(isDatabaseUnavailable(Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }))).toBe(true);
    expect(isDatabaseUnavailable(Object.assign(new Error('sorry, too many clients already'), { code: '53300' }))).toBe(true);
    expect(isDatabaseUnavailable(Object.assign(new Error('could not extend file: No space left on device'), { code: '53100' }))).toBe(true);
  });

  it('is true when this host runs out of file descriptors or local ports to connect with (a 503, not a 500)', () => {
    for (const code of ['EMFILE', 'ENFILE', 'EADDRNOTAVAIL']) {
      expect(isDatabaseUnavailable(Object.assign(new Error(`connect ${code} 127.0.0.1:5432`), { code, syscall: 'connect' }))).toBe(true);
    }
  });

  it('is false for a query that failed on a working server, so real bugs stay 500s', async () => {
    expect(isDatabaseUnavailable(await failure(() => live.sql.query('SELEC 1')))).toBe(false);
    const id = randomUUID();
    await live.db.user.create({ data: { id, username: 'a', usernameNormalized: 'a', passwordHash: 'x' } });
    expect(isDatabaseUnavailable(await failure(() => live.db.user.create({ data: { id, username: 'b', usernameNormalized: 'b', passwordHash: 'x' } })))).toBe(false);
    expect(isDatabaseUnavailable(await failure(() => live.db.$queryRaw`SELECT 1/0`))).toBe(false);
    expect(isDatabaseUnavailable(Object.assign(new Error('bind message supplies 1 parameters, but prepared statement requires 2'), { code: '08P01' }))).toBe(false);
    expect(isDatabaseUnavailable(Object.assign(new Error('Transaction already closed'), { code: 'P2028' }))).toBe(false);
    expect(isDatabaseUnavailable(new Error('something else'))).toBe(false);
    expect(isDatabaseUnavailable(undefined)).toBe(false);
  });
});
