import { setTimeout as sleep } from 'node:timers/promises';
import fc from 'fast-check';
import { createPairAttemptsInMemory, type PairAttempts, type PairAttemptsOptions } from '../../src/stores/pair-attempts.js';
import { createPairAttemptsInRedis } from '../../src/stores/redis-pair-attempts.js';
import { leaseAuthdRedis, type AuthdTestRedis } from '../support/redis.js';

const MAX_FAILURES = 3;

let redis: AuthdTestRedis;
beforeAll(async () => {
  redis = await leaseAuthdRedis();
});
afterAll(() => redis.release());

let pairs = 0;
/** A pair nobody else in this file uses. */
const newPair = () => `authd:test:attempts:${(pairs += 1)}`;

const backends: [string, (options: PairAttemptsOptions) => PairAttempts][] = [
  ['Redis', (options) => createPairAttemptsInRedis(redis.authd, options)],
  ['memory', (options) => createPairAttemptsInMemory(options)],
];

describe.each(backends)('pair attempts (%s)', (_backend, create) => {
  const attempts = (windowMs = 60_000) => create({ maxFailures: MAX_FAILURES, windowMs });

  /** Places `n` attempts; throws unless each was placed. */
  const place = async (counts: PairAttempts, pair: string, n: number): Promise<string[]> => {
    const windows: string[] = [];
    for (let i = 0; i < n; i += 1) {
      const taken = await counts.take(pair);
      if (taken.outcome !== 'placed') throw new Error(`attempt ${i} was ${taken.outcome}`);
      windows.push(taken.window);
    }
    return windows;
  };

  it('places attempts in one window until failures and running attempts fill it, and takes nothing when busy', async () => {
    const counts = attempts();
    const pair = newPair();
    const first = await counts.take(pair);
    expect(first).toEqual({ outcome: 'placed', window: expect.any(String), msLeft: 60_000 });
    await place(counts, pair, MAX_FAILURES - 1);
    const busy = await counts.take(pair);
    expect(busy).toMatchObject({ outcome: 'busy', window: first.window });
    expect(busy.msLeft).toBeGreaterThan(59_000);
    expect(busy.msLeft).toBeLessThanOrEqual(60_000);
    // Ten busy answers later, one release frees exactly one place.
    for (let i = 0; i < 10; i += 1) expect((await counts.take(pair)).outcome).toBe('busy');
    await counts.released(pair, first.window);
    expect((await counts.take(pair)).outcome).toBe('placed');
    expect((await counts.take(pair)).outcome).toBe('busy');
  });

  it('locks at the failure that reaches maxFailures, for the whole window from then', async () => {
    const counts = attempts(600);
    const pair = newPair();
    const windows = await place(counts, pair, MAX_FAILURES);
    await sleep(300);
    expect(await counts.failed(pair, windows[0]!)).toEqual({ lockedNow: false });
    expect(await counts.failed(pair, windows[1]!)).toEqual({ lockedNow: false });
    expect(await counts.failed(pair, windows[2]!)).toEqual({ lockedNow: true });
    const locked = await counts.take(pair);
    expect(locked.outcome).toBe('locked');
    expect(locked.msLeft).toBeGreaterThan(500);
    await sleep(400); // past the first window's end, within the lock's
    expect((await counts.take(pair)).outcome).toBe('locked');
  });

  it('clears failures and a lock on success, and keeps the places of attempts still running', async () => {
    const counts = attempts();
    const pair = newPair();
    const [failing, running, succeeding] = await place(counts, pair, MAX_FAILURES);
    await counts.failed(pair, failing!);
    await counts.succeeded(pair, succeeding!);
    // One attempt still runs: two places free.
    await place(counts, pair, 2);
    expect((await counts.take(pair)).outcome).toBe('busy');
    await counts.released(pair, running!);
    expect((await counts.take(pair)).outcome).toBe('placed');
  });

  it('counts a failure that ends after its window in the pair\'s next window, and frees nothing there', async () => {
    const counts = attempts(400);
    const pair = newPair();
    const [old, oldFailing] = await place(counts, pair, 2);
    await sleep(450);
    const fresh = await place(counts, pair, MAX_FAILURES - 1);
    expect(fresh[0]).not.toBe(old);
    await counts.released(pair, old!);
    await counts.succeeded(pair, old!); // clears failures, frees nothing
    expect((await counts.take(pair)).outcome).toBe('placed');
    expect((await counts.take(pair)).outcome).toBe('busy');
    expect(await counts.failed(pair, oldFailing!)).toEqual({ lockedNow: false });
    expect((await counts.take(pair)).outcome).toBe('busy');
  });

  it('opens a window for a failure whose pair has none, and locks there when that is the limit', async () => {
    const counts = create({ maxFailures: 1, windowMs: 60_000 });
    const pair = newPair();
    expect(await counts.failed(pair, 'a window that ended')).toEqual({ lockedNow: true });
    expect((await counts.take(pair)).outcome).toBe('locked');
  });

  it('answers as the rules say, whatever the order of attempts and endings', async () => {
    const counts = attempts();
    const step = fc.oneof(fc.constant({ op: 'take' as const }), fc.record({ op: fc.constantFrom('failed' as const, 'succeeded' as const, 'released' as const), which: fc.nat() }));
    await fc.assert(
      fc.asyncProperty(fc.array(step, { maxLength: 40 }), async (steps) => {
        const pair = newPair();
        // The rules, within one window: places while failures and running attempts are fewer than
        // MAX_FAILURES, a lock from the failure that reaches it, a success clearing the failures.
        let failures = 0;
        const running: string[] = [];
        for (const s of steps) {
          if (s.op === 'take') {
            const expected = failures >= MAX_FAILURES ? 'locked' : failures + running.length >= MAX_FAILURES ? 'busy' : 'placed';
            const taken = await counts.take(pair);
            expect(taken.outcome).toBe(expected);
            if (taken.outcome === 'placed') running.push(taken.window);
            continue;
          }
          if (running.length === 0) continue;
          const [window] = running.splice(s.which % running.length, 1);
          if (s.op === 'failed') {
            const lockedNow = failures < MAX_FAILURES && failures + 1 === MAX_FAILURES;
            failures = Math.min(failures + 1, MAX_FAILURES);
            expect(await counts.failed(pair, window!)).toEqual({ lockedNow });
          } else {
            if (s.op === 'succeeded') failures = 0;
            await counts[s.op](pair, window!);
          }
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe('pair attempts in Redis', () => {
  it('keep one hash per pair, with the window\'s TTL, and none once nothing is counted', async () => {
    const counts = createPairAttemptsInRedis(redis.authd, { maxFailures: MAX_FAILURES, windowMs: 60_000 });
    const pair = newPair();
    const { window } = await counts.take(pair);
    expect(await redis.client.hgetall(pair)).toEqual({ w: window, f: '0', r: '1' });
    const ttl = await redis.client.pttl(pair);
    expect(ttl).toBeGreaterThan(59_000);
    expect(ttl).toBeLessThanOrEqual(60_000);
    await counts.released(pair, window);
    expect(await redis.client.exists(pair)).toBe(0);
  });

  it('run after Redis has forgotten their scripts', async () => {
    const counts = createPairAttemptsInRedis(redis.authd, { maxFailures: MAX_FAILURES, windowMs: 60_000 });
    const pair = newPair();
    await counts.take(pair);
    await redis.client.script('FLUSH');
    expect((await counts.take(pair)).outcome).toBe('placed');
    expect(await redis.client.hget(pair, 'r')).toBe('2');
  });
});
