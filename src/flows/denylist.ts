import type { Clock } from '../clock.js';
import type { RevokedAccessToken } from '../domain/revocation.js';
import { temporarilyUnavailable } from '../errors/oauth-error.js';
import { describeError, type Logger } from '../observability/logger.js';
import type { DenylistCache } from '../stores/denylist-cache.js';
import type { RevocationStore } from '../stores/revocation-store.js';

const SEED_PAGE_SIZE = 1000;
/** Catch-up looks this far behind the last sync, for transactions that committed late. */
const CATCH_UP_MARGIN_MS = 30_000;

export interface Denylist {
  /** Records revocations in Postgres (the commit), then Redis (best effort; re-seeding repairs it). */
  revoke(tokens: readonly RevokedAccessToken[]): Promise<void>;
  /** Pushes revocations already recorded in Postgres (inside a transaction) to Redis. */
  publish(tokens: readonly RevokedAccessToken[]): Promise<void>;
  /** Redis first, Postgres when Redis fails; 503 when both do (fail closed). */
  isRevoked(jti: string): Promise<boolean>;
  /** Copies every unexpired revocation from Postgres into Redis. */
  reseed(): Promise<number>;
  /**
   * Keeps Redis complete: a full re-seed when Redis lost the marker of the last seeding (flush,
   * restart), else a catch-up of what was recorded lately (by the CLI or an instance that could
   * not reach Redis at the time).
   */
  sync(): Promise<void>;
  pruneExpired(): Promise<number>;
}

export interface DenylistDeps {
  readonly store: RevocationStore;
  readonly cache: DenylistCache;
  readonly clock: Clock;
  readonly logger: Logger;
}

export function createDenylist({ store, cache, clock, logger }: DenylistDeps): Denylist {
  const now = () => new Date(clock.now());

  const publish = async (tokens: readonly RevokedAccessToken[]) => {
    try {
      await cache.add(tokens, now());
    } catch (error) {
      logger.warn({ err: describeError(error), count: tokens.length }, 'denylist: Redis write failed; Postgres holds the revocation');
    }
  };

  let lastSync = clock.now();

  const reseed = async () => {
    let count = 0;
    let after: string | undefined;
    for (;;) {
      const page = await store.unexpired(now(), after, SEED_PAGE_SIZE);
      if (page.length === 0) break;
      await cache.add(page, now());
      count += page.length;
      after = page[page.length - 1]!.jti;
    }
    await cache.markSeeded();
    logger.info({ count }, 'denylist: Redis seeded from Postgres');
    return count;
  };

  return {
    async revoke(tokens) {
      await store.record(tokens, now());
      await publish(tokens);
    },
    publish,
    async isRevoked(jti) {
      try {
        return await cache.has(jti);
      } catch {
        try {
          return await store.isRevoked(jti);
        } catch {
          throw temporarilyUnavailable(5, 'revocation state unavailable');
        }
      }
    },
    reseed,
    async sync() {
      const started = clock.now();
      if (!(await cache.isSeeded())) await reseed();
      else await cache.add(await store.recordedSince(new Date(lastSync - CATCH_UP_MARGIN_MS), now()), now());
      lastSync = started;
    },
    pruneExpired: () => store.pruneExpired(now()),
  };
}
