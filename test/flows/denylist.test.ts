import { createDenylist } from '../../src/flows/denylist.js';
import { OAuthError } from '../../src/errors/oauth-error.js';
import { createDenylistCache } from '../../src/stores/denylist-cache.js';
import { connectDatabase, type DatabaseConnections } from '../../src/stores/database.js';
import { createRedis, redisReady, type Redis } from '../../src/stores/redis.js';
import { createRevocationStore } from '../../src/stores/revocation-store.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { captureLogs } from '../support/logs.js';
import { closedPort } from '../support/net.js';
import { leaseTestRedis, type TestRedis } from '../support/redis.js';

let testDb: TestDatabase;
let testRedis: TestRedis;
let live: DatabaseConnections;
let redis: Redis;
let dead: DatabaseConnections;
let deadRedis: Redis;
const clock = { now: () => Date.now() };
const logs = captureLogs();

beforeAll(async () => {
  testDb = await createTestDatabase();
  testRedis = await leaseTestRedis();
  live = connectDatabase(testDb.url, { poolSize: 2 });
  redis = createRedis(testRedis.url);
  await redisReady(redis, 5000);
  const port = await closedPort();
  dead = connectDatabase(`postgresql://postgres@127.0.0.1:${port}/none`, { poolSize: 1 });
  deadRedis = createRedis(`redis://127.0.0.1:${port}`);
  deadRedis.on('error', () => undefined);
});
afterAll(async () => {
  await Promise.all([live.close(), dead.close(), redis.quit()]);
  deadRedis.disconnect();
  await Promise.all([testDb.drop(), testRedis.release()]);
});

const soon = () => new Date(Date.now() + 600_000);

describe('denylist', () => {
  it('writes Postgres first and Redis second, and answers from Redis', async () => {
    const denylist = createDenylist({ store: createRevocationStore(live.db, live.sql), cache: createDenylistCache(redis), clock, logger: logs.logger });
    await denylist.revoke([{ jti: 'a', expiresAt: soon(), reason: 'revoked' }]);
    expect(await testDb.query('SELECT jti, reason FROM revocations')).toEqual([{ jti: 'a', reason: 'revoked' }]);
    expect(await testRedis.client.get('authd:revoked:a')).toBe('revoked');
    expect(await denylist.isRevoked('a')).toBe(true);
    expect(await denylist.isRevoked('b')).toBe(false);
  });

  it('still records with Redis down and answers from Postgres', async () => {
    const denylist = createDenylist({ store: createRevocationStore(live.db, live.sql), cache: createDenylistCache(deadRedis), clock, logger: logs.logger });
    await denylist.revoke([{ jti: 'c', expiresAt: soon(), reason: 'revoked' }]);
    expect(await denylist.isRevoked('c')).toBe(true);
    expect(await denylist.isRevoked('nope')).toBe(false);
    expect(logs.lines.some((line) => line['msg'] === 'denylist: Redis write failed; Postgres holds the revocation')).toBe(true);
  });

  it('fails closed with 503 when neither Redis nor Postgres answers', async () => {
    const denylist = createDenylist({ store: createRevocationStore(dead.db, dead.sql), cache: createDenylistCache(deadRedis), clock, logger: logs.logger });
    const failure = await denylist.isRevoked('a').catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(OAuthError);
    expect(failure).toMatchObject({ code: 'temporarily_unavailable', status: 503 });
  });

  it('prunes expired revocations and re-seeds only the live ones', async () => {
    const store = createRevocationStore(live.db, live.sql);
    await store.record([{ jti: 'old', expiresAt: new Date(Date.now() - 1000), reason: 'revoked' }], new Date());
    expect(await store.pruneExpired(new Date())).toBe(1);
    expect(await testDb.query(`SELECT jti FROM revocations WHERE jti = 'old'`)).toEqual([]);
    await testRedis.client.flushdb();
    const denylist = createDenylist({ store, cache: createDenylistCache(redis), clock, logger: logs.logger });
    expect(await denylist.reseed()).toBe(2);
    expect((await testRedis.client.keys('authd:revoked:*')).sort()).toEqual(['authd:revoked:a', 'authd:revoked:c']);
  });
});
