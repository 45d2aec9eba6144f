import { availableParallelism } from 'node:os';
import argon2 from 'argon2';
import pLimit from 'p-limit';
import type { Metrics } from '../observability/metrics.js';

export interface Argon2Cost {
  readonly memoryCost: number;
  readonly timeCost: number;
  readonly parallelism: number;
}

/** The argon2 queue is full: the caller answers 503 with Retry-After rather than pile up work. */
export class HasherBusyError extends Error {
  override readonly name = 'HasherBusyError';
  readonly retryAfterSeconds = 1;
}

export interface PasswordVerdict {
  readonly ok: boolean;
  /** The stored hash was made with other parameters than the configured ones. */
  readonly needsRehash: boolean;
}

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  verify(hash: string, password: string): Promise<PasswordVerdict>;
  /** The same work as `verify`, against a hash of no one, for unknown and disabled users. */
  verifyDummy(password: string): Promise<void>;
}

/** Longer passwords are refused before any work (argon2 would happily hash megabytes). */
export const MAX_PASSWORD_BYTES = 1024;

export interface PasswordHasherOptions {
  readonly cost: Argon2Cost;
  /** argon2 jobs running at once; each takes a libuv thread and `memoryCost` KiB. */
  readonly concurrency?: number;
  /** Jobs allowed to wait; one more is refused with HasherBusyError. */
  readonly maxQueue?: number;
  readonly metrics?: Pick<Metrics, 'argon2QueueDepth'>;
}

const usable = (password: string) => password !== '' && Buffer.byteLength(password) <= MAX_PASSWORD_BYTES;

/**
 * argon2id behind one bounded pool: about one job per core, a bounded queue, and a fast refusal
 * when it is full, so a login storm costs 503s instead of memory and latency for everyone.
 */
export function createPasswordHasher({
  cost,
  concurrency = availableParallelism(),
  maxQueue = concurrency * 32,
  metrics,
}: PasswordHasherOptions): PasswordHasher {
  const options = { type: argon2.argon2id, ...cost } as const;
  const limit = pLimit(concurrency);
  const run = async <T>(job: () => Promise<T>): Promise<T> => {
    if (limit.pendingCount >= maxQueue) throw new HasherBusyError('password hashing queue is full');
    const result = limit(job);
    metrics?.argon2QueueDepth.set(limit.pendingCount);
    try {
      return await result;
    } finally {
      metrics?.argon2QueueDepth.set(limit.pendingCount);
    }
  };
  let dummyHash: Promise<string> | undefined;
  const dummy = () => (dummyHash ??= run(() => argon2.hash('authd dummy password', options)));

  const verify = async (hash: string, password: string): Promise<PasswordVerdict> => {
    if (!usable(password)) return { ok: false, needsRehash: false };
    const ok = await run(() => argon2.verify(hash, password).catch(() => false));
    return { ok, needsRehash: ok && argon2.needsRehash(hash, options) };
  };

  return {
    async hash(password) {
      if (!usable(password)) throw new RangeError(`password must be 1 to ${MAX_PASSWORD_BYTES} bytes`);
      return run(() => argon2.hash(password, options));
    },
    verify,
    async verifyDummy(password) {
      await verify(await dummy(), password);
    },
  };
}
