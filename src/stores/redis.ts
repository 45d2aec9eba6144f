import { Redis } from 'ioredis';

export type { Redis };

/**
 * An ioredis client that fails fast while disconnected (no offline queue), so a Redis outage
 * turns into a fallback or a 503 instead of requests that hang; it keeps reconnecting.
 */
export function createRedis(redisUrl: string): Redis {
  return new Redis(redisUrl, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
    lazyConnect: false,
  });
}

/** Resolves when Redis answers PING. */
export async function pingRedis(redis: Redis): Promise<void> {
  await redis.ping();
}
