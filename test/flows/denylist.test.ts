import { once } from 'node:events';
import { COPY_RETRY_AFTER_OVERFLOW_MS, createDenylist } from '../../src/flows/denylist.js';
import { OAuthError } from '../../src/errors/oauth-error.js';
import { createDenylistCache } from '../../src/stores/denylist-cache.js';
import { createRevocationFeed, type RevocationFeed } from '../../src/stores/denylist-events.js';
import { connectDatabase, type DatabaseConnections } from '../../src/stores/database.js';
import { createRedis, redisReady, type Redis } from '../../src/stores/redis.js';
import { createRevocationStore } from '../../src/stores/revocation-store.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { captureLogs } from '../support/logs.js';
import { closedPort } from '../support/net.js';
import { explainingDeletes, rowsToDelete } from '../support/plans.js';
import { leaseAuthdRedis, proxiedAuthdRedis, type AuthdTestRedis } from '../support/redis.js';

let testDb: TestDatabase;
let testRedis: AuthdTestRedis;
let live: DatabaseConnections;
let redis: Redis;
let dead: DatabaseConnections;
let deadRedis: Redis;
const clock = { now: () => Date.now() };
const logs = captureLogs();

beforeAll(async () => {
  testDb = await createTestDatabase();
  testRedis = await leaseAuthdRedis();
  live = connectDatabase(testDb.url, { poolSize: 2 });
  redis = testRedis.authd;
  const port = await closedPort();
  dead = connectDatabase(`postgresql://postgres@127.0.0.1:${port}/none`, { poolSize: 1 });
  deadRedis = createRedis(`redis://127.0.0.1:${port}`);
  deadRedis.on('error', () => undefined);
});
afterAll(async () => {
  await Promise.all([live.close(), dead.close()]);
  deadRedis.disconnect();
  await Promise.all([testDb.drop(), testRedis.release()]);
});

const soon = () => new Date(Date.now() + 600_000);

const eventually = async (condition: () => Promise<boolean> | boolean) => {
  for (let attempt = 0; attempt < 200; attempt += 1) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error('condition not met within 5 s');
};
const ourSubscriberIds = async () =>
  String(await testRedis.client.call('CLIENT', 'LIST', 'TYPE', 'pubsub'))
    .split('\n')
    .filter((line) => line.includes(` db=${new URL(testRedis.url).pathname.slice(1)} `))
    .map((line) => /id=(\d+)/.exec(line)![1]!);

describe('denylist', () => {
  it('writes Postgres first and Redis second, and answers from Redis', async () => {
    const denylist = createDenylist({ store: createRevocationStore(live.sql), cache: createDenylistCache(redis), feed: createRevocationFeed(redis), clock, logger: logs.logger });
    await denylist.revoke([{ jti: 'a', expiresAt: soon(), reason: 'revoked' }]);
    expect(await testDb.query('SELECT jti, reason FROM revocations')).toEqual([{ jti: 'a', reason: 'revoked' }]);
    expect(await testRedis.client.get('authd:revoked:a')).toBe('revoked');
    expect(await denylist.isRevoked('a')).toBe(true);
    expect(await denylist.isRevoked('b')).toBe(false);
  });

  it('answers from Postgres once Redis refuses a write while it answers reads (a replica after a failover), until a re-seed ends', async () => {
    const store = createRevocationStore(live.sql);
    const cache = createDenylistCache(redis);
    let refusing = false;
    const readOnly = { ...cache, add: (...args: Parameters<typeof cache.add>) => (refusing ? Promise.reject(new Error('READONLY You can\'t write against a read only replica.')) : cache.add(...args)) };
    const denylist = createDenylist({ store, cache: readOnly, feed: createRevocationFeed(redis), clock, logger: logs.logger });
    await denylist.reseed();
    refusing = true;
    await denylist.revoke([{ jti: 'refused-here', expiresAt: soon(), reason: 'revoked' }]);
    // Revoked by another instance, whose write the same Redis refused too: only Postgres holds it.
    await store.record([{ jti: 'refused-there', expiresAt: soon(), reason: 'revoked' }]);
    expect([await denylist.isRevoked('refused-here'), await denylist.isRevoked('refused-there'), await denylist.isRevoked('never-revoked')]).toEqual([true, true, false]);
    refusing = false;
    await denylist.sync();
    expect(await testRedis.client.get('authd:revoked:refused-there')).toBe('revoked');
    await testDb.query(`DELETE FROM revocations WHERE jti LIKE 'refused-%'`);
    await testRedis.client.del('authd:revoked:refused-here', 'authd:revoked:refused-there');
  });

  it('answers from Postgres once a sync finds Redis lacking keys it refuses to take, with no copy to answer (an overflowed one)', async () => {
    const store = createRevocationStore(live.sql);
    const cache = createDenylistCache(redis);
    let refusing = false;
    const readOnly = { ...cache, add: (...args: Parameters<typeof cache.add>) => (refusing ? Promise.reject(new Error('OOM command not allowed')) : cache.add(...args)) };
    // A copy of size 0 overflows at once and answers nothing, as one past its bound does.
    const denylist = createDenylist({ store, cache: readOnly, feed: createRevocationFeed(redis), clock, logger: logs.logger, copyLimit: 0 });
    await denylist.reseed();
    refusing = true;
    // Revoked by another instance, whose write Redis refused: only Postgres holds it.
    await store.record([{ jti: 'refused-elsewhere', expiresAt: soon(), reason: 'revoked' }]);
    await denylist.sync().catch(() => undefined);
    expect([await denylist.isRevoked('refused-elsewhere'), await denylist.isRevoked('never-revoked')]).toEqual([true, false]);
    refusing = false;
    await testDb.query(`DELETE FROM revocations WHERE jti = 'refused-elsewhere'`);
  });

  it('answers from Postgres while Redis has lost its keys (a flush or restart) and is not re-seeded yet', async () => {
    const denylist = createDenylist({ store: createRevocationStore(live.sql), cache: createDenylistCache(redis), feed: createRevocationFeed(redis), clock, logger: logs.logger });
    await denylist.reseed();
    await denylist.revoke([{ jti: 'flushed', expiresAt: soon(), reason: 'revoked' }]);
    await testRedis.client.flushdb();
    expect(await denylist.isRevoked('flushed')).toBe(true);
    expect(await denylist.isRevoked('never-revoked')).toBe(false);
    await denylist.sync();
    expect(await testRedis.client.get('authd:revoked:flushed')).toBe('revoked');
    await testDb.query(`DELETE FROM revocations WHERE jti = 'flushed'`);
    // Seeded again: Redis answers (Postgres no longer holds it).
    expect(await denylist.isRevoked('flushed')).toBe(true);
  });

  it('answers from Postgres after a reconnect until its re-seed ends: a Redis restored from a snapshot has the marker but not every key', async () => {
    const store = createRevocationStore(live.sql);
    let openGate = () => undefined as void;
    let gate: Promise<void> = Promise.resolve();
    const gatedStore = { ...store, unexpired: async (...args: Parameters<typeof store.unexpired>) => (await gate, store.unexpired(...args)) };
    const denylist = createDenylist({ store: gatedStore, cache: createDenylistCache(redis), feed: createRevocationFeed(redis), clock, logger: logs.logger });
    await denylist.reseed();
    await denylist.revoke([{ jti: 'after-snapshot', expiresAt: soon(), reason: 'revoked' }]);
    await testRedis.client.del('authd:revoked:after-snapshot'); // the snapshot predates it; the marker is there
    expect(await testRedis.client.exists('authd:denylist:seeded')).toBe(1);
    gate = new Promise<void>((resolve) => (openGate = resolve));
    const reseeding = denylist.reseed(); // what the server runs at each Redis 'ready'
    expect(await denylist.isRevoked('after-snapshot')).toBe(true);
    openGate();
    await reseeding;
    expect(await testRedis.client.get('authd:revoked:after-snapshot')).toBe('revoked');
    await testDb.query(`DELETE FROM revocations WHERE jti = 'after-snapshot'`);
    // Re-seeded since: Redis answers (Postgres no longer holds it).
    expect(await denylist.isRevoked('after-snapshot')).toBe(true);
  });

  it('answers from Postgres from the moment its Redis connection closes, even with no re-seed after it (a shutdown has stopped them)', async () => {
    const own = createRedis(testRedis.url);
    const feed = createRevocationFeed(own);
    try {
      expect(await redisReady(own, 2000)).toBe(true);
      const denylist = createDenylist({ store: createRevocationStore(live.sql), cache: createDenylistCache(own), feed, clock, logger: logs.logger });
      own.on('close', denylist.disconnected); // what the server runs at each Redis 'close'
      await denylist.reseed();
      // Recorded by another instance; the Redis restored from a snapshot lacks its key but has the marker.
      await createRevocationStore(live.sql).record([{ jti: 'before-restart', expiresAt: soon(), reason: 'revoked' }]);
      expect(await denylist.isRevoked('before-restart')).toBe(false); // seeded, so Redis is trusted: the case this guards
      const reconnected = once(own, 'ready');
      own.disconnect(true);
      await reconnected;
      expect(await denylist.isRevoked('before-restart')).toBe(true);
    } finally {
      await feed.close();
      own.disconnect();
      await testDb.query(`DELETE FROM revocations WHERE jti = 'before-restart'`);
    }
  });

  it("tells Redis of a revocation another one recorded first (whose publish may not have come yet), ending on Postgres's reason either way", async () => {
    const store = createRevocationStore(live.sql);
    const denylist = createDenylist({ store, cache: createDenylistCache(redis), feed: createRevocationFeed(redis), clock, logger: logs.logger });
    const reason = (jti: string) => testRedis.client.get(`authd:revoked:${jti}`);
    // Another revocation of the same token has committed and not yet told Redis: this one tells it first.
    await store.record([{ jti: 'recorded-first', expiresAt: soon(), reason: 'refresh_reuse' }]);
    expect(await denylist.revoke([{ jti: 'recorded-first', expiresAt: soon(), reason: 'revoked' }])).toBe(0);
    expect(await reason('recorded-first')).toBe('revoked');
    await denylist.publish([{ jti: 'recorded-first', expiresAt: soon(), reason: 'refresh_reuse' }]);
    expect(await reason('recorded-first')).toBe('refresh_reuse');
    // The other order: the one that recorded it has told Redis already.
    await store.record([{ jti: 'published-first', expiresAt: soon(), reason: 'refresh_reuse' }]);
    await denylist.publish([{ jti: 'published-first', expiresAt: soon(), reason: 'refresh_reuse' }]);
    expect(await denylist.revoke([{ jti: 'published-first', expiresAt: soon(), reason: 'revoked' }])).toBe(0);
    expect(await reason('published-first')).toBe('refresh_reuse');
    expect(await denylist.revoke([{ jti: 'recorded-now', expiresAt: soon(), reason: 'revoked' }])).toBe(1);
    expect(await reason('recorded-now')).toBe('revoked');
    await testDb.query(`DELETE FROM revocations WHERE jti IN ('recorded-first', 'published-first', 'recorded-now')`);
  });

  it('still records with Redis down and answers from Postgres', async () => {
    const denylist = createDenylist({ store: createRevocationStore(live.sql), cache: createDenylistCache(deadRedis), feed: createRevocationFeed(deadRedis), clock, logger: logs.logger });
    await denylist.revoke([{ jti: 'c', expiresAt: soon(), reason: 'revoked' }]);
    expect(await denylist.isRevoked('c')).toBe(true);
    expect(await denylist.isRevoked('nope')).toBe(false);
    expect(logs.lines.some((line) => line['msg'] === 'denylist: Redis write failed; Postgres holds the revocation')).toBe(true);
  });

  it('answers from Postgres when Redis is connected but stops answering, instead of hanging', async () => {
    const store = createRevocationStore(live.sql);
    await store.record([{ jti: 'hung', expiresAt: soon(), reason: 'revoked' }]);
    const { client: hung, proxy, close } = await proxiedAuthdRedis(testRedis.url);
    try {
      proxy.silence();
      const denylist = createDenylist({ store, cache: createDenylistCache(hung), feed: createRevocationFeed(hung), clock, logger: logs.logger });
      expect(await denylist.isRevoked('hung')).toBe(true);
      expect(await denylist.isRevoked('not-revoked')).toBe(false);
    } finally {
      await close();
      await testDb.query(`DELETE FROM revocations WHERE jti = 'hung'`);
    }
  });

  it('fails closed with 503 when neither Redis nor Postgres answers', async () => {
    const denylist = createDenylist({ store: createRevocationStore(dead.sql), cache: createDenylistCache(deadRedis), feed: createRevocationFeed(deadRedis), clock, logger: logs.logger });
    const failure = await denylist.isRevoked('a').catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(OAuthError);
    expect(failure).toMatchObject({ code: 'temporarily_unavailable', status: 503 });
  });

  it('expires a key at its token\'s exp by Redis\'s clock, whatever the writer\'s clock says', async () => {
    const expiresAt = new Date(Date.now() + 600_000);
    // A writer whose clock runs a minute ahead.
    await createDenylistCache(redis).add([{ jti: 'skewed-writer', expiresAt, reason: 'revoked' }], new Date(Date.now() + 60_000));
    const ttl = await testRedis.client.ttl('authd:revoked:skewed-writer');
    expect(ttl).toBeGreaterThan(590);
    expect(ttl).toBeLessThanOrEqual(601);
  });

  it('keeps a revocation for two minutes past its token\'s exp, for hosts whose clocks run behind', async () => {
    const store = createRevocationStore(live.sql);
    const ago = (ms: number) => new Date(Date.now() - ms);
    await store.record([
      { jti: 'expired-a-minute-ago', expiresAt: ago(60_000), reason: 'revoked' },
      { jti: 'expired-three-minutes-ago', expiresAt: ago(180_000), reason: 'revoked' },
    ]);
    const denylist = createDenylist({ store, cache: createDenylistCache(redis), feed: createRevocationFeed(redis), clock, logger: logs.logger });
    expect(await denylist.pruneExpired()).toBe(1);
    expect(await testDb.query(`SELECT jti FROM revocations WHERE jti LIKE 'expired-%'`)).toEqual([{ jti: 'expired-a-minute-ago' }]);
    await testDb.query(`DELETE FROM revocations WHERE jti = 'expired-a-minute-ago'`); // the tests after this one count rows
  });

  it('prunes expired revocations and re-seeds only the live ones', async () => {
    const store = createRevocationStore(live.sql);
    await store.record([{ jti: 'old', expiresAt: new Date(Date.now() - 1000), reason: 'revoked' }]);
    expect(await store.pruneExpired(new Date())).toBe(1);
    expect(await testDb.query(`SELECT jti FROM revocations WHERE jti = 'old'`)).toEqual([]);
    await testRedis.client.flushdb();
    const denylist = createDenylist({ store, cache: createDenylistCache(redis), feed: createRevocationFeed(redis), clock, logger: logs.logger });
    expect(await denylist.reseed()).toBe(2);
    expect((await testRedis.client.keys('authd:revoked:*')).sort()).toEqual(['authd:revoked:a', 'authd:revoked:c']);
  });
});

describe('stopping the denylist (shutdown)', () => {
  it('starts no re-seed once stopped, as a Redis reconnect during shutdown would, and is settled', async () => {
    const store = createRevocationStore(live.sql);
    await store.record([{ jti: 'recorded-late', expiresAt: soon(), reason: 'revoked' }]);
    await testRedis.client.flushdb();
    const denylist = createDenylist({ store, cache: createDenylistCache(redis), feed: createRevocationFeed(redis), clock, logger: logs.logger });
    denylist.stop();
    expect(await denylist.reseed()).toBe(0);
    await denylist.settled();
    expect(await testRedis.client.keys('*')).toEqual([]);
  });

  it('ends a running re-seed and load of the copy after the page they read, marking neither done', async () => {
    const store = createRevocationStore(live.sql);
    const many = Array.from({ length: 2_500 }, (_, index) => ({ jti: `paged-${index}`, expiresAt: soon(), reason: 'revoked' as const }));
    await store.record(many);
    await testRedis.client.flushdb();
    /** A denylist whose shutdown begins while it reads its first page; `pagesRead` counts the pages. */
    const stoppingAtTheFirstPage = (feed: RevocationFeed) => {
      const counted = { pagesRead: 0 };
      const denylist = createDenylist({
        store: {
          ...store,
          async unexpired(...args) {
            counted.pagesRead += 1;
            denylist.stop();
            return store.unexpired(...args);
          },
        },
        cache: createDenylistCache(redis),
        feed,
        clock,
        logger: logs.logger,
      });
      return Object.assign(counted, { denylist });
    };
    const feed = createRevocationFeed(redis);
    const lines = logs.lines.length;
    try {
      const seeding = stoppingAtTheFirstPage(createRevocationFeed(redis));
      expect(await seeding.denylist.reseed()).toBe(0);
      expect(seeding.pagesRead).toBe(1);
      expect(await testRedis.client.dbsize()).toBe(1_000 + 1); // the first page's keys, and the seeding's own key
      expect(await createDenylistCache(redis).isSeeded()).toBe(false);
      await seeding.denylist.sync(); // starts nothing
      expect(seeding.pagesRead).toBe(1);

      const loading = stoppingAtTheFirstPage(feed);
      loading.denylist.follow();
      await eventually(() => loading.pagesRead === 1);
      await loading.denylist.settled();
      expect(loading.pagesRead).toBe(1);
      expect(loading.denylist.copyState()).toEqual({ complete: false, size: 1_000 });
      expect(logs.lines.slice(lines)).toEqual([]);
    } finally {
      await feed.close();
      await testDb.query(`DELETE FROM revocations WHERE jti LIKE 'paged-%'`);
      await testRedis.client.flushdb();
    }
  });
});

describe('pruning revocations', () => {
  it('deletes a backlog in batches, and no further batch once told to stop', async () => {
    const store = createRevocationStore(live.sql);
    const expired = Array.from({ length: 25_000 }, (_, index) => ({ jti: `expired-${index}`, expiresAt: new Date(Date.now() - 1000), reason: 'revoked' as const }));
    await store.record([...expired, { jti: 'live', expiresAt: soon(), reason: 'revoked' }]);
    const count = async () => (await testDb.query<{ n: number }>(`SELECT count(*)::int AS n FROM revocations WHERE jti LIKE 'expired-%' OR jti = 'live'`))[0]!.n;

    expect(await store.pruneExpired(new Date(), AbortSignal.abort())).toBe(0);
    expect(await count()).toBe(25_001);
    // Told to stop while its first batch runs: that batch ends, no other starts.
    const stop = new AbortController();
    const stoppingAfterOneStatement = new Proxy(live.sql, {
      get: (pool, property, receiver) =>
        property === 'query'
          ? (...args: unknown[]) => {
              stop.abort();
              return Reflect.apply(pool.query, pool, args) as unknown;
            }
          : Reflect.get(pool, property, receiver),
    });
    expect(await createRevocationStore(stoppingAfterOneStatement).pruneExpired(new Date(), stop.signal)).toBe(10_000);
    expect(await count()).toBe(15_001);
    const explaining = explainingDeletes(live.sql);
    expect(await createRevocationStore(explaining.pool).pruneExpired(new Date())).toBe(15_000);
    expect(await testDb.query(`SELECT jti FROM revocations WHERE jti LIKE 'expired-%' OR jti = 'live'`)).toEqual([{ jti: 'live' }]);
    // Each batch fetches its rows by address, never by a join over the whole table (a scan of every row for each batch).
    expect(explaining.plans).toHaveLength(2);
    for (const plan of explaining.plans) expect(rowsToDelete(plan)).toMatchObject({ 'Node Type': 'Tid Scan', 'Relation Name': 'revocations' });
  });
});

describe('in-process copy of the denylist', () => {
  it('answers from memory once loaded, hears other instances, and survives losing its subscription', async () => {
    const store = createRevocationStore(live.sql);
    await store.record([{ jti: 'in-postgres-only', expiresAt: soon(), reason: 'revoked' }]);
    const instanceRedis = createRedis(testRedis.url);
    const feed = createRevocationFeed(instanceRedis);
    const instance = createDenylist({ store, cache: createDenylistCache(instanceRedis), feed, clock, logger: logs.logger });
    const other = createDenylist({ store, cache: createDenylistCache(redis), feed: createRevocationFeed(redis), clock, logger: logs.logger });
    try {
      expect(instance.copyState().complete).toBe(false);
      instance.follow();
      await eventually(() => instance.copyState().complete);
      expect(logs.lines.some((line) => line['msg'] === 'denylist: in-process copy loaded; checks answered in memory')).toBe(true);
      // Redis never had this key: only the copy loaded from Postgres can say it is revoked.
      expect(await testRedis.client.exists('authd:revoked:in-postgres-only')).toBe(0);
      expect(await instance.isRevoked('in-postgres-only')).toBe(true);

      await other.revoke([{ jti: 'revoked-elsewhere', expiresAt: soon(), reason: 'revoked' }]);
      await testRedis.client.del('authd:revoked:revoked-elsewhere');
      await eventually(() => instance.isRevoked('revoked-elsewhere'));

      // A key only Redis has is not seen while the copy answers...
      await testRedis.client.set('authd:revoked:redis-only', 'revoked', 'EX', 60);
      expect(await instance.isRevoked('redis-only')).toBe(false);

      // ...and losing the subscription loses nothing: what was revoked meanwhile is reloaded from Postgres.
      const ids = await ourSubscriberIds();
      expect(ids).toHaveLength(1);
      await testRedis.client.client('KILL', 'ID', ids[0]!);
      await eventually(() => !instance.copyState().complete);
      await other.revoke([{ jti: 'revoked-during-gap', expiresAt: soon(), reason: 'revoked' }]);
      await testRedis.client.del('authd:revoked:revoked-during-gap');
      await eventually(() => instance.copyState().complete);
      expect(await instance.isRevoked('revoked-during-gap')).toBe(true);
      expect(logs.lines.some((line) => line['msg'] === 'denylist: revocation channel lost; checks go to Redis until it is back')).toBe(true);
    } finally {
      await feed.close();
      await instanceRedis.quit();
    }
  });

  it('catches its copy up from Postgres at each sync while Redis hangs with the subscription open', async () => {
    const store = createRevocationStore(live.sql);
    const { client: hung, proxy, close } = await proxiedAuthdRedis(testRedis.url);
    const feed = createRevocationFeed(hung);
    const instance = createDenylist({ store, cache: createDenylistCache(hung), feed, clock, logger: logs.logger });
    const other = createDenylist({ store, cache: createDenylistCache(redis), feed: createRevocationFeed(redis), clock, logger: logs.logger });
    try {
      await instance.reseed();
      instance.follow();
      await eventually(() => instance.copyState().complete);
      // No connection closes, so nothing tells the instance its subscription is deaf.
      proxy.silence();
      await other.revoke([{ jti: 'revoked-while-hung', expiresAt: soon(), reason: 'revoked' }]);
      expect(await instance.isRevoked('revoked-while-hung')).toBe(false);

      await expect(instance.sync()).rejects.toThrow();
      expect(instance.copyState().complete).toBe(true);
      expect(await instance.isRevoked('revoked-while-hung')).toBe(true);
    } finally {
      await feed.close();
      await close();
      await testDb.query(`DELETE FROM revocations WHERE jti = 'revoked-while-hung'`);
    }
  });

  it('runs one sync at a time: the calls made while one runs share the next one', async () => {
    const cache = createDenylistCache(redis);
    let checks = 0;
    let openGate = () => undefined as void;
    const gate = new Promise<void>((resolve) => (openGate = resolve));
    const gatedCache = { ...cache, isSeeded: async () => ((checks += 1), await gate, cache.isSeeded()) };
    const denylist = createDenylist({ store: createRevocationStore(live.sql), cache: gatedCache, feed: createRevocationFeed(redis), clock, logger: logs.logger });
    await denylist.reseed();
    const first = denylist.sync();
    const meanwhile = [denylist.sync(), denylist.sync(), denylist.sync()];
    await eventually(() => checks === 1);
    expect(new Set(meanwhile).size).toBe(1);
    expect(meanwhile[0]).not.toBe(first);
    openGate();
    await Promise.all([first, ...meanwhile]);
    expect(checks).toBe(2);
  });

  it('loads its copy once at a time: a sync while the first load runs starts no other', async () => {
    const store = createRevocationStore(live.sql);
    let pagesAsked = 0;
    let openGate = () => undefined as void;
    let gate: Promise<void> = Promise.resolve();
    const gatedStore = { ...store, unexpired: async (...args: Parameters<typeof store.unexpired>) => ((pagesAsked += 1), await gate, store.unexpired(...args)) };
    const instanceRedis = createRedis(testRedis.url);
    const feed = createRevocationFeed(instanceRedis);
    const instance = createDenylist({ store: gatedStore, cache: createDenylistCache(instanceRedis), feed, clock, logger: logs.logger });
    try {
      await redisReady(instanceRedis, 5000);
      await instance.reseed();
      gate = new Promise<void>((resolve) => (openGate = resolve));
      const asked = pagesAsked;
      instance.follow();
      await eventually(() => pagesAsked === asked + 1); // the load, held at its first page
      await Promise.race([instance.sync(), new Promise((resolve) => setTimeout(resolve, 200))]);
      expect(pagesAsked).toBe(asked + 1);
      openGate();
      await eventually(() => instance.copyState().complete);
    } finally {
      await feed.close();
      await instanceRedis.quit();
    }
  });

  it('drops its copy past its size bound, answers from Redis, and loads again only after the retry time', async () => {
    let nowMs = Date.now();
    const movingClock = { now: () => nowMs };
    const store = createRevocationStore(live.sql);
    let pagesRead = 0;
    const countingStore = { ...store, unexpired: (...args: Parameters<typeof store.unexpired>) => ((pagesRead += 1), store.unexpired(...args)) };
    const [{ live: unexpired }] = (await testDb.query<{ live: number }>('SELECT count(*)::int AS live FROM revocations WHERE expires_at > now()')) as [{ live: number }];
    const instanceRedis = createRedis(testRedis.url);
    const feed = createRevocationFeed(instanceRedis);
    const instance = createDenylist({ store: countingStore, cache: createDenylistCache(instanceRedis), feed, clock: movingClock, logger: logs.logger, copyLimit: unexpired + 2 });
    const flood = Array.from({ length: 3 }, (_, index) => ({ jti: `flood-${index}`, expiresAt: soon(), reason: 'revoked' as const }));
    // The load below fits in one page (1,000 rows) only while the earlier tests leave fewer behind.
    expect(unexpired + flood.length).toBeLessThan(1000);
    try {
      await redisReady(instanceRedis, 5000);
      await instance.reseed();
      instance.follow();
      await eventually(() => instance.copyState().complete);
      await instance.revoke(flood);
      expect(instance.copyState()).toEqual({ complete: false, size: 0 });
      expect(await instance.isRevoked('flood-2')).toBe(true); // Redis answers

      const pagesBefore = pagesRead;
      await instance.sync(); // finds the overflow: no load
      expect(logs.lines.filter((line) => line['msg'] === 'denylist: more unexpired revocations than the in-process copy holds; checks go to Redis, and the copy is loaded again later')).toHaveLength(1);
      nowMs += COPY_RETRY_AFTER_OVERFLOW_MS - 1;
      await instance.sync();
      expect(pagesRead).toBe(pagesBefore);

      nowMs += 1;
      await instance.sync(); // loads, overflows again on the first page, and reads no further
      expect(pagesRead).toBe(pagesBefore + 1);
      expect(instance.copyState()).toEqual({ complete: false, size: 0 });

      await testDb.query(`DELETE FROM revocations WHERE jti LIKE 'flood-%'`);
      await instance.sync(); // the overflow found anew: waits again
      expect(instance.copyState().complete).toBe(false);
      nowMs += COPY_RETRY_AFTER_OVERFLOW_MS;
      await instance.sync();
      expect(instance.copyState().complete).toBe(true);
      // Answered from the loaded copy: Postgres no longer holds it, though Redis still does.
      expect(await testRedis.client.exists('authd:revoked:flood-0')).toBe(1);
      expect(await instance.isRevoked('flood-0')).toBe(false);
    } finally {
      await feed.close();
      await instanceRedis.quit();
    }
  });

  it('ignores messages on its channel that are not revocations', async () => {
    const instanceRedis = createRedis(testRedis.url);
    const feed = createRevocationFeed(instanceRedis);
    const instance = createDenylist({ store: createRevocationStore(live.sql), cache: createDenylistCache(instanceRedis), feed, clock, logger: logs.logger });
    try {
      instance.follow();
      await eventually(() => instance.copyState().complete);
      const size = instance.copyState().size;
      const channel = `authd:denylist:revocations:${new URL(testRedis.url).pathname.slice(1)}`;
      for (const message of ['not json', '{"jti":"x"}', '[["x"]]', '[[42, 1]]', `[["${'x'.repeat(300)}", 1]]`]) {
        await testRedis.client.publish(channel, message);
      }
      await eventually(() => logs.lines.filter((line) => line['msg'] === 'denylist: ignored a malformed message on the revocation channel').length >= 5);
      expect(instance.copyState().size).toBe(size);
    } finally {
      await feed.close();
      await instanceRedis.quit();
    }
  });
});

describe('catching Redis up from Postgres', () => {
  const denylistKeys = async () => (await testRedis.client.keys('authd:revoked:*')).sort();
  const tokens = (prefix: string, count: number) =>
    Array.from({ length: count }, (_, index) => ({ jti: `${prefix}-${String(index).padStart(5, '0')}`, expiresAt: soon(), reason: 'revoked' as const }));

  beforeEach(async () => {
    await testDb.query('DELETE FROM revocations');
    await testRedis.client.flushdb();
  });

  it('writes the recent revocations whose keys Redis lacks, and leaves the others alone', async () => {
    const store = createRevocationStore(live.sql);
    const denylist = createDenylist({ store, cache: createDenylistCache(redis), feed: createRevocationFeed(redis), clock, logger: logs.logger });
    await denylist.reseed();
    await denylist.revoke([
      { jti: 'still-in-redis', expiresAt: soon(), reason: 'revoked' },
      { jti: 'lost-from-redis', expiresAt: soon(), reason: 'revoked' },
    ]);
    await store.record([{ jti: 'postgres-only', expiresAt: soon(), reason: 'sessions_revoked' }]);
    await testRedis.client.del('authd:revoked:lost-from-redis');
    // A key rewritten by the catch-up would read 'revoked' again.
    await testRedis.client.set('authd:revoked:still-in-redis', 'untouched', 'KEEPTTL');

    await denylist.sync();
    expect(await denylistKeys()).toEqual(['authd:revoked:lost-from-redis', 'authd:revoked:postgres-only', 'authd:revoked:still-in-redis']);
    expect(await testRedis.client.mget('authd:revoked:lost-from-redis', 'authd:revoked:postgres-only', 'authd:revoked:still-in-redis')).toEqual([
      'revoked',
      'sessions_revoked',
      'untouched',
    ]);
    expect(await testRedis.client.ttl('authd:revoked:postgres-only')).toBeGreaterThan(590);
    expect(await denylist.isRevoked('postgres-only')).toBe(true);
  });

  it('catches up what a writer whose clock runs behind recorded, on a reader whose clock runs ahead: no two clocks are compared', async () => {
    const store = createRevocationStore(live.sql);
    const ahead = { now: () => Date.now() + 120_000 };
    const behind = { now: () => Date.now() - 120_000 };
    const reader = createDenylist({ store, cache: createDenylistCache(redis), feed: createRevocationFeed(redis), clock: ahead, logger: logs.logger });
    await reader.reseed();
    // The writer cannot reach Redis (an admin host, say): Postgres alone holds its revocation, for catch-up to find.
    const writer = createDenylist({ store, cache: createDenylistCache(deadRedis), feed: createRevocationFeed(deadRedis), clock: behind, logger: logs.logger });
    await writer.revoke([{ jti: 'skewed-clocks', expiresAt: soon(), reason: 'sessions_revoked' }]);
    expect(await testRedis.client.exists('authd:revoked:skewed-clocks')).toBe(0);
    await reader.sync();
    expect(await testRedis.client.get('authd:revoked:skewed-clocks')).toBe('sessions_revoked');
  });

  it('re-seeds Redis and loads the in-process copy through every page of the unexpired revocations', async () => {
    const store = createRevocationStore(live.sql);
    const recorded = tokens('seed', 2500);
    await store.record(recorded);
    // Expired past the margin kept for hosts whose clocks run behind.
    await store.record([{ jti: 'expired', expiresAt: new Date(Date.now() - 10 * 60_000), reason: 'revoked' }]);
    const instanceRedis = createRedis(testRedis.url);
    await redisReady(instanceRedis, 5000);
    const feed = createRevocationFeed(instanceRedis);
    const denylist = createDenylist({ store, cache: createDenylistCache(instanceRedis), feed, clock, logger: logs.logger });
    try {
      expect(await denylist.reseed()).toBe(2500);
      expect(await denylistKeys()).toEqual(recorded.map(({ jti }) => `authd:revoked:${jti}`));
      // Again after a reconnect: only what Redis lost is written.
      await testRedis.client.del('authd:revoked:seed-02499');
      await testRedis.client.set('authd:revoked:seed-00000', 'untouched', 'KEEPTTL');
      expect(await denylist.reseed()).toBe(2500);
      expect(await testRedis.client.mget('authd:revoked:seed-00000', 'authd:revoked:seed-02499')).toEqual(['untouched', 'revoked']);
      denylist.follow();
      await eventually(() => denylist.copyState().complete);
      expect(denylist.copyState().size).toBe(2500);
    } finally {
      await feed.close();
      await instanceRedis.quit();
    }
  });

  it('does not mark Redis seeded when it was flushed during the re-seed, and re-seeds at the next sync', async () => {
    const store = createRevocationStore(live.sql);
    const recorded = tokens('flushed', 1500);
    await store.record(recorded);
    let flushed = false;
    // The flush lands after the first page's keys are written, before the second page is read.
    const flushingStore: typeof store = {
      ...store,
      async unexpired(now, after, limit) {
        if (after !== undefined && !flushed) {
          flushed = true;
          await testRedis.client.flushdb();
        }
        return store.unexpired(now, after, limit);
      },
    };
    const denylist = createDenylist({ store: flushingStore, cache: createDenylistCache(redis), feed: createRevocationFeed(redis), clock, logger: logs.logger });
    expect(await denylist.reseed()).toBe(1500);
    expect(await testRedis.client.exists('authd:denylist:seeded')).toBe(0);
    expect((await denylistKeys()).length).toBe(500);
    expect(logs.lines.some((line) => line['msg'] === 'denylist: Redis was flushed during the re-seed; re-seeding again at the next sync')).toBe(true);

    await denylist.sync();
    expect(await testRedis.client.exists('authd:denylist:seeded')).toBe(1);
    expect(await denylistKeys()).toEqual(recorded.map(({ jti }) => `authd:revoked:${jti}`));
    expect(await testRedis.client.keys('authd:denylist:seeding:*')).toEqual([]);
  });

  it('pages through more recent revocations than one page holds, in (revoked_at, jti) order, ties included', async () => {
    const store = createRevocationStore(live.sql);
    const denylist = createDenylist({ store, cache: createDenylistCache(redis), feed: createRevocationFeed(redis), clock, logger: logs.logger });
    await denylist.reseed();
    const recorded = tokens('bulk', 2500);
    await store.record(recorded);
    // Recorded later, with jtis that sort first: pages follow (revoked_at, jti), not jti alone.
    const later = tokens('a-later', 1200);
    await new Promise((resolve) => setTimeout(resolve, 5));
    await store.record(later);
    await store.record([{ jti: 'expired', expiresAt: new Date(Date.now() - 1000), reason: 'revoked' }]);

    await denylist.sync();
    expect(await denylistKeys()).toEqual([...later, ...recorded].map(({ jti }) => `authd:revoked:${jti}`));
  });
});
