import { createHash } from 'node:crypto';
import { isIPv6 } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { RateLimiterMemory, RateLimiterRedis, type IRateLimiterOptions, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { normalizeUsername } from '../domain/user.js';
import type { Redis } from '../stores/redis.js';

/** A client IP with more than this many times LOGIN_MAX_FAILURES failures is locked for every username. */
export const IP_FAILURE_FACTOR = 20;

/** An attempt refused before any password work, and when to try again. */
export interface LoginRefused {
  readonly refused: true;
  readonly retryAfterSeconds: number;
  /**
   * `pair` or `ip`: locked after too many failures, until the lock ends. `busy`: the pair had as
   * many attempts running as it has failures left, and no place came free within busyWaitMs, or
   * the client left while waiting, or MAX_WAITING_PER_PAIR attempts were waiting already.
   */
  readonly reason: 'pair' | 'ip' | 'busy';
}

/**
 * One login attempt of a pair. It ends with exactly one of the three calls; the first one counts
 * and later ones do nothing, so `release` can sit in a `finally`.
 */
export interface LoginAttempt {
  readonly refused: false;
  /** Counts the failure; `lockedNow` when it locked the pair (log `login_locked` once). */
  failed(): Promise<{ lockedNow: boolean }>;
  /** Resets the pair; the IP's failures stay counted. */
  succeeded(): Promise<void>;
  /**
   * No verdict (the hasher was busy, the client left, an error): the attempt's place is given back,
   * except within GIVE_BACK_MARGIN_MS of its window's end, where it stays counted until that end.
   */
  release(): Promise<void>;
}

/** An attempt's place in its pair's count: its number, when the count's window ends (ms since the epoch), and which counts hold it. */
interface Place {
  readonly number: number;
  readonly windowEnds: number;
  readonly counts: RateLimiterAbstract;
}

export interface LoginThrottle {
  /**
   * Starts an attempt of this (username, IP) pair; call before any password work. A pair's running
   * attempts count as failures until they end, so guesses sent all at once get no more tries than
   * guesses sent one after another: an attempt beyond the pair's remaining failures waits (up to
   * busyWaitMs, or until `signal` aborts) for a running one to end, and starts if that one
   * succeeded or was released.
   */
  begin(username: string, ip: string, signal?: AbortSignal): Promise<LoginAttempt | LoginRefused>;
}

export interface LoginThrottleOptions {
  /** Shared counters across instances; without it (embedded mode) counters are per process. */
  readonly redis?: Redis;
  readonly maxFailures: number;
  readonly lockSeconds: number;
  readonly keyPrefix?: string;
  /** How long an attempt beyond a pair's remaining failures waits for a place; default DEFAULT_BUSY_WAIT_MS. */
  readonly busyWaitMs?: number;
}

/**
 * Long enough for the running logins of a pair to finish their argon2 work outside a login storm,
 * so that a user's concurrent logins with the right password all succeed.
 */
export const DEFAULT_BUSY_WAIT_MS = 2_000;

/**
 * A waiting attempt asks for a place again after about 25 ms, then twice as long each time, at most
 * about 400 ms; each pause is drawn from half to one and a half times that, so that attempts which
 * started together do not all ask at the same moment.
 */
const FIRST_BUSY_POLL_MS = 25;
const MAX_BUSY_POLL_MS = 400;

/** Attempts of one pair that wait in this process at once; more are refused as busy straight away. */
export const MAX_WAITING_PER_PAIR = 16;

/**
 * A place is given back only while its window has more than this left: a give-back that reached
 * Redis after the window's key expired would land in the next window's count and free a place
 * that an attempt there holds. A place kept is counted until its window ends, no longer. (The
 * give-back can still land late if the reservation's answer and the give-back were delayed by
 * more than this between them: Redis's command timeout is as long.)
 */
export const GIVE_BACK_MARGIN_MS = 1_000;

/**
 * The address a counter is kept for. An IPv6 host is usually given a whole /64 and can send from
 * any address in it, so IPv6 addresses count per /64; an IPv4 address seen through a dual-stack
 * socket (::ffff:a.b.c.d) counts as that IPv4 address.
 */
export function throttledAddress(ip: string): string {
  if (!isIPv6(ip)) return ip;
  const hextets = expandIPv6(ip.split('%')[0]!);
  const isMapped = hextets.slice(0, 5).every((group) => group === 0) && hextets[5] === 0xffff;
  if (isMapped) return [hextets[6]! >> 8, hextets[6]! & 0xff, hextets[7]! >> 8, hextets[7]! & 0xff].join('.');
  return `${hextets.slice(0, 4).map((group) => group.toString(16)).join(':')}::/64`;
}

/** The eight 16-bit groups of a valid IPv6 address, '::' and a dotted IPv4 tail spelt out. */
function expandIPv6(address: string): number[] {
  const toGroups = (part: string): number[] =>
    part === ''
      ? []
      : part.split(':').flatMap((group) => {
          if (!group.includes('.')) return [parseInt(group, 16)];
          const [a, b, c, d] = group.split('.').map(Number) as [number, number, number, number];
          return [(a << 8) | b, (c << 8) | d];
        });
  const [head = '', tail] = address.split('::');
  const left = toGroups(head);
  if (tail === undefined) return left;
  const right = toGroups(tail);
  return [...left, ...Array<number>(8 - left.length - right.length).fill(0), ...right];
}

/** Keys carry a hash of the normalized username, never the username itself. */
const usernameDigest = (username: string) => createHash('sha256').update(normalizeUsername(username)).digest('hex').slice(0, 32);

/** A locked pair's count: far above any count of attempts, so a reservation tells a lock from a busy pair. */
const LOCKED = 1_000_000;

/**
 * Failed logins counted per (username, client address) and per client address (IPv6 per /64), in
 * Redis through rate-limiter-flexible, with an in-memory stand-in while Redis is unreachable. A
 * lock never covers a username from every IP, so nobody can lock a user out. Each count is a
 * fixed window of lockSeconds from its first entry.
 *
 * The pair counts failures and running attempts alike: an attempt takes its number atomically
 * (INCRBY) before any password work, and one whose number is past maxFailures gives it back and
 * asks again until a running attempt ends (a success resets the count, a release gives a place
 * back, and the failure of the attempt numbered maxFailures locks the pair: its count set to
 * LOCKED for lockSeconds). So a user's concurrent logins with the right password go through once
 * the running ones finish, and concurrent guesses stop at the lock. Pair counts live in Redis, and
 * in this process while Redis does not answer; a place goes back to the counts it came from.
 *
 * A known gap: a success resets the count (DEL), which also drops the places of the attempts
 * running at that moment. Those that then fail are not counted in the new count, and those that
 * end without a verdict give a place back to it. So when the pair's own user logs in from the
 * same address during an attack, each guess running at that moment is not counted, or frees a
 * place for another guess. Closing it needs each place tied to its count in Redis (a window id
 * set by the reservation and checked by the give-back and the failure, in scripts), which
 * rate-limiter-flexible's counters do not offer.
 *
 * The IP counts failures only, read before the attempt and counted after it: many users behind one
 * address log in at once, and their running logins must not lock it. Guesses sent at once from
 * one IP can pass that read together, but every one of them still meets its own pair's limit.
 */
export function createLoginThrottle({
  redis,
  maxFailures,
  lockSeconds,
  keyPrefix = 'authd:login',
  busyWaitMs = DEFAULT_BUSY_WAIT_MS,
}: LoginThrottleOptions): LoginThrottle {
  const options = (name: string, points: number): IRateLimiterOptions => ({ keyPrefix: `${keyPrefix}:${name}`, points, duration: lockSeconds });
  // More than IP_FAILURE_FACTOR × maxFailures failures lock an IP (SPEC).
  const ipLockAt = maxFailures * IP_FAILURE_FACTOR + 1;
  const ipOptions = options('ip', ipLockAt);
  const ips: RateLimiterAbstract =
    redis === undefined
      ? new RateLimiterMemory(ipOptions)
      : new RateLimiterRedis({ ...ipOptions, storeClient: redis, insuranceLimiter: new RateLimiterMemory(ipOptions) });
  /**
   * The pairs' counts in Redis and in this process, kept apart (no insurance limiter): a place is
   * given back to the counts it was taken from. One taken here while Redis did not answer and
   * given back to Redis later would free a place that Redis holds for another attempt.
   */
  const pairOptions = options('pair', maxFailures);
  const pairsInRedis = redis === undefined ? undefined : new RateLimiterRedis({ ...pairOptions, storeClient: redis });
  const pairsHere = new RateLimiterMemory(pairOptions);
  /** Runs `op` on the pairs' counts in Redis, or in this process without Redis or when it fails; with the counts that answered. */
  const onPairs = async <T>(op: (counts: RateLimiterAbstract) => Promise<T>): Promise<{ value: T; counts: RateLimiterAbstract }> => {
    if (pairsInRedis !== undefined) {
      try {
        return { value: await op(pairsInRedis), counts: pairsInRedis };
      } catch {
        // Redis did not answer: this process's counts stand in.
      }
    }
    return { value: await op(pairsHere), counts: pairsHere };
  };
  const secondsLeft = (ms: number) => Math.max(1, Math.ceil(ms / 1000));
  const refused = (reason: LoginRefused['reason'], retryAfterSeconds: number): LoginRefused => ({ refused: true, reason, retryAfterSeconds });

  /** The attempt's number: the pair's failures and running attempts, this one included. */
  const reserve = (pairKey: string) =>
    onPairs(async (counts) => {
      const taken = await counts.penalty(pairKey, 1);
      if (taken.consumedPoints >= 1) return taken;
      // A place given back after the key was reset under it (a success deleted it, or it expired a
      // moment before Redis saw the give-back) lands in a new key, which the store creates to
      // decrement: lift the count to this attempt, or one window would allow more attempts than
      // the limit.
      return counts.penalty(pairKey, 1 - taken.consumedPoints);
    });
  const ipLockedFor = async (ip: string): Promise<number | undefined> => {
    const state = await ips.get(ip);
    if (state === null || state.consumedPoints < ipLockAt || state.msBeforeNext <= 0) return undefined;
    return secondsLeft(state.msBeforeNext);
  };
  /**
   * Locks the pair for lockSeconds, unless a success reset it while this attempt ran (its count
   * then no longer holds this attempt's place): a user who has just logged in is not locked by a
   * stale attempt of their own. When the counts cannot be read, it locks.
   */
  const lockPair = async (pairKey: string, place: Place): Promise<boolean> => {
    const state = await place.counts.get(pairKey).catch(() => undefined);
    if (state === null || (state !== undefined && state.consumedPoints < maxFailures)) return false;
    await onPairs((counts) => counts.set(pairKey, LOCKED, lockSeconds));
    return true;
  };
  /**
   * Gives a place back to the counts it was taken from, unless its window ends within
   * GIVE_BACK_MARGIN_MS. When those counts do not answer, the place stays counted until its window
   * ends: never given back to other counts.
   */
  const giveBack = async (pairKey: string, place: Place) => {
    if (Date.now() >= place.windowEnds - GIVE_BACK_MARGIN_MS) return;
    await place.counts.reward(pairKey, 1).catch(() => undefined);
  };
  /** One try for a place in the pair: the place, a refusal, or `busy` (the place given back). */
  const tryPlace = async (pairKey: string, ip: string): Promise<Place | LoginRefused | 'busy'> => {
    const [ipLock, { value: taken, counts }] = await Promise.all([ipLockedFor(ip), reserve(pairKey)]);
    const place = { number: taken.consumedPoints, windowEnds: Date.now() + taken.msBeforeNext, counts };
    if (ipLock === undefined && place.number <= maxFailures) return place;
    await giveBack(pairKey, place);
    if (ipLock !== undefined) return refused('ip', ipLock);
    if (place.number > LOCKED / 2) return refused('pair', secondsLeft(taken.msBeforeNext));
    return 'busy';
  };
  const waiting = new Map<string, number>();
  /**
   * This attempt's place in the pair, or why it is refused. While the pair is busy the attempt
   * asks again until a running attempt has ended, busyWaitMs pass or `signal` aborts (the client
   * left); at most MAX_WAITING_PER_PAIR attempts of a pair wait in this process.
   */
  const takePlace = async (pairKey: string, ip: string, signal: AbortSignal | undefined): Promise<Place | LoginRefused> => {
    const busy = refused('busy', 1);
    const first = await tryPlace(pairKey, ip);
    if (first !== 'busy') return first;
    const waiters = waiting.get(pairKey) ?? 0;
    if (waiters >= MAX_WAITING_PER_PAIR) return busy;
    waiting.set(pairKey, waiters + 1);
    try {
      const waitEnds = Date.now() + busyWaitMs;
      for (let pause = FIRST_BUSY_POLL_MS; ; pause = Math.min(2 * pause, MAX_BUSY_POLL_MS)) {
        const left = waitEnds - Date.now();
        if (left <= 0) return busy;
        try {
          await sleep(Math.min(pause * (0.5 + Math.random()), left), undefined, { signal });
        } catch {
          return busy; // aborted: nobody reads the answer
        }
        const next = await tryPlace(pairKey, ip);
        if (next !== 'busy') return next;
      }
    } finally {
      const left = (waiting.get(pairKey) ?? 1) - 1;
      if (left === 0) waiting.delete(pairKey);
      else waiting.set(pairKey, left);
    }
  };
  /** Counts an IP's failure; the one that reaches the limit starts its lock, lockSeconds from now. */
  const countIpFailure = async (ip: string) => {
    const { consumedPoints } = await ips.penalty(ip, 1);
    if (consumedPoints === ipLockAt) await ips.block(ip, lockSeconds);
  };

  return {
    async begin(username, clientIp, signal) {
      const ip = throttledAddress(clientIp);
      const pairKey = `${usernameDigest(username)}:${ip}`;
      const place = await takePlace(pairKey, ip, signal);
      if ('refused' in place) return place;

      let ended = false;
      const end = async <T>(outcome: () => Promise<T>, otherwise: T): Promise<T> => {
        if (ended) return otherwise;
        ended = true;
        return outcome();
      };
      return {
        refused: false,
        failed: () =>
          end(async () => {
            const [lockedNow] = await Promise.all([place.number === maxFailures && lockPair(pairKey, place), countIpFailure(ip)]);
            return { lockedNow };
          }, { lockedNow: false }),
        succeeded: () =>
          end(async () => {
            // Reset wherever the pair is counted; counts that do not answer keep their failures.
            await Promise.all([pairsHere.delete(pairKey), pairsInRedis?.delete(pairKey).catch(() => false)]);
          }, undefined),
        release: () => end(() => giveBack(pairKey, place), undefined),
      };
    },
  };
}
