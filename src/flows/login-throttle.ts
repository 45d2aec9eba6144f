import { createHash } from 'node:crypto';
import { isIPv6 } from 'node:net';
import { RateLimiterMemory, RateLimiterRedis, type IRateLimiterOptions, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { normalizeUsername } from '../domain/user.js';
import type { Redis } from '../stores/redis.js';

/** A client IP with more than this many times LOGIN_MAX_FAILURES failures is locked for every username. */
export const IP_FAILURE_FACTOR = 20;

/** An attempt refused before any password work, and for how long its pair or IP stays locked. */
export interface LoginLocked {
  readonly locked: true;
  readonly retryAfterSeconds: number;
  readonly scope: 'pair' | 'ip';
}

/**
 * One login attempt holding its reservations. It ends with exactly one of the three calls; the
 * first one counts and later ones do nothing, so `release` can sit in a `finally`.
 */
export interface LoginAttempt {
  readonly locked: false;
  /** The reservations stand as failures; `lockedNow` when this failure locked the pair (log `login_locked` once). */
  failed(): Promise<{ lockedNow: boolean }>;
  /** Resets the pair; the IP's count keeps only its failures. */
  succeeded(): Promise<void>;
  /** No verdict (the hasher was busy, the client left, an error): the attempt is not counted. */
  release(): Promise<void>;
}

export interface LoginThrottle {
  /**
   * Reserves one attempt of this (username, IP) pair and of this IP; call before any password work.
   * An attempt counts as a failure from the moment it begins until it succeeds or is released, so
   * guesses sent all at once get no more tries than guesses sent one after another.
   */
  begin(username: string, ip: string): Promise<LoginAttempt | LoginLocked>;
}

export interface LoginThrottleOptions {
  /** Shared counters across instances; without it (embedded mode) counters are per process. */
  readonly redis?: Redis;
  readonly maxFailures: number;
  readonly lockSeconds: number;
  readonly keyPrefix?: string;
}

/** One counter: its limiter and the number of attempts it allows (the failure of the last one locks it). */
interface Counter {
  readonly limiter: RateLimiterAbstract;
  readonly lockAt: number;
}

/**
 * The address a counter is kept for. An IPv6 host is usually given a whole /64 and can send from
 * any address in it, so IPv6 addresses count per /64; an IPv4 address seen through a dual-stack
 * socket (::ffff:a.b.c.d) counts as that IPv4 address.
 */
export function throttledAddress(ip: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip);
  if (mapped !== null) return mapped[1]!;
  if (!isIPv6(ip)) return ip;
  const [head = '', tail] = ip.split('%')[0]!.split('::');
  const groups = (part: string | undefined) => (part === undefined || part === '' ? [] : part.split(':'));
  const left = groups(head);
  const right = groups(tail);
  const hextets = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return `${hextets.slice(0, 4).map((group) => parseInt(group, 16).toString(16)).join(':')}::/64`;
}

/** Keys carry a hash of the normalized username, never the username itself. */
const usernameDigest = (username: string) => createHash('sha256').update(normalizeUsername(username)).digest('hex').slice(0, 32);

/**
 * Failed logins counted per (username, client address) and per client address (IPv6 per /64), in
 * Redis through rate-limiter-flexible, with an in-memory stand-in while Redis is unreachable. A
 * lock never covers a username from every IP, so nobody can lock a user out.
 *
 * Each counter is a fixed window of lockSeconds from its first attempt. An attempt takes its
 * number atomically (INCRBY) before any password work and is refused when the number is past the
 * limit; the failure of the attempt numbered at the limit rewrites the key as blocked (count past
 * the limit, TTL lockSeconds), so the lock runs lockSeconds from that failure whatever was left of
 * the window.
 */
export function createLoginThrottle({ redis, maxFailures, lockSeconds, keyPrefix = 'authd:login' }: LoginThrottleOptions): LoginThrottle {
  const counter = (name: string, lockAt: number): Counter => {
    const options: IRateLimiterOptions = { keyPrefix: `${keyPrefix}:${name}`, points: lockAt, duration: lockSeconds };
    const limiter =
      redis === undefined
        ? new RateLimiterMemory(options)
        : new RateLimiterRedis({ ...options, storeClient: redis, insuranceLimiter: new RateLimiterMemory(options) });
    return { limiter, lockAt };
  };
  // A pair locks at maxFailures failures; an IP at more than IP_FAILURE_FACTOR × maxFailures (SPEC).
  const pairs = counter('pair', maxFailures);
  const ips = counter('ip', maxFailures * IP_FAILURE_FACTOR + 1);

  /** Takes the next attempt number of a key: failures so far plus attempts still running, this one included. */
  const reserve = async ({ limiter }: Counter, key: string) => {
    let { consumedPoints, msBeforeNext } = await limiter.penalty(key, 1);
    if (consumedPoints < 1) {
      // An attempt that ended after its window expired gave its point back to a new window (the
      // store creates the key to decrement it); lift the count to this attempt, or one window
      // would allow more attempts than the limit.
      ({ consumedPoints, msBeforeNext } = await limiter.penalty(key, 1 - consumedPoints));
    }
    return { number: consumedPoints, retryAfterSeconds: Math.max(1, Math.ceil(msBeforeNext / 1000)) };
  };
  const unreserve = async ({ limiter }: Counter, key: string) => {
    await limiter.reward(key, 1);
  };
  /** The failure of the attempt numbered at the limit starts the lock: one attempt only, under concurrency too. */
  const lockIfLast = async ({ limiter, lockAt }: Counter, key: string, number: number): Promise<boolean> => {
    if (number !== lockAt) return false;
    await limiter.block(key, lockSeconds);
    return true;
  };

  return {
    async begin(username, clientIp) {
      const ip = throttledAddress(clientIp);
      const pairKey = `${usernameDigest(username)}:${ip}`;
      const [ipAttempt, pairAttempt] = await Promise.all([reserve(ips, ip), reserve(pairs, pairKey)]);
      const refusedBy = ipAttempt.number > ips.lockAt ? ipAttempt : pairAttempt.number > pairs.lockAt ? pairAttempt : undefined;
      if (refusedBy !== undefined) {
        // A refused attempt is not a failure: it must not count towards the other counter's lock.
        await Promise.all([unreserve(ips, ip), unreserve(pairs, pairKey)]);
        return { locked: true, retryAfterSeconds: refusedBy.retryAfterSeconds, scope: refusedBy === ipAttempt ? 'ip' : 'pair' };
      }
      let ended = false;
      const end = async <T>(outcome: () => Promise<T>, otherwise: T): Promise<T> => {
        if (ended) return otherwise;
        ended = true;
        return outcome();
      };
      return {
        locked: false,
        failed: () =>
          end(async () => {
            const [lockedNow] = await Promise.all([lockIfLast(pairs, pairKey, pairAttempt.number), lockIfLast(ips, ip, ipAttempt.number)]);
            return { lockedNow };
          }, { lockedNow: false }),
        succeeded: () =>
          end(async () => {
            await Promise.all([pairs.limiter.delete(pairKey), unreserve(ips, ip)]);
          }, undefined),
        release: () =>
          end(async () => {
            await Promise.all([unreserve(pairs, pairKey), unreserve(ips, ip)]);
          }, undefined),
      };
    },
  };
}
