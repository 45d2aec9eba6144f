import type { Clock } from './clock.js';
import { ConfigError, type Config } from './config/config.js';
import { createDenylist } from './flows/denylist.js';
import { createSessions } from './flows/sessions.js';
import { createAudit } from './observability/audit.js';
import { describeError, type Logger } from './observability/logger.js';
import { createClientStore } from './stores/client-store.js';
import { connectDatabase } from './stores/database.js';
import { createDenylistCache } from './stores/denylist-cache.js';
import { createRevocationFeed } from './stores/denylist-events.js';
import { createRedis } from './stores/redis.js';
import { createRefreshTokenStore } from './stores/refresh-token-store.js';
import { createRevocationStore } from './stores/revocation-store.js';
import { createUserStore } from './stores/user-store.js';

/** Postgres and Redis with the stores and flows over them that both the server and the CLI use. */
export function createDataLayer(config: Config & { databaseUrl: string; redisUrl: string }, logger: Logger, clock: Clock) {
  const { db, sql, close: closeDatabase } = connectDatabase(config.databaseUrl);
  const redis = createRedis(config.redisUrl);
  redis.on('error', (error: unknown) => logger.warn({ err: describeError(error) }, 'redis connection error'));
  // An idle pooled connection that dies (a restart, a failover, a terminated backend): the pool
  // drops it and the next query opens another, but when it went is worth a line.
  sql.on('error', (error: unknown) => logger.warn({ err: describeError(error) }, 'postgres connection error'));
  const audit = createAudit(logger);
  const revocations = createRevocationStore(sql);
  const refreshTokens = createRefreshTokenStore(db, sql, revocations);
  const feed = createRevocationFeed(redis);
  const denylist = createDenylist({ store: revocations, cache: createDenylistCache(redis), feed, clock, logger });
  return {
    db,
    sql,
    redis,
    audit,
    users: createUserStore(db, sql),
    clients: createClientStore(db, sql),
    refreshTokens,
    denylist,
    sessions: createSessions({ refreshTokens, denylist, clock, audit }),
    async close() {
      // quit() needs a live connection; disconnect() also stops the reconnect loop when Redis is down.
      await Promise.allSettled([closeDatabase(), feed.close(), redis.quit().catch(() => redis.disconnect())]);
    },
  };
}

export type DataLayer = ReturnType<typeof createDataLayer>;

/** Narrows a configuration to one with both services; embedded mode (SPEC) is not built yet. */
export function requireServices(config: Config): Config & { databaseUrl: string; redisUrl: string } {
  if (config.databaseUrl === undefined || config.redisUrl === undefined) {
    throw new ConfigError('DATABASE_URL and REDIS_URL must both be set (embedded mode is not available yet)');
  }
  return config as Config & { databaseUrl: string; redisUrl: string };
}
