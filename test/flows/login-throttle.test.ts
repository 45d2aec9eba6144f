import { createLoginThrottle, type LoginThrottle } from '../../src/flows/login-throttle.js';
import { createRedis, redisReady } from '../../src/stores/redis.js';
import { leaseTestRedis, type TestRedis } from '../support/redis.js';

let redis: TestRedis;
let client: ReturnType<typeof createRedis>;

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

describe.each([
  ['Redis', () => client],
  ['memory', () => undefined],
])('login throttle (%s)', (_backend, redisClient) => {
  let throttle: LoginThrottle;
  let prefix: string;
  beforeEach(() => {
    prefix = `authd:login:t${Math.random().toString(36).slice(2, 8)}`;
    throttle = createLoginThrottle({ redis: redisClient(), maxFailures: 3, lockSeconds: 60, keyPrefix: prefix });
  });

  it('locks a (username, IP) pair after maxFailures failures for lockSeconds', async () => {
    expect(await failTimes(throttle, 2, 'Alice', '10.0.0.1')).toBe(false);
    expect(await throttle.check('alice', '10.0.0.1')).toEqual({ locked: false });
    expect(await failTimes(throttle, 1, 'alice', '10.0.0.1')).toBe(true);
    const state = await throttle.check('ALICE', '10.0.0.1');
    expect(state).toMatchObject({ locked: true, scope: 'pair' });
    expect(state.locked && state.retryAfterSeconds).toBeGreaterThan(55);
    expect(state.locked && state.retryAfterSeconds).toBeLessThanOrEqual(60);
  });

  it('does not lock the same user from another IP, nor another user from the same IP', async () => {
    await failTimes(throttle, 3, 'alice', '10.0.0.1');
    expect(await throttle.check('alice', '10.0.0.2')).toEqual({ locked: false });
    expect(await throttle.check('bob', '10.0.0.1')).toEqual({ locked: false });
  });

  it('resets the pair on success', async () => {
    await failTimes(throttle, 2, 'alice', '10.0.0.1');
    await throttle.recordSuccess('alice', '10.0.0.1');
    expect(await failTimes(throttle, 2, 'alice', '10.0.0.1')).toBe(false);
    expect(await throttle.check('alice', '10.0.0.1')).toEqual({ locked: false });
  });

  it('locks an IP for every username after more than 20 × maxFailures failures', async () => {
    for (let i = 0; i < 60; i += 1) await throttle.recordFailure(`user${i}`, '10.0.0.9');
    expect(await throttle.check('someone-new', '10.0.0.9')).toEqual({ locked: false });
    await throttle.recordFailure('user-61', '10.0.0.9');
    expect(await throttle.check('someone-new', '10.0.0.9')).toMatchObject({ locked: true, scope: 'ip' });
    expect(await throttle.check('someone-new', '10.0.0.10')).toEqual({ locked: false });
  });
});

it('keeps its Redis keys under the prefix with a TTL, without the raw username', async () => {
  const throttle = createLoginThrottle({ redis: client, maxFailures: 3, lockSeconds: 60, keyPrefix: 'authd:login:keys' });
  await throttle.recordFailure('Secret.Username', '10.1.1.1');
  const keys = (await redis.client.keys('authd:login:keys*')).sort();
  expect(keys).toHaveLength(2);
  expect(keys.some((key) => key.startsWith('authd:login:keys:pair:'))).toBe(true);
  expect(keys.some((key) => key === 'authd:login:keys:ip:10.1.1.1')).toBe(true);
  expect(keys.join(' ').toLowerCase()).not.toContain('secret.username');
  for (const key of keys) {
    const ttl = await redis.client.ttl(key);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60);
  }
});
