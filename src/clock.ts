/** The source of time for every lifetime decision, injected so tests can move it. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** Whole seconds since the epoch, as JWT claims count them. */
export const epochSeconds = (clock: Clock): number => Math.floor(clock.now() / 1000);
