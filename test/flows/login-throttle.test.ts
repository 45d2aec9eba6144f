import { createLoginThrottle, IP_FAILURE_FACTOR, type LoginThrottle } from '../../src/flows/login-throttle.js';
import { createRedis, redisReady, type Redis } from '../../src/stores/redis.js';
import { leaseTestRedis, type TestRedis } from '../support/redis.js';

const MAX_FAILURES = 3;
const LOCK_SECONDS = 60;

let redis: TestRedis;
let client: Redis;

beforeAll(async () => {
  redis = await leaseTestRedis();
  client = createRedis(redis.url);
  expect(await redisReady(client, 5000)).toBe(true);
});
afterAll(async () => {
  await client.quit();
  await redis.release();
});

const failTimes = async (throttle: LoginThrottle, n: number, username: string, ip: string) => {
  let lockedNow = false;
  for (let i = 0; i < n; i += 1) lockedNow = (await throttle.recordFailure(username, ip)).lockedNow;
  return lockedNow;
};

/** Every key of the leased db under `prefix`, by SCAN. */
const keysUnder = async (prefix: string): Promise<string[]> => {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    keys.push(...batch);
    cursor = next;
  } while (cursor !== '0');
  return keys.sort();
};

describe.each([
  ['Redis', () => client],
  ['memory', () => undefined],
])('login throttle (%s)', (_backend, redisClient) => {
  let throttle: LoginThrottle;
  beforeEach(() => {
    const keyPrefix = `authd:login:t${Math.random().toString(36).slice(2, 8)}`;
    throttle = createLoginThrottle({ redis: redisClient(), maxFailures: MAX_FAILURES, lockSeconds: LOCK_SECONDS, keyPrefix });
  });

  it('locks a (username, IP) pair after maxFailures failures for lockSeconds, whatever the case of the username', async () => {
    expect(await failTimes(throttle, 2, 'Alice', '10.0.0.1')).toBe(false);
    expect(await throttle.check('alice', '10.0.0.1')).toEqual({ locked: false });
    expect(await failTimes(throttle, 1, 'alice', '10.0.0.1')).toBe(true);
    const state = await throttle.check('ALICE', '10.0.0.1');
    expect(state).toMatchObject({ locked: true, scope: 'pair' });
    expect(state.locked && state.retryAfterSeconds).toBeGreaterThan(0);
    expect(state.locked && state.retryAfterSeconds).toBeLessThanOrEqual(LOCK_SECONDS);
  });

  it('says lockedNow only for the failure that reached the limit', async () => {
    const lockedNow = [];
    for (let i = 0; i < 5; i += 1) lockedNow.push((await throttle.recordFailure('alice', '10.0.0.1')).lockedNow);
    expect(lockedNow).toEqual([false, false, true, false, false]);
    expect(await throttle.check('alice', '10.0.0.1')).toMatchObject({ locked: true, scope: 'pair' });
  });

  it('does not lock the same user from another IP, nor another user from the same IP', async () => {
    await failTimes(throttle, MAX_FAILURES, 'alice', '10.0.0.1');
    expect(await throttle.check('alice', '10.0.0.2')).toEqual({ locked: false });
    expect(await throttle.check('bob', '10.0.0.1')).toEqual({ locked: false });
    expect(await throttle.check('alice', '2001:db8::1')).toEqual({ locked: false });
  });

  it('resets the pair on success, so maxFailures more failures are needed', async () => {
    await failTimes(throttle, MAX_FAILURES - 1, 'alice', '10.0.0.1');
    await throttle.recordSuccess('alice', '10.0.0.1');
    expect(await failTimes(throttle, MAX_FAILURES - 1, 'alice', '10.0.0.1')).toBe(false);
    expect(await throttle.check('alice', '10.0.0.1')).toEqual({ locked: false });
    expect(await failTimes(throttle, 1, 'alice', '10.0.0.1')).toBe(true);
    expect(await throttle.check('alice', '10.0.0.1')).toMatchObject({ locked: true, scope: 'pair' });
  });

  it('locks an IP for every username after more than 20 × maxFailures failures', async () => {
    const ipLimit = IP_FAILURE_FACTOR * MAX_FAILURES;
    expect(ipLimit).toBe(60);
    for (let i = 0; i < ipLimit; i += 1) await throttle.recordFailure(`user${i}`, '10.0.0.9');
    expect(await throttle.check('someone-new', '10.0.0.9')).toEqual({ locked: false });
    await throttle.recordFailure('one-more', '10.0.0.9');
    const state = await throttle.check('someone-new', '10.0.0.9');
    expect(state).toMatchObject({ locked: true, scope: 'ip' });
    expect(state.locked && state.retryAfterSeconds).toBeGreaterThan(0);
    expect(state.locked && state.retryAfterSeconds).toBeLessThanOrEqual(LOCK_SECONDS);
    expect(await throttle.check('someone-new', '10.0.0.10')).toEqual({ locked: false });
  });

  it('keeps counting the IP across successes', async () => {
    const ipLimit = IP_FAILURE_FACTOR * MAX_FAILURES;
    for (let i = 0; i < ipLimit; i += 1) await throttle.recordFailure(`user${i}`, '2001:db8::9');
    await throttle.recordSuccess('user0', '2001:db8::9');
    await throttle.recordFailure('one-more', '2001:db8::9');
    expect(await throttle.check('user0', '2001:db8::9')).toMatchObject({ locked: true, scope: 'ip' });
  });
});

describe('login throttle keys in Redis', () => {
  it('are under the prefix, expire within lockSeconds and never hold the username', async () => {
    const keyPrefix = 'authd:login:keys';
    const throttle = createLoginThrottle({ redis: client, maxFailures: MAX_FAILURES, lockSeconds: LOCK_SECONDS, keyPrefix });
    await throttle.recordFailure('Secret.Username', '10.1.1.1');
    await failTimes(throttle, MAX_FAILURES, 'Other.Name', '2001:db8::1');

    const keys = await keysUnder(keyPrefix);
    expect(keys).toHaveLength(4);
    expect(keys).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^authd:login:keys:pair:[0-9a-f]{32}:10\.1\.1\.1$/),
        expect.stringMatching(/^authd:login:keys:pair:[0-9a-f]{32}:2001:db8::1$/),
        'authd:login:keys:ip:10.1.1.1',
        'authd:login:keys:ip:2001:db8::1',
      ]),
    );
    const everything = (await keysUnder('')).join(' ').toLowerCase();
    expect(everything).not.toContain('secret.username');
    expect(everything).not.toContain('other.name');
    for (const key of keys) {
      const ttl = await redis.client.ttl(key);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(LOCK_SECONDS);
    }
  });
});

describe('login throttle with Redis unreachable', () => {
  it('falls back to counting in this process', async () => {
    const unreachable = createRedis('redis://127.0.0.1:1');
    unreachable.on('error', () => {}); // connection refused, expected
    try {
      const throttle = createLoginThrottle({ redis: unreachable, maxFailures: MAX_FAILURES, lockSeconds: LOCK_SECONDS });
      expect(await throttle.check('alice', '10.0.0.1')).toEqual({ locked: false });
      expect(await failTimes(throttle, MAX_FAILURES, 'alice', '10.0.0.1')).toBe(true);
      expect(await throttle.check('alice', '10.0.0.1')).toMatchObject({ locked: true, scope: 'pair' });
      expect(await throttle.check('alice', '10.0.0.2')).toEqual({ locked: false });
      await throttle.recordSuccess('bob', '10.0.0.1');
    } finally {
      unreachable.disconnect();
    }
  });
});
