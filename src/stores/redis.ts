import { Redis } from 'ioredis';

export type { Redis };

/** How often a READONLY reply may make the client reconnect (see createRedis). */
const READONLY_RECONNECT_MS = 30_000;

/**
 * An ioredis client that fails fast while disconnected (no offline queue) and gives up on a
 * command Redis does not answer within a second (a hung server or a dropped link keeps the
 * connection open), so a Redis outage turns into a fallback or a 503 instead of requests that
 * hang; it keeps reconnecting.
 */
export function createRedis(redisUrl: string): Redis {
  let lastReadOnlyReconnect = Number.NEGATIVE_INFINITY;
  return new Redis(redisUrl, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: 1000,
    // A connection that stops answering while commands wait (the host gone, its address moved to
    // another) is dropped and made again, rather than left to the kernel's retransmissions for
    // some 15 minutes: the new connection's 'ready' re-seeds the denylist.
    socketTimeout: 5000,
    connectTimeout: 2000,
    // A primary demoted by a failover refuses writes (READONLY) on a connection that stays open:
    // reconnecting finds the new primary through the same address, and re-seeds it. At most once
    // every READONLY_RECONNECT_MS: where the address stays on the replica, every reconnect's
    // re-seed meets READONLY again, and reconnecting each time would loop for ever.
    reconnectOnError: (error) => {
      if (!error.message.startsWith('READONLY') || Date.now() - lastReadOnlyReconnect < READONLY_RECONNECT_MS) return false;
      lastReadOnlyReconnect = Date.now();
      return 1;
    },
    retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
    // A command sent before a dropped connection may have run: sent again after the reconnect, a
    // throttle step (a failure, a success) would count twice. Not sent again, it fails only by
    // commandTimeout (which must stay set), and callers treat it as unanswered.
    autoResendUnfulfilledCommands: false,
    lazyConnect: false,
    // How long disconnect() lets a closing socket finish before destroying it. ioredis arms this
    // timer even when the socket has already closed (Redis refused it) and then nothing clears
    // it, so it held a process that was done, such as a CLI command run while Redis was down, for
    // its whole length (2 s by default).
    disconnectTimeout: 200,
  });
}

/**
 * What is wrong, when the database the URL names is not the one the connection uses: ioredis goes on
 * in database 0 when Redis refuses the SELECT of one past its count (`/16` by default). Needs
 * Redis 6.2 (CLIENT INFO): an older one, or one that refuses the command, is taken at its word.
 */
export async function refusedDatabase(redis: Redis): Promise<string | undefined> {
  const named = redis.options.db ?? 0;
  const info = await redis.call('CLIENT', 'INFO').then(String, () => '');
  const used = Number(/(?:^|\s)db=(\d+)/.exec(info)?.[1] ?? named);
  return used === named ? undefined : `REDIS_URL names database ${named}, which Redis refused (authd would use database ${used})`;
}

/** Resolves when Redis answers PING. */
export async function pingRedis(redis: Redis): Promise<void> {
  await redis.ping();
}

/** Resolves once the client is connected, or after `timeoutMs` regardless (authd starts without Redis). */
export function redisReady(redis: Redis, timeoutMs: number): Promise<boolean> {
  if (redis.status === 'ready') return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      redis.off('ready', onReady);
      resolve(false);
    }, timeoutMs);
    const onReady = () => {
      clearTimeout(timer);
      resolve(true);
    };
    redis.once('ready', onReady);
  });
}
