/** One denylisted access token, as far as an in-process copy needs it. */
export interface RevokedEntry {
  readonly jti: string;
  readonly expiresAt: Date;
}

/** Past this many live entries the copy stops answering (and holding them) and checks go to Redis again. */
export const MAX_REVOKED_ENTRIES = 1_000_000;

/**
 * An in-process copy of the denylist: the jtis of unexpired revoked access tokens. It says a
 * token it holds is revoked at any time, and one it does not hold is not only while it is known
 * to be complete — loaded from Postgres after a confirmed subscription to the revocation channel,
 * with every message since added; otherwise it says "don't know", so the caller asks Redis or
 * Postgres instead. Each load gets a generation: losing the
 * subscription during a load makes that load's completion void.
 */
export interface RevokedSet {
  /** true for a revocation it holds; false while complete; else undefined: the caller must look elsewhere. */
  lookup(jti: string, nowMs: number): boolean | undefined;
  add(entries: readonly RevokedEntry[]): void;
  /** The copy may have missed revocations from now on (subscription lost); returns a new generation. */
  invalidate(): number;
  /** Marks the load that began at `generation` complete, unless the copy was invalidated since. */
  markComplete(generation: number): boolean;
  isComplete(): boolean;
  /**
   * The copy passed its size bound: it dropped every entry and takes none until the next load
   * (`invalidate`) starts, so that a flood of revocations costs no memory here.
   */
  isOverflowed(): boolean;
  size(): number;
  /** Drops entries whose tokens have expired; returns how many. */
  prune(nowMs: number): number;
}

export function createRevokedSet(maxEntries = MAX_REVOKED_ENTRIES): RevokedSet {
  const entries = new Map<string, number>();
  let generation = 0;
  let complete = false;
  let overflowed = false;
  const invalidate = () => {
    complete = false;
    overflowed = false;
    generation += 1;
    return generation;
  };
  return {
    lookup(jti, nowMs) {
      const expiresAt = entries.get(jti);
      // A revocation it holds is a fact, complete or not: only "not revoked" needs the whole list.
      if (expiresAt !== undefined && expiresAt > nowMs) return true;
      return complete ? false : undefined;
    },
    add(added) {
      if (overflowed) return;
      for (const { jti, expiresAt } of added) {
        const ms = expiresAt.getTime();
        if (ms > (entries.get(jti) ?? 0)) entries.set(jti, ms);
      }
      if (entries.size > maxEntries) {
        invalidate();
        overflowed = true;
        entries.clear();
      }
    },
    invalidate,
    markComplete(loaded) {
      if (loaded !== generation || overflowed) return false;
      complete = true;
      return true;
    },
    isComplete: () => complete,
    isOverflowed: () => overflowed,
    size: () => entries.size,
    prune(nowMs) {
      let dropped = 0;
      for (const [jti, expiresAt] of entries) {
        if (expiresAt <= nowMs) {
          entries.delete(jti);
          dropped += 1;
        }
      }
      return dropped;
    },
  };
}
