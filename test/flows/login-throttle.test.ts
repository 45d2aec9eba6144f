import { setMaxListeners } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  createLoginThrottle,
  DEFAULT_BUSY_WAIT_MS,
  IP_FAILURE_FACTOR,
  MAX_WAITING,
  throttledAddress,
  type LoginAttempt,
  type LoginRefused,
  type LoginThrottle,
} from '../../src/flows/login-throttle.js';
import { createMetrics, type Metrics } from '../../src/observability/metrics.js';
import { createRedis, redisReady, type Redis } from '../../src/stores/redis.js';
import { createLoginAttemptsInRedis } from '../../src/stores/redis-login-attempts.js';
import { leaseAuthdRedis, proxiedAuthdRedis, type AuthdTestRedis } from '../support/redis.js';
import { waitUntil } from '../support/wait.js';

const MAX_FAILURES = 3;
const LOCK_SECONDS = 60;

let redis: AuthdTestRedis;
let client: Redis;

beforeAll(async () => {
  redis = await leaseAuthdRedis();
  client = redis.authd;
});
afterAll(() => redis.release());

/** One attempt that fails; throws if it was refused instead. */
const fail = async (throttle: LoginThrottle, username: string, ip: string): Promise<boolean> => {
  const attempt = await throttle.begin(username, ip);
  if (attempt.refused) throw new Error(`${username}@${ip} is locked`);
  return (await attempt.failed()).pairLockedNow;
};

const failTimes = async (throttle: LoginThrottle, n: number, username: string, ip: string) => {
  let lockedNow = false;
  for (let i = 0; i < n; i += 1) lockedNow = await fail(throttle, username, ip);
  return lockedNow;
};

const succeed = async (throttle: LoginThrottle, username: string, ip: string) => {
  const attempt = await throttle.begin(username, ip);
  if (attempt.refused) throw new Error(`${username}@${ip} is locked`);
  await attempt.succeeded();
};

/** Whether an attempt would be refused now; an allowed one is released, so the probe counts nothing. */
const probe = async (throttle: LoginThrottle, username: string, ip: string): Promise<LoginRefused | { refused: false }> => {
  const attempt = await throttle.begin(username, ip);
  if (attempt.refused) return attempt;
  await attempt.release();
  return { refused: false };
};

/** maxFailures attempts of alice's pair from `ip`, started at once and running (none refused). */
const fillPair = async (throttle: LoginThrottle, ip = '10.0.0.1'): Promise<LoginAttempt[]> => {
  const running = await Promise.all(Array.from({ length: MAX_FAILURES }, () => throttle.begin('alice', ip)));
  return running.map((attempt) => {
    if (attempt.refused) throw new Error('refused');
    return attempt;
  });
};

/** Places and failures the throttle counted in its own process because Redis did not answer. */
const counted = async (metrics: Metrics) => (await metrics.loginThrottleLocal.get()).values[0]?.value ?? 0;

/** A pair's failures and running attempts, as its Redis hash holds them. */
const pairState = async (key: string) => {
  const fields = await redis.client.hgetall(key);
  return { failures: Number(fields.f ?? 0), running: Object.keys(fields).filter((field) => field.startsWith('a:')).length };
};

/** The key of the one pair counted under `prefix` (its IP's key ends at the hash tag). */
const pairKeyUnder = async (prefix: string) => (await keysUnder(`${prefix}:attempts:`)).find((key) => !key.endsWith('}'));

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
    // Refused at once when the pair is busy: the counting itself, without the wait for a place.
    throttle = createLoginThrottle({ redis: redisClient(), maxFailures: MAX_FAILURES, lockSeconds: LOCK_SECONDS, keyPrefix, busyWaitMs: 0 });
  });

  it('locks a (username, IP) pair after maxFailures failures for lockSeconds, whatever the case or Unicode form of the username', async () => {
    expect(await failTimes(throttle, 1, 'Alice', '10.0.0.1')).toBe(false);
    // Fullwidth letters are alice too (NFKC), as the user lookup has it: not a pair of its own.
    expect(await failTimes(throttle, 1, '\uff41\uff4c\uff49\uff43\uff45', '10.0.0.1')).toBe(false);
    expect(await probe(throttle, 'alice', '10.0.0.1')).toEqual({ refused: false });
    expect(await failTimes(throttle, 1, 'alice', '10.0.0.1')).toBe(true);
    const state = await probe(throttle, 'ALICE', '10.0.0.1');
    expect(state).toMatchObject({ refused: true, reason: 'pair' });
    expect(state.refused && state.retryAfterSeconds).toBeGreaterThan(0);
    expect(state.refused && state.retryAfterSeconds).toBeLessThanOrEqual(LOCK_SECONDS);
    expect(await probe(throttle, '\uff21\uff2c\uff29\uff23\uff25', '10.0.0.1')).toMatchObject({ refused: true, reason: 'pair' });
  });

  it('says lockedNow only for the failure that reached the limit, and refuses the attempts after it', async () => {
    const lockedNow = [];
    for (let i = 0; i < MAX_FAILURES; i += 1) lockedNow.push(await fail(throttle, 'alice', '10.0.0.1'));
    expect(lockedNow).toEqual([false, false, true]);
    expect(await throttle.begin('alice', '10.0.0.1')).toMatchObject({ refused: true, reason: 'pair' });
  });

  it('counts a pair\'s attempts as they start: of guesses sent at once, only maxFailures are tried', async () => {
    const attempts = await Promise.all(Array.from({ length: 10 }, () => throttle.begin('alice', '10.0.0.1')));
    const tried = attempts.filter((attempt) => !attempt.refused);
    expect(tried).toHaveLength(MAX_FAILURES);
    // Refused while the others run: not a lock yet, so a short Retry-After.
    expect(attempts.filter((attempt) => attempt.refused)).toEqual(Array(10 - MAX_FAILURES).fill({ refused: true, reason: 'busy', retryAfterSeconds: 1 }));
    const lockedNow = await Promise.all(tried.map(async (attempt) => !attempt.refused && (await attempt.failed()).pairLockedNow));
    expect(lockedNow.filter(Boolean)).toHaveLength(1);
    const locked = await probe(throttle, 'alice', '10.0.0.1');
    expect(locked).toMatchObject({ refused: true, reason: 'pair' });
    expect(locked.refused && locked.retryAfterSeconds).toBeGreaterThan(LOCK_SECONDS - 5);
  });

  it('lets a pair\'s running attempts that succeed free their places', async () => {
    const first = await fillPair(throttle);
    expect(await probe(throttle, 'alice', '10.0.0.1')).toMatchObject({ refused: true, reason: 'busy' });
    for (const attempt of first) await attempt.succeeded();
    expect(await probe(throttle, 'alice', '10.0.0.1')).toEqual({ refused: false });
  });

  it('keeps counting the guesses that run while the pair\'s user logs in', async () => {
    const [guess, other, login] = await fillPair(throttle);
    await login!.succeeded();
    expect(await guess!.failed()).toEqual({ pairLockedNow: false, ipLockedNow: false });
    expect(await other!.failed()).toEqual({ pairLockedNow: false, ipLockedNow: false });
    // Both failures count after the reset: one more guess locks the pair.
    expect(await fail(throttle, 'alice', '10.0.0.1')).toBe(true);
    expect(await probe(throttle, 'alice', '10.0.0.1')).toMatchObject({ refused: true, reason: 'pair' });
  });

  it('keeps the places of attempts that run while the pair\'s user logs in', async () => {
    const [guess, waiting, login] = await fillPair(throttle);
    await login!.succeeded();
    // Two attempts still run: one place is free, and only one.
    const next = await throttle.begin('alice', '10.0.0.1');
    expect(next.refused).toBe(false);
    expect(await throttle.begin('alice', '10.0.0.1')).toMatchObject({ refused: true, reason: 'busy' });
    await guess!.release();
    await waiting!.failed();
    if (!next.refused) await next.failed();
    expect(await fail(throttle, 'alice', '10.0.0.1')).toBe(true);
  });

  it('does not lock a pair whose count a success reset while a failing attempt ran', async () => {
    const [first, , last] = await fillPair(throttle);
    await first!.succeeded();
    expect(await last!.failed()).toEqual({ pairLockedNow: false, ipLockedNow: false });
    expect(await probe(throttle, 'alice', '10.0.0.1')).toEqual({ refused: false });
  });

  it('lets as many logins of one IP run at once as its limit, holds the rest, and does not count them as failures', async () => {
    const ipLimit = IP_FAILURE_FACTOR * MAX_FAILURES + 1;
    const attempts = await Promise.all(Array.from({ length: ipLimit + 10 }, (_, i) => throttle.begin(`user${i}`, '10.0.0.8')));
    expect(attempts.filter((attempt) => !attempt.refused)).toHaveLength(ipLimit);
    expect(attempts.filter((attempt) => attempt.refused)).toEqual(Array(10).fill({ refused: true, reason: 'busy', retryAfterSeconds: 1 }));
    for (const attempt of attempts) if (!attempt.refused) await attempt.succeeded();
    expect(await probe(throttle, 'someone', '10.0.0.8')).toEqual({ refused: false });
  });

  it('counts an IP\'s attempts as they start: of guesses spread over many usernames and sent at once, only the IP\'s limit are tried', async () => {
    const ipLimit = IP_FAILURE_FACTOR * MAX_FAILURES + 1;
    const attempts = await Promise.all(Array.from({ length: 2 * ipLimit }, (_, i) => throttle.begin(`user${i}`, '10.0.0.7')));
    const tried = attempts.filter((attempt) => !attempt.refused);
    expect(tried).toHaveLength(ipLimit);
    const failures = await Promise.all(tried.map(async (attempt) => !attempt.refused && (await attempt.failed())));
    expect(failures.filter((failure) => failure && failure.ipLockedNow)).toHaveLength(1);
    expect(failures.filter((failure) => failure && failure.pairLockedNow)).toEqual([]);
    expect(await probe(throttle, 'someone-else', '10.0.0.7')).toMatchObject({ refused: true, reason: 'ip' });
  });

  it('does not count an attempt that ends without a verdict, nor one that was refused', async () => {
    for (let i = 0; i < 10; i += 1) {
      const attempt = await throttle.begin('alice', '10.0.0.1');
      expect(attempt.refused).toBe(false);
      if (!attempt.refused) await attempt.release();
    }
    expect(await failTimes(throttle, MAX_FAILURES, 'alice', '10.0.0.1')).toBe(true);
    // Refused attempts of the locked pair do not count against the IP.
    for (let i = 0; i < IP_FAILURE_FACTOR * MAX_FAILURES; i += 1) expect((await throttle.begin('alice', '10.0.0.1')).refused).toBe(true);
    expect(await probe(throttle, 'bob', '10.0.0.1')).toEqual({ refused: false });
  });

  it('ends an attempt once: a release after failed() or succeeded() changes nothing', async () => {
    for (let i = 0; i < MAX_FAILURES - 1; i += 1) {
      const attempt = await throttle.begin('alice', '10.0.0.1');
      if (attempt.refused) throw new Error('locked too early');
      await attempt.failed();
      await attempt.release();
      await attempt.succeeded();
    }
    expect(await failTimes(throttle, 1, 'alice', '10.0.0.1')).toBe(true);
  });

  it('counts IPv6 clients per /64, and an IPv4 address seen as ::ffff:a.b.c.d as that address', async () => {
    await failTimes(throttle, MAX_FAILURES, 'alice', '2001:db8:1:2::1');
    expect(await probe(throttle, 'alice', '2001:db8:1:2:ffff:ffff:ffff:ffff')).toMatchObject({ refused: true, reason: 'pair' });
    expect(await probe(throttle, 'alice', '2001:db8:1:3::1')).toEqual({ refused: false });
    await failTimes(throttle, MAX_FAILURES, 'bob', '::ffff:192.0.2.4');
    expect(await probe(throttle, 'bob', '192.0.2.4')).toMatchObject({ refused: true, reason: 'pair' });
  });

  it('does not lock the same user from another IP, nor another user from the same IP', async () => {
    await failTimes(throttle, MAX_FAILURES, 'alice', '10.0.0.1');
    expect(await probe(throttle, 'alice', '10.0.0.2')).toEqual({ refused: false });
    expect(await probe(throttle, 'bob', '10.0.0.1')).toEqual({ refused: false });
    expect(await probe(throttle, 'alice', '2001:db8::1')).toEqual({ refused: false });
  });

  it('resets the pair on success, so maxFailures more failures are needed', async () => {
    await failTimes(throttle, MAX_FAILURES - 1, 'alice', '10.0.0.1');
    await succeed(throttle, 'alice', '10.0.0.1');
    expect(await failTimes(throttle, MAX_FAILURES - 1, 'alice', '10.0.0.1')).toBe(false);
    expect(await probe(throttle, 'alice', '10.0.0.1')).toEqual({ refused: false });
    expect(await failTimes(throttle, 1, 'alice', '10.0.0.1')).toBe(true);
    expect(await probe(throttle, 'alice', '10.0.0.1')).toMatchObject({ refused: true, reason: 'pair' });
  });

  it('locks an IP for every username after more than 20 × maxFailures failures', async () => {
    const ipLimit = IP_FAILURE_FACTOR * MAX_FAILURES;
    expect(ipLimit).toBe(60);
    for (let i = 0; i < ipLimit; i += 1) await fail(throttle, `user${i}`, '10.0.0.9');
    expect(await probe(throttle, 'someone-new', '10.0.0.9')).toEqual({ refused: false });
    await fail(throttle, 'one-more', '10.0.0.9');
    const state = await probe(throttle, 'someone-new', '10.0.0.9');
    expect(state).toMatchObject({ refused: true, reason: 'ip' });
    expect(state.refused && state.retryAfterSeconds).toBeGreaterThan(0);
    expect(state.refused && state.retryAfterSeconds).toBeLessThanOrEqual(LOCK_SECONDS);
    expect(await probe(throttle, 'someone-new', '10.0.0.10')).toEqual({ refused: false });
  });

  it('keeps counting the IP across successes, which do not count as failures', async () => {
    const ipLimit = IP_FAILURE_FACTOR * MAX_FAILURES;
    for (let i = 0; i < ipLimit; i += 1) await fail(throttle, `user${i}`, '2001:db8::9');
    for (let i = 0; i < 5; i += 1) await succeed(throttle, 'user0', '2001:db8::9');
    expect(await probe(throttle, 'user0', '2001:db8::9')).toEqual({ refused: false });
    await fail(throttle, 'one-more', '2001:db8::9');
    expect(await probe(throttle, 'user0', '2001:db8::9')).toMatchObject({ refused: true, reason: 'ip' });
  });
});

describe.each([
  ['Redis', () => client],
  ['memory', () => undefined],
])('login throttle waiting for a place in a busy pair (%s)', (_backend, redisClient) => {
  const keyPrefix = () => `authd:login:w${Math.random().toString(36).slice(2, 8)}`;
  const waitingThrottle = (busyWaitMs?: number) =>
    createLoginThrottle({ redis: redisClient(), maxFailures: MAX_FAILURES, lockSeconds: LOCK_SECONDS, keyPrefix: keyPrefix(), ...(busyWaitMs === undefined ? {} : { busyWaitMs }) });

  /** Ten attempts of one pair at once, each ending `how` 20 ms after it starts; what each came to. */
  const tenAtOnce = (throttle: LoginThrottle, how: 'succeeded' | 'failed') =>
    Promise.all(
      Array.from({ length: 10 }, async () => {
        const attempt = await throttle.begin('alice', '10.0.0.1');
        if (attempt.refused) return attempt.reason;
        await sleep(20);
        await attempt[how]();
        return how;
      }),
    );

  it('lets a user\'s concurrent logins with the right password all start, each once a running one has succeeded', async () => {
    expect(await tenAtOnce(waitingThrottle(), 'succeeded')).toEqual(Array(10).fill('succeeded'));
  });

  it('stops concurrent guesses at the lock: maxFailures are tried and the waiting ones are refused as locked', async () => {
    const throttle = waitingThrottle();
    const outcomes = await tenAtOnce(throttle, 'failed');
    expect(outcomes.filter((outcome) => outcome === 'failed')).toHaveLength(MAX_FAILURES);
    expect(outcomes.filter((outcome) => outcome === 'pair')).toHaveLength(10 - MAX_FAILURES);
    expect(await throttle.begin('alice', '10.0.0.1')).toMatchObject({ refused: true, reason: 'pair' });
  });

  it('starts a waiting attempt once a running one ends without a verdict', async () => {
    const throttle = waitingThrottle();
    const [first] = await fillPair(throttle);
    const waiter = throttle.begin('alice', '10.0.0.1');
    await sleep(60);
    await first!.release();
    expect(await waiter).toMatchObject({ refused: false });
  });

  it('stops waiting when the signal aborts (the client left), and keeps no place', async () => {
    const throttle = waitingThrottle();
    const running = await fillPair(throttle);
    const controller = new AbortController();
    const startedAt = Date.now();
    setTimeout(() => controller.abort(), 50);
    expect(await throttle.begin('alice', '10.0.0.1', controller.signal)).toEqual({ refused: true, reason: 'busy', retryAfterSeconds: 1 });
    expect(Date.now() - startedAt).toBeLessThan(DEFAULT_BUSY_WAIT_MS / 2);
    for (const attempt of running) await attempt.release();
    expect(await failTimes(throttle, MAX_FAILURES - 1, 'alice', '10.0.0.1')).toBe(false);
    expect(await fail(throttle, 'alice', '10.0.0.1')).toBe(true);
  });

  it(`lets at most ${MAX_WAITING} attempts of a pair wait at once, refuses more as busy straight away, and counts the waiters out`, async () => {
    const throttle = waitingThrottle();
    const running = await fillPair(throttle);
    /** `count` attempts waiting until `signal` aborts; `refused` lists the reasons of those already refused. */
    const wait = (count: number, signal: AbortSignal) => {
      const refused: string[] = [];
      const all = Array.from({ length: count }, async () => {
        const attempt = await throttle.begin('alice', '10.0.0.1', signal);
        if (attempt.refused) refused.push(attempt.reason);
        return attempt;
      });
      return { refused, all: Promise.all(all) };
    };
    for (let round = 0; round < 2; round += 1) {
      const leave = new AbortController();
      // One signal for many waiters (a request has one waiter): not a leak, so no warning.
      setMaxListeners(2 * MAX_WAITING, leave.signal);
      const extra = round === 0 ? 4 : 1;
      const waiting = wait(MAX_WAITING + extra, leave.signal);
      // The ones beyond the limit are refused at their first answer; the others wait 2 s.
      await waitUntil(() => waiting.refused.length >= extra, 1500);
      expect(waiting.refused).toEqual(Array(extra).fill('busy'));
      leave.abort();
      expect(await waiting.all).toEqual(Array(MAX_WAITING + extra).fill({ refused: true, reason: 'busy', retryAfterSeconds: 1 }));
    }
    const next = throttle.begin('alice', '10.0.0.1');
    await sleep(50);
    await running[0]!.release();
    expect(await next).toMatchObject({ refused: false });
  });

  it(`lets at most ${MAX_WAITING} attempts of an IP wait at once, whatever their usernames, and refuses more as busy straight away`, async () => {
    const throttle = waitingThrottle();
    const ipLimit = IP_FAILURE_FACTOR * MAX_FAILURES + 1;
    const running = await Promise.all(Array.from({ length: ipLimit }, (_, i) => throttle.begin(`user${i}`, '10.0.0.2')));
    expect(running.filter((attempt) => attempt.refused)).toEqual([]);
    const leave = new AbortController();
    setMaxListeners(2 * MAX_WAITING, leave.signal);
    const refused: string[] = [];
    const waiting = Promise.all(
      Array.from({ length: MAX_WAITING + 3 }, async (_, i) => {
        const attempt = await throttle.begin(`waiting${i}`, '10.0.0.2', leave.signal);
        if (attempt.refused) refused.push(attempt.reason);
        return attempt;
      }),
    );
    // The three beyond the limit are refused at their first answer; the others wait 2 s.
    await waitUntil(() => refused.length >= 3, 1500);
    expect(refused).toEqual(['busy', 'busy', 'busy']);
    leave.abort();
    expect(await waiting).toEqual(Array(MAX_WAITING + 3).fill({ refused: true, reason: 'busy', retryAfterSeconds: 1 }));
    const next = throttle.begin('someone', '10.0.0.2');
    await sleep(50);
    const [first] = running;
    if (!first!.refused) await first!.release();
    expect(await next).toMatchObject({ refused: false });
  });

  it('does not wait when the signal has already aborted', async () => {
    const throttle = waitingThrottle();
    await fillPair(throttle);
    const startedAt = Date.now();
    expect(await throttle.begin('alice', '10.0.0.1', AbortSignal.abort())).toEqual({ refused: true, reason: 'busy', retryAfterSeconds: 1 });
    expect(Date.now() - startedAt).toBeLessThan(DEFAULT_BUSY_WAIT_MS / 2);
  });

  it('refuses as busy once busyWaitMs has passed with the pair\'s attempts still running, and keeps no place', async () => {
    const throttle = waitingThrottle(300);
    const running = await fillPair(throttle);
    const startedAt = Date.now();
    expect(await throttle.begin('alice', '10.0.0.1')).toEqual({ refused: true, reason: 'busy', retryAfterSeconds: 1 });
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(150);
    for (const attempt of running) await attempt.release();
    expect(await failTimes(throttle, MAX_FAILURES - 1, 'alice', '10.0.0.1')).toBe(false);
    expect(await fail(throttle, 'alice', '10.0.0.1')).toBe(true);
  });
});

describe('login attempt signal', () => {
  const throttle = (holdMs: number) => createLoginThrottle({ maxFailures: MAX_FAILURES, lockSeconds: LOCK_SECONDS, holdMs, busyWaitMs: 0 });
  const begin = async (from: LoginThrottle, signal?: AbortSignal): Promise<LoginAttempt> => {
    const attempt = await from.begin('alice', '10.0.0.1', signal);
    if (attempt.refused) throw new Error('refused');
    return attempt;
  };

  it('aborts five sixths of the way through the attempt\'s hold, so that no password work starts once its place may be gone', async () => {
    const attempt = await begin(throttle(1200));
    await sleep(500);
    expect(attempt.signal.aborted).toBe(false);
    await sleep(600);
    expect(attempt.signal.aborted).toBe(true);
  });

  it('aborts when the client leaves', async () => {
    const client = new AbortController();
    const attempt = await begin(throttle(60_000), client.signal);
    expect(attempt.signal.aborted).toBe(false);
    client.abort();
    expect(attempt.signal.aborted).toBe(true);
  });

  it('no longer aborts once the attempt has ended', async () => {
    const client = new AbortController();
    const attempt = await begin(throttle(300), client.signal);
    await attempt.release();
    await sleep(350);
    client.abort();
    expect(attempt.signal.aborted).toBe(false);
  });
});

describe('throttledAddress', () => {
  it.each([
    ['192.0.2.1', '192.0.2.1'],
    ['::ffff:192.0.2.1', '192.0.2.1'],
    ['::FFFF:192.0.2.1', '192.0.2.1'],
    ['0:0:0:0:0:ffff:192.0.2.1', '192.0.2.1'],
    ['::ffff:c000:201', '192.0.2.1'],
    ['64:ff9b::192.0.2.1', '192.0.2.1'],
    ['64:ff9b::c000:202', '192.0.2.2'],
    ['64:ff9b:1::c000:202', '64:ff9b:1:0::/64'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['2001:0db8:0000:0042:0000:8a2e:0370:7334', '2001:db8:0:42::/64'],
    ['2001:db8:0:42::8a2e:370:7334', '2001:db8:0:42::/64'],
    ['::1', '0:0:0:0::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
  ])('keys %s as %s', (ip, key) => {
    expect(throttledAddress(ip)).toBe(key);
  });
});

describe('login throttle keys in Redis', () => {
  it('are under the prefix, expire within lockSeconds and never hold the username', async () => {
    const keyPrefix = 'authd:login:keys';
    const metrics = createMetrics({ defaultMetrics: false });
    const throttle = createLoginThrottle({ redis: client, maxFailures: MAX_FAILURES, lockSeconds: LOCK_SECONDS, keyPrefix, metrics });
    await fail(throttle, 'Secret.Username', '10.1.1.1');
    await failTimes(throttle, MAX_FAILURES, 'Other.Name', '2001:db8::1');
    await fail(throttle, 'Third.Name', ''); // a request whose socket has gone has no address
    expect(await counted(metrics)).toBe(0);

    const keys = await keysUnder(keyPrefix);
    // The pair's key and its IP's share the IP's hash tag, so that a Redis Cluster keeps them on one node.
    expect(keys).toEqual([
      'authd:login:keys:attempts:{10.1.1.1}',
      expect.stringMatching(/^authd:login:keys:attempts:\{10\.1\.1\.1\}:[0-9a-f]{32}$/),
      'authd:login:keys:attempts:{2001:db8:0:0::/64}',
      expect.stringMatching(/^authd:login:keys:attempts:\{2001:db8:0:0::\/64\}:[0-9a-f]{32}$/),
      'authd:login:keys:attempts:{unknown}',
      expect.stringMatching(/^authd:login:keys:attempts:\{unknown\}:[0-9a-f]{32}$/),
    ]);
    const everything = (await keysUnder('')).join(' ').toLowerCase();
    expect(everything).not.toContain('secret.username');
    expect(everything).not.toContain('other.name');
    expect(everything).not.toContain('third.name');
    for (const key of keys) {
      const ttl = await redis.client.ttl(key);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(LOCK_SECONDS);
    }
  });
});

describe('login throttle windows in Redis', () => {
  it('frees nothing when attempts end after their pair\'s key went, and still counts their failures', async () => {
    const keyPrefix = 'authd:login:late';
    const throttle = createLoginThrottle({ redis: client, maxFailures: MAX_FAILURES, lockSeconds: LOCK_SECONDS, keyPrefix, busyWaitMs: 0 });
    const [released, failing, other] = await fillPair(throttle, '10.2.2.2');
    await redis.client.del(...(await keysUnder(keyPrefix))); // the key goes while they run
    const fresh = await fillPair(throttle, '10.2.2.2');
    const key = await pairKeyUnder(keyPrefix);
    await released!.release();
    expect(await pairState(key!)).toEqual({ failures: 0, running: MAX_FAILURES });
    expect(await failing!.failed()).toEqual({ pairLockedNow: false, ipLockedNow: false });
    expect(await pairState(key!)).toEqual({ failures: 1, running: MAX_FAILURES });
    await other!.succeeded();
    expect(await pairState(key!)).toEqual({ failures: 0, running: MAX_FAILURES });
    for (const attempt of fresh) await attempt.failed();
    expect(await probe(throttle, 'alice', '10.2.2.2')).toMatchObject({ refused: true, reason: 'pair' });
  });
});

describe('login throttle windows', () => {
  it('keeps the places of attempts running when their window ends, and frees each once', async () => {
    const keyPrefix = 'authd:login:ended';
    const throttle = createLoginThrottle({ redis: client, maxFailures: MAX_FAILURES, lockSeconds: 1, keyPrefix, busyWaitMs: 0 });
    const running = await fillPair(throttle, '10.4.4.4');
    await sleep(1100);
    expect(await probe(throttle, 'alice', '10.4.4.4')).toMatchObject({ refused: true, reason: 'busy' });
    for (const attempt of running) await attempt.release();
    expect(await keysUnder(keyPrefix)).toEqual([]);
    expect(await failTimes(throttle, MAX_FAILURES, 'alice', '10.4.4.4')).toBe(true);
  });
});

describe('login throttle with Redis unreachable', () => {
  it('falls back to counting in this process', async () => {
    const unreachable = createRedis('redis://127.0.0.1:1');
    unreachable.on('error', () => {}); // connection refused, expected
    try {
      const metrics = createMetrics({ defaultMetrics: false });
      const throttle = createLoginThrottle({ redis: unreachable, maxFailures: MAX_FAILURES, lockSeconds: LOCK_SECONDS, metrics });
      expect(await probe(throttle, 'alice', '10.0.0.1')).toEqual({ refused: false });
      expect(await failTimes(throttle, MAX_FAILURES, 'alice', '10.0.0.1')).toBe(true);
      expect(await probe(throttle, 'alice', '10.0.0.1')).toMatchObject({ refused: true, reason: 'pair' });
      expect(await probe(throttle, 'alice', '10.0.0.2')).toEqual({ refused: false });
      await succeed(throttle, 'bob', '10.0.0.1');
      // Six of the seven attempts asked Redis first; the pair's lock, counted here, refused the other without asking.
      expect(await counted(metrics)).toBe(6);
    } finally {
      unreachable.disconnect();
    }
  });
});

describe('login throttle across a Redis outage', () => {
  /** A throttle on a Redis connection of its own, which `cutOff` ends and `reconnect` opens again. */
  const acrossAnOutage = async (
    keyPrefix: string,
    test: (throttle: LoginThrottle, redisConnection: { cutOff(): Promise<void>; reconnect(): Promise<void> }) => Promise<void>,
  ) => {
    const flaky = createRedis(redis.url);
    flaky.on('error', () => undefined);
    try {
      expect(await redisReady(flaky, 5000)).toBe(true);
      const throttle = createLoginThrottle({ redis: flaky, maxFailures: MAX_FAILURES, lockSeconds: LOCK_SECONDS, keyPrefix, busyWaitMs: 0 });
      await test(throttle, {
        async cutOff() {
          const ended = new Promise((resolve) => flaky.once('end', resolve));
          flaky.disconnect();
          await ended;
        },
        async reconnect() {
          await flaky.connect();
          expect(await redisReady(flaky, 5000)).toBe(true);
        },
      });
    } finally {
      flaky.disconnect();
    }
  };

  it('gives a place taken in this process while Redis was down back to this process, never to Redis', async () => {
    const keyPrefix = 'authd:login:outage';
    await acrossAnOutage(keyPrefix, async (throttle, redisConnection) => {
      await failTimes(throttle, MAX_FAILURES - 1, 'alice', '10.4.4.4');
      const key = await pairKeyUnder(keyPrefix);
      expect(await pairState(key!)).toEqual({ failures: MAX_FAILURES - 1, running: 0 });

      await redisConnection.cutOff();
      const duringOutage = await throttle.begin('alice', '10.4.4.4');
      if (duringOutage.refused) throw new Error('refused');
      await redisConnection.reconnect();
      await duringOutage.release();

      // Redis still counts both failures: the next one is the last.
      expect(await pairState(key!)).toEqual({ failures: MAX_FAILURES - 1, running: 0 });
      expect(await fail(throttle, 'alice', '10.4.4.4')).toBe(true);
    });
  });

  it('keeps refusing a pair locked in this process during the outage, which Redis never counted', async () => {
    const keyPrefix = 'authd:login:locked-during-outage';
    await acrossAnOutage(keyPrefix, async (throttle, redisConnection) => {
      await redisConnection.cutOff();
      expect(await failTimes(throttle, MAX_FAILURES, 'alice', '10.5.5.5')).toBe(true);
      await redisConnection.reconnect();

      expect(await keysUnder(keyPrefix)).toEqual([]);
      const refusal = await probe(throttle, 'alice', '10.5.5.5');
      expect(refusal).toMatchObject({ refused: true, reason: 'pair' });
      expect((refusal as LoginRefused).retryAfterSeconds).toBeGreaterThan(LOCK_SECONDS - 5);
      expect(await keysUnder(keyPrefix)).toEqual([]);
      // The pair's user from elsewhere, and others from the same address, are counted in Redis as before.
      expect(await probe(throttle, 'alice', '10.5.5.6')).toEqual({ refused: false });
      expect(await probe(throttle, 'bob', '10.5.5.5')).toEqual({ refused: false });
    });
  });
});

describe('login throttle with Redis answering too late', () => {
  it('frees in Redis the places of a step whose reply timed out once Redis has run it, instead of holding them for holdMs', async () => {
    let delayMs = 0;
    const { client: slow, close } = await proxiedAuthdRedis(redis.url, { delayMs: () => delayMs });
    const metrics = createMetrics({ defaultMetrics: false });
    try {
      const keyPrefix = 'authd:login:late-reply';
      const throttle = createLoginThrottle({ redis: slow, maxFailures: MAX_FAILURES, lockSeconds: LOCK_SECONDS, keyPrefix, busyWaitMs: 0, metrics });
      // Redis holds the scripts (a take and a release run), so each step below is one command.
      const first = await throttle.begin('bob', '10.5.5.6');
      if (!first.refused) await first.release();
      // Each way: Redis runs a command 1.5 s after it was sent, past the client's 1 s timeout.
      delayMs = 1500;
      const attempt = await throttle.begin('alice', '10.5.5.5');
      expect(attempt.refused).toBe(false);
      expect(await counted(metrics)).toBe(1); // the place was taken in this process instead
      // At 1.5 s the take runs in Redis; at 2.5 s the release sent at 1 s, which frees the place.
      const taken: { pair?: unknown; ip?: unknown } = {};
      await waitUntil(async () => {
        const pairKey = await pairKeyUnder(keyPrefix);
        if (pairKey === undefined) return false;
        [taken.pair, taken.ip] = await Promise.all([pairState(pairKey), pairState(`${keyPrefix}:attempts:{10.5.5.5}`)]);
        return true;
      }, 4000);
      expect(taken).toEqual({ pair: { failures: 0, running: 1 }, ip: { failures: 0, running: 1 } });
      await waitUntil(async () => (await keysUnder(keyPrefix)).length === 0, 4000);
      if (!attempt.refused) await attempt.release();
    } finally {
      await close();
    }
  }, 15_000);
});

describe('login throttle after a Redis stall', () => {
  it('never frees a place with a release that reached Redis late, resent once Redis said it lacked the script', async () => {
    const { client: stalling, proxy, close } = await proxiedAuthdRedis(redis.url);
    try {
      const keyPrefix = 'authd:login:noscript';
      const throttle = createLoginThrottle({ redis: stalling, maxFailures: 1, lockSeconds: LOCK_SECONDS, keyPrefix });
      // A take Redis answered too late: its place is this process's, and Redis holds none.
      proxy.stall();
      const first = await throttle.begin('alice', '10.6.6.6');
      expect(first.refused).toBe(false);
      proxy.resume();
      await sleep(100);
      expect(await keysUnder(keyPrefix)).toEqual([]);
      // Redis keeps the take's script and loses the release's (a restart that has seen takes since).
      await redis.client.script('FLUSH');
      const warm = { pair: `${keyPrefix}:warm:{x}:y`, ip: `${keyPrefix}:warm:{x}` };
      await createLoginAttemptsInRedis(redis.authd, { maxPairFailures: 1, maxIpFailures: 21, windowMs: 60_000, holdMs: 30_000 }).take(warm, 'warm-up');
      await redis.client.del(warm.pair, warm.ip);

      // Redis stalls: the next take times out, its release waits behind it, and since this
      // process's counts are busy the attempt asks Redis again while the stall lasts.
      proxy.stall();
      const second = throttle.begin('alice', '10.6.6.6');
      await waitUntil(() => proxy.heldChunks() >= 3, 3000);
      expect(proxy.heldChunks()).toBe(3);
      proxy.resume();
      const attempt = await second;
      expect(attempt.refused).toBe(false);
      await sleep(100); // the release, resent as EVAL after NOSCRIPT, has run
      // The attempt holds its place in Redis: the late release freed only what the first try took.
      expect(await pairState((await pairKeyUnder(keyPrefix))!)).toEqual({ failures: 0, running: 1 });
      for (const running of [first, attempt]) if (!running.refused) await running.release();
    } finally {
      await close();
    }
  }, 15_000);
});

describe('login throttle with Redis connected but not answering', () => {
  it('falls back to counting in this process instead of hanging the login', async () => {
    const { client: hung, proxy, close } = await proxiedAuthdRedis(redis.url);
    try {
      const throttle = createLoginThrottle({ redis: hung, maxFailures: 1, lockSeconds: LOCK_SECONDS, keyPrefix: 'authd:login:hung' });
      proxy.silence();
      expect(await fail(throttle, 'alice', '10.3.3.3')).toBe(true);
      expect(await probe(throttle, 'alice', '10.3.3.3')).toMatchObject({ refused: true, reason: 'pair' });
    } finally {
      await close();
    }
  }, 15_000);
});
