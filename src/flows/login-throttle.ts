import { createHash, randomUUID } from 'node:crypto';
import { isIPv6 } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { normalizeUsername } from '../domain/user.js';
import type { Metrics } from '../observability/metrics.js';
import { createLoginAttemptsInMemory, type AttemptFailure, type AttemptKeys, type AttemptTake, type LoginAttempts } from '../stores/login-attempts.js';
import type { Redis } from '../stores/redis.js';
import { createLoginAttemptsInRedis } from '../stores/redis-login-attempts.js';

/** A client IP with more than this many times LOGIN_MAX_FAILURES failures is locked for every username. */
export const IP_FAILURE_FACTOR = 20;

/** An attempt refused before any password work, and when to try again. */
export interface LoginRefused {
  readonly refused: true;
  readonly retryAfterSeconds: number;
  /**
   * `pair` or `ip`: locked after too many failures, until the lock ends. `busy`: the pair or the
   * IP had as many attempts running as it has failures left, and no place came free within
   * busyWaitMs, or the client left while waiting, or MAX_WAITING attempts of the pair or the IP
   * were waiting already.
   */
  readonly reason: 'pair' | 'ip' | 'busy';
}

/**
 * One login attempt of a pair. It ends with exactly one of the three calls; the first one counts
 * and later ones do nothing, so `release` can sit in a `finally`.
 */
export interface LoginAttempt {
  readonly refused: false;
  /**
   * Aborts when the client leaves (the signal given to `begin`) or when the attempt has run five
   * sixths of its hold (25 s by default): password work not started by then must not start, since
   * the attempt's place is given up at the hold's end and another attempt may take it.
   */
  readonly signal: AbortSignal;
  /** Counts the failure for the pair and the IP; says which of them it locked (log `login_locked` once for each). */
  failed(): Promise<AttemptFailure>;
  /** Clears the pair's failures (and a lock); the IP's failures stay counted. */
  succeeded(): Promise<void>;
  /** No verdict (the hasher was busy, the client left, an error): the attempt's places are given back. */
  release(): Promise<void>;
}

/** An attempt's places in its pair and IP: the attempt's id, and the counts that hold them. */
interface Place {
  readonly attempt: string;
  readonly counts: LoginAttempts;
}

export interface LoginThrottle {
  /**
   * Starts an attempt of this (username, IP) pair; call before any password work. Running attempts
   * count as failures of their pair and their IP until they end, so guesses sent all at once get no
   * more tries than guesses sent one after another: an attempt beyond the remaining failures of its
   * pair or IP waits (up to busyWaitMs, or until `signal` aborts) for a running one to end, and
   * starts if that one succeeded or was released.
   */
  begin(username: string, ip: string, signal?: AbortSignal): Promise<LoginAttempt | LoginRefused>;
}

export interface LoginThrottleOptions {
  /** Shared counters across instances; without it (embedded mode) counters are per process. */
  readonly redis?: Redis;
  readonly maxFailures: number;
  readonly lockSeconds: number;
  readonly keyPrefix?: string;
  /** How long an attempt beyond the remaining failures of its pair or IP waits for a place; default DEFAULT_BUSY_WAIT_MS. */
  readonly busyWaitMs?: number;
  /** Counts the steps this process's counts answered because Redis did not answer. */
  readonly metrics?: Pick<Metrics, 'loginThrottleLocal'>;
  /** How long a running attempt holds its place at most; default ATTEMPT_HOLD_MS. */
  readonly holdMs?: number;
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

/**
 * How long a running attempt holds its place at most: far longer than a login runs outside a
 * storm, and short beside LOGIN_LOCK_SECONDS, for a place whose end was lost (a reply timed out
 * after Redis had acted, the process died). An attempt whose password work has not started five
 * sixths of the way through (a long argon2 queue, a slow lookup) gets 503 instead (its `signal`),
 * so no password is checked for an attempt whose place may have gone to another.
 */
export const ATTEMPT_HOLD_MS = 30_000;

/** Attempts of one pair, or of one IP, that wait in this process at once; more are refused as busy straight away. */
export const MAX_WAITING = 16;

/**
 * The address a counter is kept for. An IPv6 host is usually given a whole /64 and can send from
 * any address in it, so IPv6 addresses count per /64. An IPv4 address seen through a dual-stack
 * socket (::ffff:a.b.c.d), or through a NAT64/SIIT translator's well-known prefix
 * (64:ff9b::a.b.c.d, RFC 6052), counts as that IPv4 address: per /64, every IPv4 client behind
 * such a translator would share one counter, and a hundred failures of anyone lock out them all.
 */
export function throttledAddress(ip: string): string {
  if (!isIPv6(ip)) return ip;
  const hextets = expandIPv6(ip.split('%')[0]!);
  const isMapped = hextets.slice(0, 5).every((group) => group === 0) && hextets[5] === 0xffff;
  const isTranslated = hextets[0] === 0x64 && hextets[1] === 0xff9b && hextets.slice(2, 6).every((group) => group === 0);
  if (isMapped || isTranslated) return [hextets[6]! >> 8, hextets[6]! & 0xff, hextets[7]! >> 8, hextets[7]! & 0xff].join('.');
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

/**
 * Failed logins counted per (username, client address) and per client address (IPv6 per /64). A
 * lock never covers a username from every IP, so nobody can lock a user out. Counts live in
 * Redis, shared by every instance, and in this process without Redis or while it does not answer.
 *
 * A pair and its IP count their failures and their running attempts alike (LoginAttempts): an
 * attempt takes a place in both atomically before any password work, and one that finds either's
 * places all taken asks again until a running attempt ends (a success clears the pair's failures,
 * a release frees a place, and the failure that reaches a limit locks that count for lockSeconds).
 * So a user's concurrent logins with the right password go through once the running ones finish,
 * and concurrent guesses stop at the lock: of one pair's after maxFailures tries, and of one IP's,
 * spread over any number of usernames, after 20 × maxFailures + 1. Each place is the attempt's
 * own: a success while guesses run keeps their places (they still count when they fail), an
 * attempt frees its own place and no other, however often or late its end arrives, and a place
 * whose end is lost is held holdMs at most. A place goes back to the counts it came from.
 *
 * The IP's places bound the logins that run at once from one address: 101 at the defaults, fewer
 * as its failures mount. A login beyond them waits like one of a busy pair.
 */
export function createLoginThrottle({
  redis,
  maxFailures,
  lockSeconds,
  keyPrefix = 'authd:login',
  busyWaitMs = DEFAULT_BUSY_WAIT_MS,
  metrics,
  holdMs = ATTEMPT_HOLD_MS,
}: LoginThrottleOptions): LoginThrottle {
  // More than IP_FAILURE_FACTOR × maxFailures failures lock an IP (SPEC).
  const options = { maxPairFailures: maxFailures, maxIpFailures: maxFailures * IP_FAILURE_FACTOR + 1, windowMs: lockSeconds * 1000, holdMs };
  /**
   * The attempts in Redis and in this process, kept apart: a place is given back to the counts it
   * was taken from. One taken here while Redis did not answer and given back to Redis later would
   * free a place that Redis holds for another attempt.
   */
  const attemptsInRedis = redis === undefined ? undefined : createLoginAttemptsInRedis(redis, options);
  const attemptsHere = createLoginAttemptsInMemory(options);
  /**
   * Both keys carry the IP's hash tag, so that one script can count both on a Redis Cluster (an
   * empty tag would not: a request whose socket has gone has no address).
   */
  const keysOf = (username: string, ip: string): AttemptKeys => {
    const tag = `{${ip === '' ? 'unknown' : ip}}`;
    return { pair: `${keyPrefix}:attempts:${tag}:${usernameDigest(username)}`, ip: `${keyPrefix}:attempts:${tag}` };
  };
  /**
   * After a step Redis did not answer, which it may have run all the same (the reply timed out):
   * a release of the attempt's places there is sent at once, so that they are not held for holdMs,
   * which would shut a whole IP's logins out after a stall; the step's outcome is counted in this
   * process instead. The release may run late (resent as EVAL when Redis lacks its script), so it
   * must only ever meet an attempt id that nothing uses any more: see tryPlace.
   */
  const forgetInRedis = (keys: AttemptKeys, attempt: string) => void attemptsInRedis?.released(keys, attempt).catch(() => undefined);
  /**
   * Runs `step` on `counts`, or on this process's when they are this process's already, absent
   * (no Redis) or fail; with the counts that answered.
   */
  const orHere = async <T>(counts: LoginAttempts | undefined, keys: AttemptKeys, attempt: string, step: (counts: LoginAttempts) => Promise<T>): Promise<{ value: T; counts: LoginAttempts }> => {
    if (counts !== undefined && counts !== attemptsHere) {
      try {
        return { value: await step(counts), counts };
      } catch {
        // Redis did not answer (or refused: read-only after a failover, out of memory): this
        // process's counts stand in, so each instance counts alone while it lasts.
        metrics?.loginThrottleLocal.inc();
        forgetInRedis(keys, attempt);
      }
    }
    return { value: await step(attemptsHere), counts: attemptsHere };
  };
  const secondsLeft = (ms: number) => Math.max(1, Math.ceil(ms / 1000));
  const refused = (reason: LoginRefused['reason'], retryAfterSeconds: number): LoginRefused => ({ refused: true, reason, retryAfterSeconds });

  /** What a take that gave no place means for the attempt: a refusal for a lock, else `busy`. */
  const refusedFor = ({ outcome, msLeft }: AttemptTake): LoginRefused | 'busy' => {
    switch (outcome) {
      case 'ip-locked':
        return refused('ip', secondsLeft(msLeft));
      case 'pair-locked':
        return refused('pair', secondsLeft(msLeft));
      default:
        return 'busy';
    }
  };
  /** Frees the places; when their counts do not answer, they stay held until holdMs after they were taken, never freed in other counts. */
  const giveBack = (keys: AttemptKeys, place: Place) => place.counts.released(keys, place.attempt).catch(() => undefined);
  /**
   * One try for places in the pair and the IP: the place, a refusal, or `busy`. Each try is an
   * attempt of its own (a new id): a release sent after an earlier try's timeout, which may reach
   * Redis late (resent as EVAL once Redis answers that it lacks the script), can then free only
   * what that try took, never this one's place.
   */
  const tryPlace = async (keys: AttemptKeys): Promise<Place | LoginRefused | 'busy'> => {
    // A lock counted in this process while Redis did not answer holds when it answers again: Redis
    // never saw those failures (a restarted one has none at all), and would give the pair a fresh set.
    const lockedHere = attemptsInRedis === undefined ? undefined : attemptsHere.lockOf(keys);
    if (lockedHere !== undefined) return refusedFor(lockedHere);
    const attempt = randomUUID();
    const { value: taken, counts } = await orHere(attemptsInRedis, keys, attempt, (counts) => counts.take(keys, attempt));
    return taken.outcome === 'placed' ? { attempt, counts } : refusedFor(taken);
  };
  /** Attempts waiting in this process, by the pair's key and by the IP's. */
  const waiting = new Map<string, number>();
  const countWaiting = (key: string, change: 1 | -1) => {
    const waiters = (waiting.get(key) ?? 0) + change;
    if (waiters === 0) waiting.delete(key);
    else waiting.set(key, waiters);
  };
  /**
   * This attempt's places, or why it is refused. While the pair or the IP is busy the attempt asks
   * again until a running attempt has ended, busyWaitMs pass or `signal` aborts (the client left);
   * at most MAX_WAITING attempts of a pair, and as many of an IP, wait in this process.
   */
  const takePlace = async (keys: AttemptKeys, signal: AbortSignal | undefined): Promise<Place | LoginRefused> => {
    const busy = refused('busy', 1);
    const first = await tryPlace(keys);
    if (first !== 'busy') return first;
    if ((waiting.get(keys.pair) ?? 0) >= MAX_WAITING || (waiting.get(keys.ip) ?? 0) >= MAX_WAITING) return busy;
    countWaiting(keys.pair, 1);
    countWaiting(keys.ip, 1);
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
        const next = await tryPlace(keys);
        if (next !== 'busy') return next;
      }
    } finally {
      countWaiting(keys.pair, -1);
      countWaiting(keys.ip, -1);
    }
  };

  return {
    async begin(username, clientIp, signal) {
      const keys = keysOf(username, throttledAddress(clientIp));
      const place = await takePlace(keys, signal);
      if ('refused' in place) return place;

      // The attempt's signal: the client leaving, or the hold running out for password work.
      const cutoff = new AbortController();
      const stop = () => cutoff.abort();
      const timer = setTimeout(stop, (holdMs * 5) / 6).unref();
      if (signal?.aborted) stop();
      signal?.addEventListener('abort', stop, { once: true });
      let ended = false;
      const end = async <T>(outcome: () => Promise<T>, otherwise: T): Promise<T> => {
        if (ended) return otherwise;
        ended = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', stop);
        return outcome();
      };
      return {
        refused: false,
        signal: cutoff.signal,
        failed: () =>
          end(async () => {
            // Counted in the counts that hold the place; when they do not answer, here.
            const { value } = await orHere(place.counts, keys, place.attempt, (counts) => counts.failed(keys, place.attempt));
            return value;
          }, { pairLockedNow: false, ipLockedNow: false }),
        succeeded: () =>
          end(async () => {
            // Clears the failures wherever the pair is counted; counts that do not answer keep theirs
            // (only Redis's can fail).
            const everywhere = attemptsInRedis === undefined ? [attemptsHere] : [attemptsInRedis, attemptsHere];
            await Promise.all(everywhere.map((counts) => counts.succeeded(keys, place.attempt).catch(() => forgetInRedis(keys, place.attempt))));
          }, undefined),
        release: () => end(() => giveBack(keys, place), undefined),
      };
    },
  };
}
