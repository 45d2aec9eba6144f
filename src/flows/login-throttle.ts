import { createHash } from 'node:crypto';
import { RateLimiterMemory, RateLimiterRedis, type RateLimiterAbstract, type IRateLimiterOptions } from 'rate-limiter-flexible';
import { normalizeUsername } from '../domain/user.js';
import type { Redis } from '../stores/redis.js';

/** A client IP with this many times LOGIN_MAX_FAILURES failures is locked for every username. */
export const IP_FAILURE_FACTOR = 20;

export type ThrottleState = { locked: false } | { locked: true; retryAfterSeconds: number; scope: 'pair' | 'ip' };

export interface LoginThrottle {
  check(username: string, ip: string): Promise<ThrottleState>;
  /** Counts a failure; `lockedNow` when it locked the pair. */
  recordFailure(username: string, ip: string): Promise<{ lockedNow: boolean }>;
  recordSuccess(username: string, ip: string): Promise<void>;
}

export interface LoginThrottleOptions {
  /** Shared counters across instances; without it (embedded mode) counters are per process. */
  readonly redis?: Redis;
  readonly maxFailures: number;
  readonly lockSeconds: number;
  readonly keyPrefix?: string;
}

/**
 * Failed logins counted per (username, client IP) and per client IP, in Redis through
 * rate-limiter-flexible, with an in-memory stand-in while Redis is unreachable. Usernames are
 * hashed in keys. A lock never covers a username from every IP, so nobody can lock a user out.
 */
export function createLoginThrottle({ redis, maxFailures, lockSeconds, keyPrefix = 'authd:login' }: LoginThrottleOptions): LoginThrottle {
  const limiter = (name: string, points: number): RateLimiterAbstract => {
    const options: IRateLimiterOptions = { keyPrefix: `${keyPrefix}:${name}`, points, duration: lockSeconds };
    if (redis === undefined) return new RateLimiterMemory(options);
    return new RateLimiterRedis({ ...options, storeClient: redis, insuranceLimiter: new RateLimiterMemory(options) });
  };
  const pairs = limiter('pair', maxFailures);
  const ips = limiter('ip', maxFailures * IP_FAILURE_FACTOR);

  const pairKey = (username: string, ip: string) =>
    `${createHash('sha256').update(normalizeUsername(username)).digest('hex').slice(0, 32)}:${ip}`;

  /** Locked once the count passes the limit; `block` puts it there for lockSeconds. */
  const lockedFor = async (limiterOf: RateLimiterAbstract, key: string, points: number): Promise<number | undefined> => {
    const state = await limiterOf.get(key);
    return state !== null && state.consumedPoints > points ? Math.ceil(state.msBeforeNext / 1000) : undefined;
  };

  /** Counts one failure; once the count reaches `lockAt`, the lock starts now and lasts lockSeconds. */
  const fail = async (limiterOf: RateLimiterAbstract, key: string, lockAt: number): Promise<boolean> => {
    const state = await limiterOf.penalty(key, 1);
    if (state.consumedPoints < lockAt) return false;
    await limiterOf.block(key, lockSeconds);
    return true;
  };
  const ipLimit = maxFailures * IP_FAILURE_FACTOR;

  return {
    async check(username, ip) {
      const ipLock = await lockedFor(ips, ip, ipLimit);
      if (ipLock !== undefined) return { locked: true, retryAfterSeconds: ipLock, scope: 'ip' };
      const pairLock = await lockedFor(pairs, pairKey(username, ip), maxFailures);
      return pairLock === undefined ? { locked: false } : { locked: true, retryAfterSeconds: pairLock, scope: 'pair' };
    },
    async recordFailure(username, ip) {
      // A pair locks after maxFailures failures; an IP after more than ipLimit (SPEC).
      const [lockedNow] = await Promise.all([fail(pairs, pairKey(username, ip), maxFailures), fail(ips, ip, ipLimit + 1)]);
      return { lockedNow };
    },
    async recordSuccess(username, ip) {
      await pairs.delete(pairKey(username, ip));
    },
  };
}
