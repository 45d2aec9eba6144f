import { availableParallelism } from 'node:os';
import { jest } from '@jest/globals';
import argon2 from 'argon2';
import { createMetrics } from '../../src/observability/metrics.js';
import { refusesHugeAllocations, withUnallocatableMemory } from '../support/memory.js';
import { createPasswordHasher, HashAbandonedError, HasherBusyError, HasherFailedError, MAX_PASSWORD_BYTES } from '../../src/passwords/password-hasher.js';

/** Cheap enough for tests; only the tests about cost use another one. */
const LOW = { memoryCost: 1024, timeCost: 1, parallelism: 1 };

/** The PHC parameters of a hash, whatever their order (node-argon2 writes m,p,t; the reference m,t,p). */
const paramsOf = (hash: string) => Object.fromEntries(hash.split('$')[3]!.split(',').map((pair) => pair.split('=')));

describe('password hasher', () => {
  const hasher = createPasswordHasher({ cost: LOW });

  it('hashes with argon2id at the configured cost and verifies', async () => {
    const hash = await hasher.hash('s3cret');
    expect(hash).toMatch(/^\$argon2id\$v=19\$m=\d+,[pt]=\d+,[pt]=\d+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/);
    expect(paramsOf(hash)).toEqual({ m: '1024', t: '1', p: '1' });
    expect(await hasher.verify(hash, 's3cret')).toEqual({ ok: true, needsRehash: false });
    expect(await hasher.verify(hash, 'S3cret')).toEqual({ ok: false, needsRehash: false });
  });

  it('says a hash of another cost needs re-hashing, only after a good password', async () => {
    const older = await createPasswordHasher({ cost: { ...LOW, memoryCost: 2048, timeCost: 2 } }).hash('s3cret');
    expect(paramsOf(older)).toEqual({ m: '2048', t: '2', p: '1' });
    expect(await hasher.verify(older, 's3cret')).toEqual({ ok: true, needsRehash: true });
    expect(await hasher.verify(older, 'wrong')).toEqual({ ok: false, needsRehash: false });
  });

  it('tells hashes needing a re-hash from current ones in any order, whatever it answered before', async () => {
    const fresh = createPasswordHasher({ cost: LOW });
    const current = await fresh.hash('s3cret');
    const otherCosts = await Promise.all(
      [{ timeCost: 2 }, { memoryCost: 2048 }, { parallelism: 2 }].map((change) => createPasswordHasher({ cost: { ...LOW, ...change } }).hash('s3cret')),
    );
    const argon2i = await argon2.hash('s3cret', { type: argon2.argon2i, ...LOW });
    const verdicts = [];
    for (const hash of [current, ...otherCosts, ...otherCosts, current, argon2i, argon2i, current]) verdicts.push((await fresh.verify(hash, 's3cret')).needsRehash);
    expect(verdicts).toEqual([false, true, true, true, true, true, true, false, true, true, false]);
  });

  it('says a hash of another argon2 type at the same cost needs re-hashing', async () => {
    const argon2i = await argon2.hash('s3cret', { type: argon2.argon2i, ...LOW });
    expect(await hasher.verify(argon2i, 's3cret')).toEqual({ ok: true, needsRehash: true });
  });

  it('verifies hashes in the reference parameter order (m,t,p) too, as other argon2 libraries write them', async () => {
    const hash = await hasher.hash('s3cret');
    const referenceOrder = hash.replace('$m=1024,p=1,t=1$', '$m=1024,t=1,p=1$');
    expect(referenceOrder).toContain('$m=1024,t=1,p=1$');
    expect(await hasher.verify(referenceOrder, 's3cret')).toEqual({ ok: true, needsRehash: false });
  });

  (refusesHugeAllocations ? it : it.skip)('throws HasherFailedError, not a wrong password, when argon2 cannot get the memory a check needs', async () => {
    // The real allocation fails, as it does on a host out of memory.
    const hash = withUnallocatableMemory(await hasher.hash('s3cret'));
    const failed = await hasher.verify(hash, 's3cret').then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failed).toBeInstanceOf(HasherFailedError);
    expect(failed).toMatchObject({ message: 'argon2 could not run: Memory allocation error' });
    await expect(createPasswordHasher({ cost: { ...LOW, memoryCost: 2 ** 32 - 1 } }).hash('s3cret')).rejects.toBeInstanceOf(HasherFailedError);
  });

  it('treats a malformed stored hash, an empty and an oversized password as a plain failure', async () => {
    const hash = await hasher.hash('s3cret');
    for (const malformed of ['not-a-hash', '', '$argon2id$v=19$m=1024,t=1,p=1$abc', hash.slice(0, -10)]) {
      expect(await hasher.verify(malformed, 's3cret')).toEqual({ ok: false, needsRehash: false });
    }
    expect(await hasher.verify(hash, '')).toEqual({ ok: false, needsRehash: false });
    expect(await hasher.verify(hash, 'x'.repeat(MAX_PASSWORD_BYTES + 1))).toEqual({ ok: false, needsRehash: false });
    // Counted in bytes: 342 three-byte characters are 1026 bytes.
    expect(await hasher.verify(hash, '€'.repeat(342))).toEqual({ ok: false, needsRehash: false });
    await expect(hasher.hash('')).rejects.toThrow(RangeError);
    await expect(hasher.hash('x'.repeat(MAX_PASSWORD_BYTES + 1))).rejects.toThrow(RangeError);
    const longest = await hasher.hash('x'.repeat(MAX_PASSWORD_BYTES));
    expect(await hasher.verify(longest, 'x'.repeat(MAX_PASSWORD_BYTES))).toEqual({ ok: true, needsRehash: false });
  });

  it('verifies against a dummy hash for users that do not exist: one argon2id verification at the configured cost', async () => {
    // Watched, not replaced: the verification still runs. A dummy check that did less work than a
    // real one would tell unknown users from known ones by the time it takes.
    const verifications = jest.spyOn(argon2, 'verify');
    try {
      await expect(hasher.verifyDummy('anything')).resolves.toBeUndefined();
      await expect(hasher.verifyDummy('anything else')).resolves.toBeUndefined();
      expect(verifications.mock.calls.map(([hash, password]) => [hash.split('$')[1], paramsOf(hash), password])).toEqual([
        ['argon2id', { m: '1024', t: '1', p: '1' }, 'anything'],
        ['argon2id', { m: '1024', t: '1', p: '1' }, 'anything else'],
      ]);
    } finally {
      verifications.mockRestore();
    }
  });
});

describe('a wrong password for a hash of another cost', () => {
  const CURRENT = { ...LOW, memoryCost: 2048, timeCost: 2 };

  it('costs the dummy\'s work too when the hash costs less than the current cost, or cannot be read', async () => {
    const current = createPasswordHasher({ cost: CURRENT });
    await current.prepare();
    const cheaper = await createPasswordHasher({ cost: LOW }).hash('s3cret');
    const dearer = await createPasswordHasher({ cost: { ...LOW, memoryCost: 4096, timeCost: 2 } }).hash('s3cret');
    // The same memory and passes on two lanes: checked on two threads, in about half the time.
    const moreLanes = await createPasswordHasher({ cost: { ...CURRENT, parallelism: 2 } }).hash('s3cret');
    // Written in the reference order (m,t,p), as other argon2 libraries do: read the same.
    const cheaperInReferenceOrder = cheaper.replace('$m=1024,p=1,t=1$', '$m=1024,t=1,p=1$');
    const same = await current.hash('s3cret');
    const verifications = jest.spyOn(argon2, 'verify');
    const work = () => verifications.mock.calls.map(([hash]) => (hash.startsWith('$argon2') ? `${paramsOf(hash)['m']}/${paramsOf(hash)['t']}` : hash));
    try {
      for (const [hash, expected] of [
        [cheaper, ['1024/1', '2048/2']],
        [cheaperInReferenceOrder, ['1024/1', '2048/2']],
        [dearer, ['4096/2']],
        [moreLanes, ['2048/2', '2048/2']],
        [same, ['2048/2']],
        ['not-a-hash', ['not-a-hash', '2048/2']],
      ] as const) {
        verifications.mockClear();
        expect(await current.verify(hash, 'wrong')).toEqual({ ok: false, needsRehash: false });
        expect(work()).toEqual(expected);
      }
      // Checked before the verdict is known, a right password meets the dummy check too, and is then re-hashed.
      verifications.mockClear();
      expect(await current.verify(cheaper, 's3cret')).toEqual({ ok: true, needsRehash: true });
      expect(work()).toEqual(['1024/1', '2048/2']);
    } finally {
      verifications.mockRestore();
    }
  });

  it('counts only the lanes the host can run at once: a hash on more lanes than cores is no cheaper', async () => {
    const cores = availableParallelism();
    const current = createPasswordHasher({ cost: { ...CURRENT, parallelism: Math.min(cores, 2) } });
    await current.prepare();
    // Lanes past the cores run one after another: on this host, as slow as the current cost's own.
    const beyondCores = await createPasswordHasher({ cost: { ...CURRENT, parallelism: cores + 1 } }).hash('s3cret');
    const verifications = jest.spyOn(argon2, 'verify');
    try {
      await current.verify(beyondCores, 'wrong');
      // With more than two cores, cores + 1 lanes do run faster than two: then the dummy check runs beside.
      expect(verifications.mock.calls.length).toBe(cores <= 2 ? 1 : 2);
    } finally {
      verifications.mockRestore();
    }
  });

  it('answers the stored hash\'s verdict even when the dummy check beside it is dropped (a client gone, a full pool)', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const one = createPasswordHasher({ cost: { ...LOW, memoryCost: 16384, timeCost: 3 }, concurrency: 1, metrics });
    await one.prepare();
    const cheaper = await createPasswordHasher({ cost: { ...LOW, memoryCost: 8192 } }).hash('s3cret');
    const client = new AbortController();
    const verdict = one.verify(cheaper, 'wrong', client.signal);
    // The stored hash's check is running; the dummy check waits for the one worker, and is dropped.
    await new Promise((resolve) => setImmediate(resolve));
    client.abort();
    await expect(verdict).resolves.toEqual({ ok: false, needsRehash: false });
    expect((await metrics.argon2Abandoned.get()).values.map(({ value }) => value)).toEqual([1]);

    // With no place left in the pool for the dummy check, the verdict is the stored hash's too.
    const full = createPasswordHasher({ cost: { ...LOW, memoryCost: 16384, timeCost: 3 }, concurrency: 1, maxQueue: 0 });
    await full.prepare();
    await expect(full.verify(cheaper, 'wrong')).resolves.toEqual({ ok: false, needsRehash: false });
  });
});

describe('the dummy hash', () => {
  it('is made by prepare(), once, so that the first unknown user costs one verification like the others', async () => {
    const hashes = jest.spyOn(argon2, 'hash');
    const verifications = jest.spyOn(argon2, 'verify');
    try {
      const fresh = createPasswordHasher({ cost: LOW });
      await fresh.prepare();
      await fresh.prepare();
      expect(hashes).toHaveBeenCalledTimes(1);
      await fresh.verifyDummy('first guess');
      expect(hashes).toHaveBeenCalledTimes(1);
      expect(verifications).toHaveBeenCalledTimes(1);
    } finally {
      hashes.mockRestore();
      verifications.mockRestore();
    }
  });
});

describe('password hasher pool', () => {
  /** Slow enough that a job is still running when the test looks at the queue. */
  const SLOWER = { ...LOW, memoryCost: 8192, timeCost: 3 };
  const depthOf = async (metrics: ReturnType<typeof createMetrics>) => (await metrics.argon2QueueDepth.get()).values[0]!.value;

  it('runs `concurrency` jobs, queues `maxQueue`, refuses the rest at once and reports the queue depth', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const small = createPasswordHasher({ cost: SLOWER, concurrency: 1, maxQueue: 2, metrics });
    const hash = await small.hash('pw');
    expect(await depthOf(metrics)).toBe(0);

    const attempts = Array.from({ length: 10 }, () => small.verify(hash, 'pw'));
    expect(await depthOf(metrics)).toBe(2);

    const results = await Promise.allSettled(attempts);
    const fulfilled = results.filter((r): r is PromiseFulfilledResult<{ ok: boolean; needsRehash: boolean }> => r.status === 'fulfilled');
    expect(fulfilled).toHaveLength(3);
    for (const { value } of fulfilled) expect(value).toEqual({ ok: true, needsRehash: false });
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(refused).toHaveLength(7);
    for (const { reason } of refused) {
      expect(reason).toBeInstanceOf(HasherBusyError);
      expect((reason as HasherBusyError).retryAfterSeconds).toBe(1);
      expect((reason as HasherBusyError).code).toBe('ERR_HASHER_BUSY');
    }
    expect(await depthOf(metrics)).toBe(0);
  });

  it('with no queue, runs while a worker is free and refuses while none is', async () => {
    const none = createPasswordHasher({ cost: SLOWER, concurrency: 1, maxQueue: 0 });
    const hash = await none.hash('pw');
    const running = none.verify(hash, 'pw');
    await expect(none.verify(hash, 'pw')).rejects.toBeInstanceOf(HasherBusyError);
    await expect(none.hash('pw')).rejects.toBeInstanceOf(HasherBusyError);
    expect(await running).toEqual({ ok: true, needsRehash: false });
    expect(await none.verify(hash, 'pw')).toEqual({ ok: true, needsRehash: false });
  });

  it('answers empty and oversized passwords without argon2 work, even with the pool full', async () => {
    const none = createPasswordHasher({ cost: SLOWER, concurrency: 1, maxQueue: 0 });
    const hash = await none.hash('pw');
    const running = none.verify(hash, 'pw');
    const oversized = 'x'.repeat(MAX_PASSWORD_BYTES + 1);
    expect(await none.verify(hash, oversized)).toEqual({ ok: false, needsRehash: false });
    expect(await none.verify(hash, '')).toEqual({ ok: false, needsRehash: false });
    await expect(none.verifyDummy(oversized)).resolves.toBeUndefined();
    await expect(none.verifyDummy('')).resolves.toBeUndefined();
    await running;
  });

  it('while jobs are queued, hands answers back in groups, whose logins then share the event loop\'s turns', async () => {
    // Cheap jobs, so that a group fills well within the 100 ms an answer may be held, even on a slow machine.
    const grouped = createPasswordHasher({ cost: LOW, concurrency: 1, answersPerGroup: 4 });
    const hash = await grouped.hash('pw');
    // Each answer notes the event-loop turn it arrived in: answers handed back together share one.
    let turn = 0;
    let counting = true;
    const count = () => {
      turn += 1;
      if (counting) setImmediate(count);
    };
    setImmediate(count);
    try {
      const turns = await Promise.all(Array.from({ length: 7 }, () => grouped.verify(hash, 'pw').then(() => turn)));
      const groupOf = turns.map((t) => turns.indexOf(t));
      // Four, then two as the queue empties (the sixth job settles with none queued), then the last alone.
      expect(groupOf).toEqual([0, 0, 0, 0, 4, 4, 6]);
      // One at a time, with nothing queued, every answer comes back as its job ends.
      expect(await grouped.verify(hash, 'pw')).toEqual({ ok: true, needsRehash: false });
    } finally {
      counting = false;
    }
  });

  it('hands back the answers it holds when the last queued job is dropped as abandoned', async () => {
    const grouped = createPasswordHasher({ cost: SLOWER, concurrency: 1, answersPerGroup: 4 });
    const hash = await grouped.hash('pw');
    const gone = new AbortController();
    const first = grouped.verify(hash, 'pw');
    const second = grouped.verify(hash, 'wrong');
    // Two, so that the group is still short of four when the last is dropped with nothing queued.
    const dropped = Array.from({ length: 2 }, () => grouped.verify(hash, 'pw', gone.signal));
    gone.abort();
    for (const each of dropped) await expect(each).rejects.toBeInstanceOf(HashAbandonedError);
    expect(await first).toEqual({ ok: true, needsRehash: false });
    expect(await second).toEqual({ ok: false, needsRehash: false });
  });

  it('does not keep a dummy hash refused by a full pool', async () => {
    const none = createPasswordHasher({ cost: SLOWER, concurrency: 1, maxQueue: 0 });
    const hash = await none.hash('pw');
    const running = none.verify(hash, 'pw');
    await expect(none.verifyDummy('guess')).rejects.toBeInstanceOf(HasherBusyError);
    await running;
    await expect(none.verifyDummy('guess')).resolves.toBeUndefined();
  });
});
