import { randomUUID } from 'node:crypto';
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
  const attempts = ({ windowMs = 60_000, holdMs = 30_000, maxFailures = MAX_FAILURES } = {}) => create({ maxFailures, windowMs, holdMs });

  /** Places `n` new attempts; throws unless each was placed. */
  const place = async (counts: PairAttempts, pair: string, n: number): Promise<string[]> => {
    const placed: string[] = [];
    for (let i = 0; i < n; i += 1) {
      const attempt = randomUUID();
      const taken = await counts.take(pair, attempt);
      if (taken.outcome !== 'placed') throw new Error(`attempt ${i} was ${taken.outcome}`);
      placed.push(attempt);
    }
    return placed;
  };
  const outcome = async (counts: PairAttempts, pair: string) => (await counts.take(pair, randomUUID())).outcome;

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
    const counts = attempts({ windowMs: 1000 });
    const pair = newPair();
    const placed = await place(counts, pair, MAX_FAILURES);
    await sleep(500);
    expect(await counts.failed(pair, placed[0]!)).toEqual({ lockedNow: false });
    expect(await counts.failed(pair, placed[1]!)).toEqual({ lockedNow: false });
    expect(await counts.failed(pair, placed[2]!)).toEqual({ lockedNow: true });
    const locked = await counts.take(pair, randomUUID());
    expect(locked.outcome).toBe('locked');
    expect(locked.msLeft).toBeGreaterThan(800);
    await sleep(700); // past the first window's end, within the lock's
    expect(await outcome(counts, pair)).toBe('locked');
    await sleep(500);
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
    const counts = attempts({ windowMs: 400 });
    const pair = newPair();
    await place(counts, pair, 1);
    const [old, oldFailing] = await place(counts, pair, 2);
    await sleep(450);
    // The old window's three attempts still run and hold their places.
    expect(await outcome(counts, pair)).toBe('busy');
    await counts.released(pair, old!);
    const [fresh] = await place(counts, pair, 1);
    expect(await outcome(counts, pair)).toBe('busy');
    expect(await counts.failed(pair, oldFailing!)).toEqual({ lockedNow: false });
    expect(await counts.failed(pair, fresh!)).toEqual({ lockedNow: false });
    expect(await counts.failed(pair, randomUUID())).toEqual({ lockedNow: true });
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
    expect(await counts.failed(pair, late!)).toEqual({ lockedNow: false });
  });

  it('opens a window for a failure whose pair has none, and locks there when that is the limit', async () => {
    const counts = attempts({ maxFailures: 1 });
    const pair = newPair();
    expect(await counts.failed(pair, randomUUID())).toEqual({ lockedNow: true });
    expect(await outcome(counts, pair)).toBe('locked');
  });

  it('answers as the rules say, whatever the order of attempts and endings', async () => {
    const counts = attempts();
    const step = fc.oneof(
      fc.constant({ op: 'take' as const, which: 0 }),
      fc.record({ op: fc.constantFrom('retake' as const, 'failed' as const, 'succeeded' as const, 'released' as const), which: fc.nat() }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(step, { maxLength: 40 }), async (steps) => {
        const pair = newPair();
        // The rules, within one window: places while failures and running attempts are fewer than
        // MAX_FAILURES, a lock from the failure that reaches it, a success clearing the failures,
        // and an attempt's end freeing its own place only (`ended` attempts hold none).
        let failures = 0;
        const running = new Set<string>();
        const known: string[] = [];
        for (const { op, which } of steps) {
          const attempt = op === 'take' || known.length === 0 ? randomUUID() : known[which % known.length]!;
          known.push(attempt);
          if (op === 'take' || op === 'retake') {
            const expected = running.has(attempt) ? 'placed' : failures >= MAX_FAILURES ? 'locked' : failures + running.size >= MAX_FAILURES ? 'busy' : 'placed';
            expect((await counts.take(pair, attempt)).outcome).toBe(expected);
            if (expected === 'placed') running.add(attempt);
            continue;
          }
          running.delete(attempt);
          if (op === 'failed') {
            const lockedNow = failures + 1 === MAX_FAILURES;
            failures = Math.min(failures + 1, MAX_FAILURES);
            expect(await counts.failed(pair, attempt)).toEqual({ lockedNow });
          } else {
            if (op === 'succeeded') failures = 0;
            await counts[op](pair, attempt);
          }
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe('pair attempts in Redis', () => {
  const counts = () => createPairAttemptsInRedis(redis.authd, { maxFailures: MAX_FAILURES, windowMs: 60_000, holdMs: 30_000 });

  it('keep one hash per pair, alive as long as a window or a hold, and none once nothing counts', async () => {
    const pair = newPair();
    const attempt = randomUUID();
    await counts().take(pair, attempt);
    expect(Object.keys(await redis.client.hgetall(pair)).sort()).toEqual([`a:${attempt}`, 'e', 'f']);
    const ttl = await redis.client.pttl(pair);
    expect(ttl).toBeGreaterThan(59_000);
    expect(ttl).toBeLessThanOrEqual(60_000);
    await counts().released(pair, attempt);
    expect(await redis.client.exists(pair)).toBe(0);
  });

  it('leave fields they do not know alone (another version\'s), and go on counting', async () => {
    const pair = newPair();
    await redis.client.hset(pair, 'w', 'a-window-id', 'r', '2');
    await redis.client.pexpire(pair, 60_000);
    const [first, second] = [randomUUID(), randomUUID()];
    expect((await counts().take(pair, first)).outcome).toBe('placed');
    expect(await counts().failed(pair, first)).toEqual({ lockedNow: false });
    await counts().take(pair, second);
    expect(await redis.client.hgetall(pair)).toMatchObject({ w: 'a-window-id', r: '2', f: '1', [`a:${second}`]: expect.any(String) });
  });

  it('run after Redis has forgotten their scripts', async () => {
    const pair = newPair();
    await counts().take(pair, randomUUID());
    await redis.client.script('FLUSH');
    expect((await counts().take(pair, randomUUID())).outcome).toBe('placed');
    expect(Object.keys(await redis.client.hgetall(pair)).filter((field) => field.startsWith('a:'))).toHaveLength(2);
  });
});
