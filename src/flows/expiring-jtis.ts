/** One denylisted access token, as far as an in-process record of it needs it. */
export interface RevokedEntry {
  readonly jti: string;
  readonly expiresAt: Date;
}

/** jtis of access tokens, each kept until its token expires. */
export interface ExpiringJtis {
  /** Adds the entries; a jti added twice keeps the later expiry. */
  add(entries: readonly RevokedEntry[]): void;
  /** Whether `jti` is held and its token has not expired at `nowMs`. */
  has(jti: string, nowMs: number): boolean;
  /** Drops entries whose tokens have expired; returns how many. */
  prune(nowMs: number): number;
  clear(): void;
  size(): number;
}

export function createExpiringJtis(): ExpiringJtis {
  const expiries = new Map<string, number>();
  return {
    add(entries) {
      for (const { jti, expiresAt } of entries) {
        const ms = expiresAt.getTime();
        if (ms > (expiries.get(jti) ?? 0)) expiries.set(jti, ms);
      }
    },
    has(jti, nowMs) {
      const expiresAt = expiries.get(jti);
      return expiresAt !== undefined && expiresAt > nowMs;
    },
    prune(nowMs) {
      let dropped = 0;
      for (const [jti, expiresAt] of expiries) {
        if (expiresAt <= nowMs) {
          expiries.delete(jti);
          dropped += 1;
        }
      }
      return dropped;
    },
    clear: () => expiries.clear(),
    size: () => expiries.size,
  };
}
