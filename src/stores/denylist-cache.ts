import { randomUUID } from 'node:crypto';
import { denylistedIfExpiringAfter, type RevokedAccessToken } from '../domain/revocation.js';
import { encodeRevocations, revocationChannel } from './denylist-events.js';
import type { Redis } from './redis.js';
import { redisScript } from './redis-script.js';

/** `authd:revoked:<jti>`: the key resource servers read (SPEC), value the reason, TTL = exp − now. */
export const denylistKey = (jti: string): string => `authd:revoked:${jti}`;

/** Present while Redis holds the full denylist; gone after a flush or a restart without persistence. */
const SEEDED_MARKER = 'authd:denylist:seeded';

/** One per seeding under way, so that a flush during it is seen at its end. */
const seedingKey = (id: string) => `authd:denylist:seeding:${id}`;
/** Longer than any seeding; a seeding still running then is simply not marked, and runs again. */
const SEEDING_TTL_SECONDS = 3600;

/** Sets the marker only if the seeding's own key survived it (a flush meanwhile took keys already written). */
const MARK_IF_NOT_FLUSHED = redisScript(`if redis.call('DEL', KEYS[1]) == 0 then return 0 end
redis.call('SET', KEYS[2], ARGV[1])
return 1`);

/** The Redis side of the denylist. Every method may reject when Redis is unreachable. */
export interface DenylistCache {
  /**
   * Sets the keys; new revocations are also announced on the revocation channel in the same
   * round trip (re-seeding copies known ones and announces nothing). `ifAbsent`: a key set already
   * keeps its value (for revocations another one recorded in Postgres, whose reason stands).
   */
  add(tokens: readonly RevokedAccessToken[], now: Date, options?: { announce?: boolean; ifAbsent?: boolean }): Promise<void>;
  /**
   * Whether the jti is revoked; undefined when Redis cannot tell because it has lost its keys since
   * the last seeding (a flush, a restart without persistence) and the re-seed has not finished.
   */
  isRevoked(jti: string): Promise<boolean | undefined>;
  /** Those of `tokens` whose keys Redis does not hold, in one read. */
  missing<T extends { readonly jti: string }>(tokens: readonly T[]): Promise<T[]>;
  /** Whether Redis still holds the marker set after the last complete seeding. */
  isSeeded(): Promise<boolean>;
  /** Starts a seeding; returns its id for `markSeeded`. */
  beginSeeding(): Promise<string>;
  /** Sets the marker after a seeding, unless Redis was flushed since it began; says whether it did. */
  markSeeded(seeding: string): Promise<boolean>;
}

export function createDenylistCache(redis: Redis): DenylistCache {
  const channel = revocationChannel(redis);
  return {
    async add(tokens, now, { announce = true, ifAbsent = false } = {}) {
      const expiringAfter = denylistedIfExpiringAfter(now);
      const live = tokens.filter((token) => token.expiresAt > expiringAfter);
      if (live.length === 0) return;
      const pipeline = redis.pipeline();
      // Expiring at the token's exp by Redis's clock (TTL = exp − now there), not after a TTL
      // worked out on this host: a host whose clock runs ahead would make the key go early.
      for (const token of live) {
        const key = denylistKey(token.jti);
        const exat = Math.ceil(token.expiresAt.getTime() / 1000);
        if (ifAbsent) pipeline.set(key, token.reason, 'EXAT', exat, 'NX');
        else pipeline.set(key, token.reason, 'EXAT', exat);
      }
      if (announce) pipeline.publish(channel, encodeRevocations(live));
      const results = await pipeline.exec();
      const failed = results?.find(([error]) => error !== null);
      if (failed) throw failed[0];
    },
    async isRevoked(jti) {
      const [reason, seeded] = await redis.mget(denylistKey(jti), SEEDED_MARKER);
      if (reason !== null && reason !== undefined) return true;
      return seeded === null || seeded === undefined ? undefined : false;
    },
    async missing(tokens) {
      if (tokens.length === 0) return [];
      const values = await redis.mget(tokens.map(({ jti }) => denylistKey(jti)));
      return tokens.filter((_, index) => values[index] === null);
    },
    async isSeeded() {
      return (await redis.exists(SEEDED_MARKER)) === 1;
    },
    async beginSeeding() {
      const id = randomUUID();
      await redis.set(seedingKey(id), '1', 'EX', SEEDING_TTL_SECONDS);
      return id;
    },
    async markSeeded(seeding) {
      return (await MARK_IF_NOT_FLUSHED.run(redis, [seedingKey(seeding), SEEDED_MARKER], [new Date().toISOString()])) === 1;
    },
  };
}
