/**
 * The login attempts of one (username, IP) pair: the failures counted in its window, and the
 * attempts running, each holding a place until it ends or until holdMs after it started. A pair
 * has a place free while its failures and running attempts together are fewer than maxFailures.
 *
 * A window starts with the pair's first attempt or failure and lasts windowMs; its failures end
 * with it, and the failure that reaches maxFailures locks the pair for windowMs from then.
 * Running attempts are not tied to a window: one that ends after its window did still frees its
 * own place (and no other), and its failure counts in the window current then. Ending an attempt
 * is idempotent: ending one that holds no place (ended already, or past holdMs) frees nothing.
 */
export interface PairAttempts {
  /** A place for the attempt, or why there is none. Asking again for an attempt that holds a place answers `placed`. */
  take(pair: string, attempt: string): Promise<PairTake>;
  /** Counts a failure and frees the attempt's place. `lockedNow` when this failure locked the pair. */
  failed(pair: string, attempt: string): Promise<{ lockedNow: boolean }>;
  /** Clears the window's failures (and a lock) and frees the attempt's place. */
  succeeded(pair: string, attempt: string): Promise<void>;
  /** Frees the attempt's place. */
  released(pair: string, attempt: string): Promise<void>;
}

export interface PairTake {
  /**
   * `placed`: the attempt holds a place. `busy`: the failures and running attempts fill the
   * window. `locked`: the failures reached maxFailures. Only `placed` takes anything.
   */
  readonly outcome: 'placed' | 'busy' | 'locked';
  /** Until the window (or the lock) ends. */
  readonly msLeft: number;
}

export interface PairAttemptsOptions {
  readonly maxFailures: number;
  readonly windowMs: number;
  /**
   * How long a running attempt holds its place at most. An attempt that takes a place and is never
   * ended (its answer was lost, its process died) keeps it this long, not the whole window.
   */
  readonly holdMs: number;
}

/** How often expired pairs are dropped, at most. */
const SWEEP_EVERY_MS = 1000;

interface PairState {
  windowEndsAt: number;
  failures: number;
  /** Running attempts and when each one's hold ends. */
  readonly running: Map<string, number>;
  /** When nothing of the pair counts any more. */
  expiresAt: number;
}

/**
 * A pair's attempts kept in this process: per process when there is no Redis, and while Redis does
 * not answer. Only attempts that took a place (and so cost argon2 work) or failed create a pair,
 * so the pairs held are bounded by the password work done in a window.
 */
export function createPairAttemptsInMemory({ maxFailures, windowMs, holdMs }: PairAttemptsOptions, now: () => number = Date.now): PairAttempts {
  /** In the order they last changed, which is close to the order they expire in. */
  const pairs = new Map<string, PairState>();
  let nextSweep = 0;

  /** The pair as it stands at `at`: ended holds dropped, an ended window replaced by a new one. */
  const load = (pair: string, at: number): PairState => {
    // Expired pairs leave from the front; one held longer (a lock) leaves when it reaches it. The
    // walk also passes the holes that earlier moves to the back left, so it runs once a second at
    // most: a pair found expired before then is reset below all the same.
    if (at >= nextSweep) {
      nextSweep = at + SWEEP_EVERY_MS;
      for (const [key, state] of pairs) {
        if (state.expiresAt > at) break;
        pairs.delete(key);
      }
    }
    const state = pairs.get(pair) ?? { windowEndsAt: 0, failures: 0, running: new Map<string, number>(), expiresAt: 0 };
    for (const [attempt, holdEndsAt] of state.running) if (holdEndsAt <= at) state.running.delete(attempt);
    if (state.windowEndsAt <= at) {
      state.windowEndsAt = at + windowMs;
      state.failures = 0;
    }
    return state;
  };
  /** Keeps the pair while anything of it counts. */
  const save = (pair: string, state: PairState) => {
    pairs.delete(pair);
    if (state.failures === 0 && state.running.size === 0) return;
    state.expiresAt = Math.max(state.windowEndsAt, ...state.running.values());
    pairs.set(pair, state);
  };
  /** Runs `change` on the pair as it stands now, and keeps what it left. */
  const update = async <T>(pair: string, change: (state: PairState, at: number) => T): Promise<T> => {
    const at = now();
    const state = load(pair, at);
    const result = change(state, at);
    save(pair, state);
    return result;
  };

  return {
    take: (pair, attempt) =>
      update(pair, (state, at): PairTake => {
        const msLeft = state.windowEndsAt - at;
        if (state.running.has(attempt)) return { outcome: 'placed', msLeft };
        if (state.failures >= maxFailures) return { outcome: 'locked', msLeft };
        if (state.failures + state.running.size >= maxFailures) return { outcome: 'busy', msLeft };
        state.running.set(attempt, at + holdMs);
        return { outcome: 'placed', msLeft };
      }),
    failed: (pair, attempt) =>
      update(pair, (state, at) => {
        state.running.delete(attempt);
        if (state.failures >= maxFailures) return { lockedNow: false };
        state.failures += 1;
        if (state.failures < maxFailures) return { lockedNow: false };
        state.windowEndsAt = at + windowMs;
        return { lockedNow: true };
      }),
    succeeded: (pair, attempt) =>
      update(pair, (state) => {
        state.running.delete(attempt);
        state.failures = 0;
      }),
    released: (pair, attempt) =>
      update(pair, (state) => {
        state.running.delete(attempt);
      }),
  };
}
