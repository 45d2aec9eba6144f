/**
 * The login attempts of a (username, IP) pair and of its IP, each kept as one count: the failures
 * counted in its window, and the attempts running, each holding a place until it ends or until
 * holdMs after it started. A count has a place free while its failures and running attempts
 * together are fewer than its limit; an attempt takes a place in the pair and in the IP at once,
 * or in neither. So guesses sent at once get no more tries than guesses sent one after another,
 * whether they share a username or are spread over many.
 *
 * A window starts with a count's first attempt or failure and lasts windowMs; its failures end
 * with it, and the failure that reaches the limit locks the count for windowMs from then.
 * Running attempts are not tied to a window: one that ends after its window did still frees its
 * own place (and no other), and its failure counts in the window current then. Ending an attempt
 * is idempotent: ending one that holds no place (ended already, or past holdMs) frees nothing.
 */
export interface LoginAttempts {
  /** A place for the attempt, or why there is none. Asking again for an attempt that holds a place answers `placed`. */
  take(keys: AttemptKeys, attempt: string): Promise<AttemptTake>;
  /** Counts a failure in the pair and in the IP and frees the attempt's places; says which of them this failure locked. */
  failed(keys: AttemptKeys, attempt: string): Promise<AttemptFailure>;
  /** Clears the pair's failures (and its lock) and frees the attempt's places; the IP's failures stay. */
  succeeded(keys: AttemptKeys, attempt: string): Promise<void>;
  /** Frees the attempt's places. */
  released(keys: AttemptKeys, attempt: string): Promise<void>;
}

/** Where a pair and its IP are counted. */
export interface AttemptKeys {
  readonly pair: string;
  readonly ip: string;
}

export interface AttemptTake {
  /**
   * `placed`: the attempt holds a place in the pair and in the IP. `ip-locked`, `pair-locked`: that
   * count's failures reached its limit (the IP is asked first). `busy`: failures and running
   * attempts fill the pair or the IP. Only `placed` takes anything.
   */
  readonly outcome: 'placed' | 'busy' | 'pair-locked' | 'ip-locked';
  /** Until the locked count's lock ends; for the other outcomes, until the pair's window ends. */
  readonly msLeft: number;
}

export interface AttemptFailure {
  readonly pairLockedNow: boolean;
  readonly ipLockedNow: boolean;
}

export interface LoginAttemptsOptions {
  /** The pair's limit. */
  readonly maxPairFailures: number;
  /** The IP's limit, across every username. */
  readonly maxIpFailures: number;
  readonly windowMs: number;
  /**
   * How long a running attempt holds its place at most. An attempt that takes a place and is never
   * ended (its answer was lost, its process died) keeps it this long, not the whole window.
   */
  readonly holdMs: number;
}

/** Login attempts kept in this process, which can also say, without changing anything, whether a pair or its IP is locked. */
export interface LoginAttemptsHere extends LoginAttempts {
  /** `ip-locked` or `pair-locked` while that count's failures here hold it locked (the IP is asked first); else undefined. */
  lockOf(keys: AttemptKeys): AttemptTake | undefined;
}

/** How often expired counts are dropped, at most. */
const SWEEP_EVERY_MS = 1000;

interface Count {
  windowEndsAt: number;
  failures: number;
  /** Running attempts and when each one's hold ends. */
  readonly running: Map<string, number>;
  /** When nothing of the count matters any more. */
  expiresAt: number;
}

/**
 * Login attempts kept in this process: per process when there is no Redis, and while Redis does
 * not answer. Only attempts that took a place (and so cost argon2 work) or failed create a count,
 * so the counts held are bounded by the password work done in a window.
 */
export function createLoginAttemptsInMemory(
  { maxPairFailures, maxIpFailures, windowMs, holdMs }: LoginAttemptsOptions,
  now: () => number = Date.now,
): LoginAttemptsHere {
  /** In the order they last changed, which is close to the order they expire in. */
  const counts = new Map<string, Count>();
  let nextSweep = 0;

  /** The count as it stands at `at`: ended holds dropped, an ended window replaced by a new one. */
  const load = (key: string, at: number): Count => {
    const count = counts.get(key) ?? { windowEndsAt: 0, failures: 0, running: new Map<string, number>(), expiresAt: 0 };
    for (const [attempt, holdEndsAt] of count.running) if (holdEndsAt <= at) count.running.delete(attempt);
    if (count.windowEndsAt <= at) {
      count.windowEndsAt = at + windowMs;
      count.failures = 0;
    }
    return count;
  };
  /** Keeps the count while anything of it matters. */
  const save = (key: string, count: Count) => {
    counts.delete(key);
    if (count.failures === 0 && count.running.size === 0) return;
    count.expiresAt = Math.max(count.windowEndsAt, ...count.running.values());
    counts.set(key, count);
  };
  /** Runs `change` on the pair and the IP as they stand now, and keeps what it left. */
  const update = async <T>({ pair: pairKey, ip: ipKey }: AttemptKeys, change: (pair: Count, ip: Count, at: number) => T): Promise<T> => {
    const at = now();
    // Expired counts leave from the front; one held longer (a lock) leaves when it reaches it. The
    // walk also passes the holes that earlier moves to the back left, so it runs once a second at
    // most: a count found expired before then is reset by load() all the same.
    if (at >= nextSweep) {
      nextSweep = at + SWEEP_EVERY_MS;
      for (const [key, count] of counts) {
        if (count.expiresAt > at) break;
        counts.delete(key);
      }
    }
    const pair = load(pairKey, at);
    const ip = load(ipKey, at);
    const result = change(pair, ip, at);
    save(pairKey, pair);
    save(ipKey, ip);
    return result;
  };
  /** Counts a failure; true when it reached `limit`, which locks the count for a window from `at`. */
  const fail = (count: Count, limit: number, at: number): boolean => {
    if (count.failures >= limit) return false;
    count.failures += 1;
    if (count.failures < limit) return false;
    count.windowEndsAt = at + windowMs;
    return true;
  };

  /** Whether `count` is locked at `at`: its failures reached `limit` in a window not yet ended. */
  const isLocked = (count: Count | undefined, limit: number, at: number): count is Count =>
    count !== undefined && count.windowEndsAt > at && count.failures >= limit;
  /** The lock on the IP (asked first) or on the pair at `at`, as `take` answers it; undefined when neither is locked. */
  const lockOn = (pair: Count | undefined, ip: Count | undefined, at: number): AttemptTake | undefined => {
    if (isLocked(ip, maxIpFailures, at)) return { outcome: 'ip-locked', msLeft: ip.windowEndsAt - at };
    if (isLocked(pair, maxPairFailures, at)) return { outcome: 'pair-locked', msLeft: pair.windowEndsAt - at };
    return undefined;
  };

  return {
    lockOf: ({ pair, ip }) => lockOn(counts.get(pair), counts.get(ip), now()),
    take: (keys, attempt) =>
      update(keys, (pair, ip, at): AttemptTake => {
        const msLeft = pair.windowEndsAt - at;
        if (pair.running.has(attempt)) return { outcome: 'placed', msLeft };
        const locked = lockOn(pair, ip, at);
        if (locked !== undefined) return locked;
        const full = pair.failures + pair.running.size >= maxPairFailures || ip.failures + ip.running.size >= maxIpFailures;
        if (full) return { outcome: 'busy', msLeft };
        pair.running.set(attempt, at + holdMs);
        ip.running.set(attempt, at + holdMs);
        return { outcome: 'placed', msLeft };
      }),
    failed: (keys, attempt) =>
      update(keys, (pair, ip, at) => {
        pair.running.delete(attempt);
        ip.running.delete(attempt);
        return { pairLockedNow: fail(pair, maxPairFailures, at), ipLockedNow: fail(ip, maxIpFailures, at) };
      }),
    succeeded: (keys, attempt) =>
      update(keys, (pair, ip) => {
        pair.running.delete(attempt);
        ip.running.delete(attempt);
        pair.failures = 0;
      }),
    released: (keys, attempt) =>
      update(keys, (pair, ip) => {
        pair.running.delete(attempt);
        ip.running.delete(attempt);
      }),
  };
}
