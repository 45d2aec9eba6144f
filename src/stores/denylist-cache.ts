import type { RevokedAccessToken } from '../domain/revocation.js';
import { encodeRevocations, revocationChannel } from './denylist-events.js';
import type { Redis } from './redis.js';

/** `authd:revoked:<jti>`: the key resource servers read (SPEC), value the reason, TTL = exp − now. */
export const denylistKey = (jti: string): string => `authd:revoked:${jti}`;

/** Present while Redis holds the full denylist; gone after a flush or a restart without persistence. */
const SEEDED_MARKER = 'authd:denylist:seeded';

/** The Redis side of the denylist. Every method may reject when Redis is unreachable. */
export interface DenylistCache {
  /**
   * Sets the keys; new revocations are also announced on the revocation channel, in one
   * transaction with their keys (re-seeding copies known ones and announces nothing).
   */
  add(tokens: readonly RevokedAccessToken[], now: Date, options?: { announce: boolean }): Promise<void>;
  has(jti: string): Promise<boolean>;
  /** Whether Redis still holds the marker set after the last complete seeding. */
  isSeeded(): Promise<boolean>;
  markSeeded(): Promise<void>;
}

export function createDenylistCache(redis: Redis): DenylistCache {
  const channel = revocationChannel(redis);
  return {
    async add(tokens, now, { announce } = { announce: true }) {
      const live = tokens
        .map((token) => ({ token, ttl: Math.ceil((token.expiresAt.getTime() - now.getTime()) / 1000) }))
        .filter(({ ttl }) => ttl > 0);
      if (live.length === 0) return;
      // Announced in one transaction with the keys: whoever hears of a revocation can rely on its
      // key being set (a key refused, say by maxmemory, aborts the announcement too).
      const batch = announce ? redis.multi() : redis.pipeline();
      for (const { token, ttl } of live) batch.set(denylistKey(token.jti), token.reason, 'EX', ttl);
      if (announce) batch.publish(channel, encodeRevocations(live.map(({ token }) => token)));
      const results = await batch.exec();
      const failed = results?.find(([error]) => error !== null);
      if (failed) throw failed[0];
    },
    async has(jti) {
      return (await redis.exists(denylistKey(jti))) === 1;
    },
    async isSeeded() {
      return (await redis.exists(SEEDED_MARKER)) === 1;
    },
    async markSeeded() {
      await redis.set(SEEDED_MARKER, new Date().toISOString());
    },
  };
}
