import { randomUUID } from 'node:crypto';

/**
 * The login attempts of one (username, IP) pair within its window: the failures counted, and the
 * attempts running (each holding a place until it ends). A pair has a place free while its
 * failures and running attempts together are fewer than maxFailures. A window starts with the
 * pair's first attempt and lasts windowMs; the failure that reaches maxFailures locks the pair
 * for windowMs from then. Each window has an id, handed to the attempts placed in it, so that an
 * attempt ending after its window ended never frees a place of the next one, and a failure is
 * always counted.
 */
export interface PairAttempts {
  /** A place for a new attempt, or why there is none. */
  take(pair: string): Promise<PairTake>;
  /**
   * Counts a failure and frees the place: in the attempt's window, or, when that window has ended,
   * in the pair's current one. `lockedNow` when this failure locked the pair.
   */
  failed(pair: string, window: string): Promise<{ lockedNow: boolean }>;
  /** Clears the pair's failures (and its lock), and frees the place if its window still runs. */
  succeeded(pair: string, window: string): Promise<void>;
  /** Frees the place if its window still runs; otherwise changes nothing. */
  released(pair: string, window: string): Promise<void>;
}

export interface PairTake {
  /**
   * `placed`: the attempt holds a place. `busy`: the failures and running attempts fill the
   * window. `locked`: the failures reached maxFailures. Only `placed` takes anything.
   */
  readonly outcome: 'placed' | 'busy' | 'locked';
  /** The window's id, to end the attempt with. */
  readonly window: string;
  /** Until the window (or the lock) ends. */
  readonly msLeft: number;
}

export interface PairAttemptsOptions {
  readonly maxFailures: number;
  readonly windowMs: number;
}

/** A new window's id. */
export const newWindowId = (): string => randomUUID();

interface PairState {
  readonly window: string;
  failures: number;
  running: number;
  endsAt: number;
}

/** Expired pairs are dropped as they are met, and all of them at most this often. */
const SWEEP_EVERY_MS = 1000;

/** A pair's attempts kept in this process: per process when there is no Redis, and while Redis does not answer. */
export function createPairAttemptsInMemory({ maxFailures, windowMs }: PairAttemptsOptions, now: () => number = Date.now): PairAttempts {
  const pairs = new Map<string, PairState>();
  let nextSweep = 0;
  const current = (pair: string): PairState | undefined => {
    const at = now();
    if (at >= nextSweep) {
      for (const [key, state] of pairs) if (state.endsAt <= at) pairs.delete(key);
      nextSweep = at + SWEEP_EVERY_MS;
    }
    const state = pairs.get(pair);
    if (state === undefined || state.endsAt > at) return state;
    pairs.delete(pair);
    return undefined;
  };
  const open = (pair: string, failures: number, running: number): PairState => {
    const state = { window: newWindowId(), failures, running, endsAt: now() + windowMs };
    pairs.set(pair, state);
    return state;
  };
  /** Locks the pair for windowMs from now when its failures reached the limit. */
  const lockIfReached = (state: PairState): boolean => {
    if (state.failures < maxFailures) return false;
    state.endsAt = now() + windowMs;
    return true;
  };
  const endPlace = (state: PairState, window: string) => {
    if (state.window === window) state.running = Math.max(0, state.running - 1);
  };

  return {
    async take(pair) {
      const state = current(pair);
      if (state === undefined) return { outcome: 'placed', window: open(pair, 0, 1).window, msLeft: windowMs };
      const msLeft = state.endsAt - now();
      if (state.failures >= maxFailures) return { outcome: 'locked', window: state.window, msLeft };
      if (state.failures + state.running >= maxFailures) return { outcome: 'busy', window: state.window, msLeft };
      state.running += 1;
      return { outcome: 'placed', window: state.window, msLeft };
    },
    async failed(pair, window) {
      const state = current(pair);
      if (state === undefined) return { lockedNow: lockIfReached(open(pair, 1, 0)) };
      endPlace(state, window);
      if (state.failures >= maxFailures) return { lockedNow: false };
      state.failures += 1;
      return { lockedNow: lockIfReached(state) };
    },
    async succeeded(pair, window) {
      const state = current(pair);
      if (state === undefined) return;
      endPlace(state, window);
      state.failures = 0;
      if (state.running === 0) pairs.delete(pair);
    },
    async released(pair, window) {
      const state = current(pair);
      if (state === undefined || state.window !== window) return;
      endPlace(state, window);
      if (state.running === 0 && state.failures === 0) pairs.delete(pair);
    },
  };
}
