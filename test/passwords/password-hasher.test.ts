import { createMetrics } from '../../src/observability/metrics.js';
import { createPasswordHasher, HasherBusyError } from '../../src/passwords/password-hasher.js';

const LOW = { memoryCost: 1024, timeCost: 1, parallelism: 1 };

describe('password hasher', () => {
  const hasher = createPasswordHasher({ cost: LOW });

  it('hashes with argon2id at the configured cost and verifies', async () => {
    const hash = await hasher.hash('s3cret');
    expect(hash).toMatch(/^\$argon2id\$v=19\$m=1024,p=1,t=1\$/);
    expect(await hasher.verify(hash, 's3cret')).toEqual({ ok: true, needsRehash: false });
    expect(await hasher.verify(hash, 'S3cret')).toEqual({ ok: false, needsRehash: false });
  });

  it('says a hash of other parameters needs re-hashing, only after a good password', async () => {
    const older = await createPasswordHasher({ cost: { ...LOW, memoryCost: 2048 } }).hash('s3cret');
    expect(await hasher.verify(older, 's3cret')).toEqual({ ok: true, needsRehash: true });
    expect(await hasher.verify(older, 'wrong')).toEqual({ ok: false, needsRehash: false });
  });

  it('treats a malformed stored hash, an empty and an oversized password as a plain failure', async () => {
    expect(await hasher.verify('not-a-hash', 's3cret')).toEqual({ ok: false, needsRehash: false });
    const hash = await hasher.hash('s3cret');
    expect(await hasher.verify(hash, '')).toEqual({ ok: false, needsRehash: false });
    expect(await hasher.verify(hash, 'x'.repeat(1025))).toEqual({ ok: false, needsRehash: false });
    await expect(hasher.hash('')).rejects.toThrow(RangeError);
    await expect(hasher.verifyDummy('anything')).resolves.toBeUndefined();
  });

  it('refuses work past a full queue and reports the queue depth', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const small = createPasswordHasher({ cost: { ...LOW, memoryCost: 8192, timeCost: 3 }, concurrency: 1, maxQueue: 2, metrics });
    const hash = await small.hash('pw');
    const depth = async () => (await metrics.argon2QueueDepth.get()).values[0]!.value;
    const attempts = Array.from({ length: 10 }, () => small.verify(hash, 'pw'));
    expect(await depth()).toBe(2);
    const results = await Promise.allSettled(attempts);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(3);
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(refused).toHaveLength(7);
    for (const { reason } of refused) {
      expect(reason).toBeInstanceOf(HasherBusyError);
      expect((reason as HasherBusyError).retryAfterSeconds).toBe(1);
    }
    expect(await depth()).toBe(0);
  });
});
