import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import fc from 'fast-check';
import { createLoginAttemptsInMemory, type AttemptKeys, type LoginAttempts, type LoginAttemptsOptions } from '../../src/stores/login-attempts.js';
import { createLoginAttemptsInRedis } from '../../src/stores/redis-login-attempts.js';
import { leaseAuthdRedis, type AuthdTestRedis } from '../support/redis.js';

const MAX_FAILURES = 3;
const MAX_IP_FAILURES = 7;

let redis: AuthdTestRedis;
beforeAll(async () => {
  redis = await leaseAuthdRedis();
});
afterAll(() => redis.release());

let ips = 0;
/** An IP nobody else in this file uses. */
const newIp = () => `authd:test:attempts:{${(ips += 1)}}`;
/** The keys of user `n` at `ip`. */
const keysAt = (ip: string, n: number): AttemptKeys => ({ pair: `${ip}:user${n}`, ip });
/** A pair, and an IP, nobody else in this file uses. */
const newPair = () => keysAt(newIp(), 0);

const backends: [string, (options: LoginAttemptsOptions) => LoginAttempts][] = [
  ['Redis', (options) => createLoginAttemptsInRedis(redis.authd, options)],
  ['memory', (options) => createLoginAttemptsInMemory(options)],
];

describe.each(backends)('login attempts (%s)', (_backend, create) => {
  const attempts = ({ windowMs = 60_000, holdMs = 30_000, maxFailures = MAX_FAILURES, maxIpFailures = MAX_IP_FAILURES } = {}) =>
    create({ maxPairFailures: maxFailures, maxIpFailures, windowMs, holdMs });

  /** Places `n` new attempts; throws unless each was placed. */
  const place = async (counts: LoginAttempts, pair: AttemptKeys, n: number): Promise<string[]> => {
    const placed: string[] = [];
    for (let i = 0; i < n; i += 1) {
      const attempt = randomUUID();
      const taken = await counts.take(pair, attempt);
      if (taken.outcome !== 'placed') throw new Error(`attempt ${i} was ${taken.outcome}`);
      placed.push(attempt);
    }
    return placed;
  };
  const outcome = async (counts: LoginAttempts, pair: AttemptKeys) => (await counts.take(pair, randomUUID())).outcome;

  it('places attempts until failures and running attempts fill the window, and takes nothing when busy', async () => {
    const counts = attempts();
    const pair = newPair();
    const first = randomUUID();
    expect(await counts.take(pair, first)).toEqual({ outcome: 'placed', msLeft: expect.any(Number) });
    await place(counts, pair, MAX_FAILURES - 1);
    const busy = await counts.take(pair, randomUUID());
    expect(busy.outcome).toBe('busy');
    expect(busy.msLeft).toBeGreaterThan(59_000);
    expect(busy.msLeft).toBeLessThanOrEqual(60_000);
    // Ten busy answers later, one release frees exactly one place.
    for (let i = 0; i < 10; i += 1) expect(await outcome(counts, pair)).toBe('busy');
    await counts.released(pair, first);
    expect(await outcome(counts, pair)).toBe('placed');
    expect(await outcome(counts, pair)).toBe('busy');
  });

  it('frees an attempt\'s own place once, however often its end arrives', async () => {
    const counts = attempts();
    const pair = newPair();
    const [attempt] = await place(counts, pair, MAX_FAILURES);
    // Asking again for a placed attempt (a command sent twice) takes no second place.
    expect(await counts.take(pair, attempt!)).toMatchObject({ outcome: 'placed' });
    await counts.released(pair, attempt!);
    await counts.released(pair, attempt!);
    await counts.succeeded(pair, attempt!);
    // Two still run: one place, not two or three.
    expect(await outcome(counts, pair)).toBe('placed');
    expect(await outcome(counts, pair)).toBe('busy');
  });

  it('locks at the failure that reaches maxFailures, for the whole window from then', async () => {
    const counts = attempts({ windowMs: 3000 });
    const pair = newPair();
    const placed = await place(counts, pair, MAX_FAILURES);
    await sleep(1500);
    expect(await counts.failed(pair, placed[0]!)).toEqual({ pairLockedNow: false, ipLockedNow: false });
    expect(await counts.failed(pair, placed[1]!)).toEqual({ pairLockedNow: false, ipLockedNow: false });
    expect(await counts.failed(pair, placed[2]!)).toEqual({ pairLockedNow: true, ipLockedNow: false });
    const locked = await counts.take(pair, randomUUID());
    expect(locked.outcome).toBe('pair-locked');
    expect(locked.msLeft).toBeGreaterThan(2400);
    await sleep(2100); // past the first window's end, within the lock's
    expect(await outcome(counts, pair)).toBe('pair-locked');
    await sleep(1500);
    expect(await outcome(counts, pair)).toBe('placed');
  });

  it('clears failures and a lock on success, and keeps the places of attempts still running', async () => {
    const counts = attempts();
    const pair = newPair();
    const [failing, running, succeeding] = await place(counts, pair, MAX_FAILURES);
    await counts.failed(pair, failing!);
    await counts.succeeded(pair, succeeding!);
    // One attempt still runs: two places free.
    await place(counts, pair, 2);
    expect(await outcome(counts, pair)).toBe('busy');
    await counts.released(pair, running!);
    expect(await outcome(counts, pair)).toBe('placed');
  });

  it('carries running attempts into the next window, where their failures count', async () => {
    const counts = attempts({ windowMs: 1200 });
    const pair = newPair();
    await place(counts, pair, 1);
    const [old, oldFailing] = await place(counts, pair, 2);
    await sleep(1350);
    // The old window's three attempts still run and hold their places.
    expect(await outcome(counts, pair)).toBe('busy');
    await counts.released(pair, old!);
    const [fresh] = await place(counts, pair, 1);
    expect(await outcome(counts, pair)).toBe('busy');
    expect(await counts.failed(pair, oldFailing!)).toEqual({ pairLockedNow: false, ipLockedNow: false });
    expect(await counts.failed(pair, fresh!)).toEqual({ pairLockedNow: false, ipLockedNow: false });
    expect(await counts.failed(pair, randomUUID())).toEqual({ pairLockedNow: true, ipLockedNow: false });
  });

  it('gives up a place held longer than holdMs, and still counts the attempt\'s failure', async () => {
    const counts = attempts({ holdMs: 600 });
    const pair = newPair();
    const [lost, late] = await place(counts, pair, MAX_FAILURES);
    expect(await outcome(counts, pair)).toBe('busy');
    await sleep(650);
    await place(counts, pair, MAX_FAILURES);
    expect(await outcome(counts, pair)).toBe('busy');
    await counts.released(pair, lost!); // its place is gone: nothing more to free
    expect(await outcome(counts, pair)).toBe('busy');
    expect(await counts.failed(pair, late!)).toEqual({ pairLockedNow: false, ipLockedNow: false });
  });

  it('opens a window for a failure whose pair has none, and locks there when that is the limit', async () => {
    const counts = attempts({ maxFailures: 1 });
    const pair = newPair();
    expect(await counts.failed(pair, randomUUID())).toEqual({ pairLockedNow: true, ipLockedNow: false });
    expect(await outcome(counts, pair)).toBe('pair-locked');
  });

  it('counts an IP\'s attempts across its pairs: places up to its limit, then busy, and a lock at its limit\'s failure', async () => {
    const counts = attempts({ windowMs: 3000 });
    const ip = newIp();
    // One attempt for each of MAX_IP_FAILURES users fills the IP, though no pair is full.
    const running = await Promise.all(Array.from({ length: MAX_IP_FAILURES }, (_, n) => place(counts, keysAt(ip, n), 1)));
    expect(await outcome(counts, keysAt(ip, MAX_IP_FAILURES))).toBe('busy');
    expect(await outcome(counts, keysAt(ip, 0))).toBe('busy');
    expect(await outcome(counts, keysAt(newIp(), 0))).toBe('placed');
    // A success frees its place and keeps the IP's failures; a release frees its place.
    await counts.succeeded(keysAt(ip, 0), running[0]![0]!);
    await counts.released(keysAt(ip, 1), running[1]![0]!);
    const [late] = await place(counts, keysAt(ip, 0), 1);
    await place(counts, keysAt(ip, 1), 1);
    expect(await outcome(counts, keysAt(ip, 2))).toBe('busy');
    await sleep(1500);
    for (let n = 2; n < MAX_IP_FAILURES; n += 1) {
      expect(await counts.failed(keysAt(ip, n), running[n]![0]!)).toEqual({ pairLockedNow: false, ipLockedNow: false });
    }
    await counts.succeeded(keysAt(ip, 0), late!);
    expect(await counts.failed(keysAt(ip, 7), randomUUID())).toEqual({ pairLockedNow: false, ipLockedNow: false });
    expect(await counts.failed(keysAt(ip, 8), randomUUID())).toEqual({ pairLockedNow: false, ipLockedNow: true });
    // Locked for every user, the IP first, for a whole window from the failure that locked it.
    const locked = await counts.take(keysAt(ip, 2), randomUUID()); // its pair's window ends sooner
    expect(locked.outcome).toBe('ip-locked');
    expect(locked.msLeft).toBeGreaterThan(2400);
    await sleep(2100);
    expect(await outcome(counts, keysAt(ip, 11))).toBe('ip-locked');
    await sleep(1500);
    expect(await outcome(counts, keysAt(ip, 11))).toBe('placed');
  });

  it('answers as the rules say, whatever the order of attempts and endings', async () => {
    const counts = attempts();
    const USERS = 4;
    const step = fc.oneof(
      fc.record({ op: fc.constant('take' as const), user: fc.nat({ max: USERS - 1 }), which: fc.constant(0) }),
      fc.record({ op: fc.constant('failed' as const), user: fc.constant(0), which: fc.nat() }),
      fc.record({ op: fc.constantFrom('retake' as const, 'succeeded' as const, 'released' as const), user: fc.constant(0), which: fc.nat() }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 20, maxLength: 80 }), async (steps) => {
        const ip = newIp();
        // The rules, within one window, for each user's pair and for the IP they share: places
        // while the failures and running attempts of both are fewer than their limits, a lock
        // from the failure that reaches a limit, a success clearing its pair's failures, and an
        // attempt's end freeing its own places only (`ended` attempts hold none).
        const pairs = Array.from({ length: USERS }, () => ({ failures: 0, running: new Set<string>() }));
        const shared = { failures: 0, running: new Set<string>() };
        const known: { attempt: string; user: number }[] = [];
        for (const { op, user: drawn, which } of steps) {
          const { attempt, user } = op === 'take' || known.length === 0 ? { attempt: randomUUID(), user: drawn } : known[which % known.length]!;
          known.push({ attempt, user });
          const keys = keysAt(ip, user);
          const pair = pairs[user]!;
          if (op === 'take' || op === 'retake') {
            const full = pair.failures + pair.running.size >= MAX_FAILURES || shared.failures + shared.running.size >= MAX_IP_FAILURES;
            const expected = pair.running.has(attempt)
              ? 'placed'
              : shared.failures >= MAX_IP_FAILURES
                ? 'ip-locked'
                : pair.failures >= MAX_FAILURES
                  ? 'pair-locked'
                  : full
                    ? 'busy'
                    : 'placed';
            expect((await counts.take(keys, attempt)).outcome).toBe(expected);
            if (expected === 'placed') {
              pair.running.add(attempt);
              shared.running.add(attempt);
            }
            continue;
          }
          pair.running.delete(attempt);
          shared.running.delete(attempt);
          if (op === 'failed') {
            const pairLockedNow = pair.failures + 1 === MAX_FAILURES;
            const ipLockedNow = shared.failures + 1 === MAX_IP_FAILURES;
            pair.failures = Math.min(pair.failures + 1, MAX_FAILURES);
            shared.failures = Math.min(shared.failures + 1, MAX_IP_FAILURES);
            expect(await counts.failed(keys, attempt)).toEqual({ pairLockedNow, ipLockedNow });
          } else {
            if (op === 'succeeded') pair.failures = 0;
            await counts[op](keys, attempt);
          }
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe('login attempts in Redis', () => {
  const counts = () => createLoginAttemptsInRedis(redis.authd, { maxPairFailures: MAX_FAILURES, maxIpFailures: MAX_IP_FAILURES, windowMs: 60_000, holdMs: 30_000 });
  const attemptFields = async (key: string) => Object.keys(await redis.client.hgetall(key)).filter((field) => field.startsWith('a:'));

  it('keep one hash per pair and per IP, alive as long as a window or a hold, and none once nothing counts', async () => {
    const keys = newPair();
    const attempt = randomUUID();
    await counts().take(keys, attempt);
    for (const key of [keys.pair, keys.ip]) {
      expect(Object.keys(await redis.client.hgetall(key)).sort()).toEqual([`a:${attempt}`, 'e', 'f']);
      const ttl = await redis.client.pttl(key);
      expect(ttl).toBeGreaterThan(59_000);
      expect(ttl).toBeLessThanOrEqual(60_000);
    }
    await counts().released(keys, attempt);
    expect(await redis.client.exists(keys.pair, keys.ip)).toBe(0);
  });

  it('write nothing for an attempt refused as busy or locked, however often it asks', async () => {
    const keys = newPair();
    const placed = await Promise.all(Array.from({ length: MAX_FAILURES }, async () => {
      const attempt = randomUUID();
      await counts().take(keys, attempt);
      return attempt;
    }));
    const watcher = redis.client.duplicate();
    try {
      /** Whether `step` left both keys untouched: a transaction WATCHing them runs only if so. */
      const untouched = async (step: () => Promise<unknown>) => {
        await watcher.watch(keys.pair, keys.ip);
        await step();
        return (await watcher.multi().ping().exec()) !== null;
      };
      expect(await untouched(async () => expect((await counts().take(keys, randomUUID())).outcome).toBe('busy'))).toBe(true);
      for (const attempt of placed) await counts().failed(keys, attempt);
      expect(await untouched(async () => expect((await counts().take(keys, randomUUID())).outcome).toBe('pair-locked'))).toBe(true);
      expect(await untouched(() => counts().released(keys, randomUUID()))).toBe(true);
      // A step that changes a count does touch it.
      expect(await untouched(() => counts().failed(keys, randomUUID()))).toBe(false);
    } finally {
      watcher.disconnect();
    }
  });

  it('write back what time changed at any step: an ended window\'s count, and no key once nothing counts', async () => {
    const short = createLoginAttemptsInRedis(redis.authd, { maxPairFailures: MAX_FAILURES, maxIpFailures: MAX_IP_FAILURES, windowMs: 2500, holdMs: 4500 });
    const keys = newPair();
    await short.take(keys, 'running');
    await short.failed(keys, 'failed');
    await sleep(3250); // the window has ended; the running attempt's hold has not
    await short.released(keys, 'unknown'); // changes nothing itself
    for (const key of [keys.pair, keys.ip]) expect(await redis.client.hget(key, 'f')).toBe('0');
    await sleep(1750); // the hold has ended too, the new window (till about 5.75 s) has not
    await short.released(keys, 'unknown');
    expect(await redis.client.exists(keys.pair, keys.ip)).toBe(0);
  });

  it('leave fields they do not know alone (another version\'s), and go on counting', async () => {
    const keys = newPair();
    await redis.client.hset(keys.pair, 'w', 'a-window-id', 'r', '2');
    await redis.client.pexpire(keys.pair, 60_000);
    const [first, second] = [randomUUID(), randomUUID()];
    expect((await counts().take(keys, first)).outcome).toBe('placed');
    expect(await counts().failed(keys, first)).toEqual({ pairLockedNow: false, ipLockedNow: false });
    await counts().take(keys, second);
    expect(await redis.client.hgetall(keys.pair)).toMatchObject({ w: 'a-window-id', r: '2', f: '1', [`a:${second}`]: expect.any(String) });
    expect(await redis.client.hgetall(keys.ip)).toMatchObject({ f: '1', [`a:${second}`]: expect.any(String) });
  });

  it('run after Redis has forgotten their scripts', async () => {
    const keys = newPair();
    await counts().take(keys, randomUUID());
    await redis.client.script('FLUSH');
    expect((await counts().take(keys, randomUUID())).outcome).toBe('placed');
    expect(await attemptFields(keys.pair)).toHaveLength(2);
    expect(await attemptFields(keys.ip)).toHaveLength(2);
  });
});
