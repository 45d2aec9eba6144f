import { createHash } from 'node:crypto';
import { RateLimiterMemory, RateLimiterRedis, type IRateLimiterOptions, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { normalizeUsername } from '../domain/user.js';
import type { Redis } from '../stores/redis.js';

/** A client IP with more than this many times LOGIN_MAX_FAILURES failures is locked for every username. */
export const IP_FAILURE_FACTOR = 20;

export type ThrottleState = { locked: false } | { locked: true; retryAfterSeconds: number; scope: 'pair' | 'ip' };

export interface LoginThrottle {
  /** Whether a login of this username from this IP may be tried at all; call before any password work. */
  check(username: string, ip: string): Promise<ThrottleState>;
  /** Counts a failure; `lockedNow` when this very failure locked the pair (log `login_locked` once). */
  recordFailure(username: string, ip: string): Promise<{ lockedNow: boolean }>;
  /** Resets the pair's count; the IP's count stays. */
  recordSuccess(username: string, ip: string): Promise<void>;
}

export interface LoginThrottleOptions {
  /** Shared counters across instances; without it (embedded mode) counters are per process. */
  readonly redis?: Redis;
  readonly maxFailures: number;
  readonly lockSeconds: number;
  readonly keyPrefix?: string;
}

/** One counter: its limiter and the count at which its key is locked. */
interface Counter {
  readonly limiter: RateLimiterAbstract;
  readonly lockAt: number;
}

/** Keys carry a hash of the normalized username, never the username itself. */
const usernameDigest = (username: string) => createHash('sha256').update(normalizeUsername(username)).digest('hex').slice(0, 32);

/**
 * Failed logins counted per (username, client IP) and per client IP, in Redis through
 * rate-limiter-flexible, with an in-memory stand-in while Redis is unreachable. A lock never
 * covers a username from every IP, so nobody can lock a user out.
 *
 * Each counter is a fixed window of lockSeconds from its first failure. The failure that brings
 * it to its limit rewrites the key as blocked (count past the limit, TTL lockSeconds), so the
 * lock runs lockSeconds from that failure whatever was left of the window.
 */
export function createLoginThrottle({ redis, maxFailures, lockSeconds, keyPrefix = 'authd:login' }: LoginThrottleOptions): LoginThrottle {
  const counter = (name: string, points: number, lockAt: number): Counter => {
    const options: IRateLimiterOptions = { keyPrefix: `${keyPrefix}:${name}`, points, duration: lockSeconds };
    const limiter =
      redis === undefined
        ? new RateLimiterMemory(options)
        : new RateLimiterRedis({ ...options, storeClient: redis, insuranceLimiter: new RateLimiterMemory(options) });
    return { limiter, lockAt };
  };
  // A pair locks at maxFailures failures; an IP at more than IP_FAILURE_FACTOR × maxFailures (SPEC).
  const pairs = counter('pair', maxFailures, maxFailures);
  const ips = counter('ip', maxFailures * IP_FAILURE_FACTOR, maxFailures * IP_FAILURE_FACTOR + 1);

  const pairKey = (username: string, ip: string) => `${usernameDigest(username)}:${ip}`;

  /** Seconds until the key unlocks, or undefined when it is not locked. */
  const lockedFor = async ({ limiter, lockAt }: Counter, key: string): Promise<number | undefined> => {
    const state = await limiter.get(key);
    if (state === null || state.consumedPoints < lockAt || state.msBeforeNext <= 0) return undefined;
    return Math.max(1, Math.ceil(state.msBeforeNext / 1000));
  };

  /** Counts one failure; the one that reaches `lockAt` (only that one, under concurrency too) starts the lock. */
  const fail = async ({ limiter, lockAt }: Counter, key: string): Promise<boolean> => {
    const state = await limiter.penalty(key, 1);
    if (state.consumedPoints !== lockAt) return false;
    await limiter.block(key, lockSeconds);
    return true;
  };

  return {
    async check(username, ip) {
      const [ipLock, pairLock] = await Promise.all([lockedFor(ips, ip), lockedFor(pairs, pairKey(username, ip))]);
      if (ipLock !== undefined) return { locked: true, retryAfterSeconds: ipLock, scope: 'ip' };
      if (pairLock !== undefined) return { locked: true, retryAfterSeconds: pairLock, scope: 'pair' };
      return { locked: false };
    },
    async recordFailure(username, ip) {
      const [lockedNow] = await Promise.all([fail(pairs, pairKey(username, ip)), fail(ips, ip)]);
      return { lockedNow };
    },
    async recordSuccess(username, ip) {
      await pairs.limiter.delete(pairKey(username, ip));
    },
  };
}
