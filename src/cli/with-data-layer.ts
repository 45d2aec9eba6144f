import { systemClock } from '../clock.js';
import type { Config } from '../config/config.js';
import { createDataLayer, requireServices, type DataLayer } from '../data-layer.js';
import type { User } from '../domain/user.js';
import { redisReady, refusedDatabase } from '../stores/redis.js';
import { cliLogger } from './cli-logger.js';
import { CliError, loadRuntimeConfig } from './context.js';

/** How long a command that announces revocations waits for Redis, as the server does at start. */
const REDIS_WAIT_MS = 2000;

export interface DataLayerUse {
  /**
   * Wait for the Redis connection before the work: a revocation announced before it is ready
   * reaches Redis and the running instances only at their next sync, up to 10 s later.
   */
  readonly waitForRedis?: boolean;
}

/** Runs `work` with the data layer open, closing it however the work ends. */
export async function withDataLayer<T>(work: (data: DataLayer, config: Config) => Promise<T>, { waitForRedis = false }: DataLayerUse = {}): Promise<T> {
  const config = requireServices(loadRuntimeConfig());
  const data = createDataLayer(config, cliLogger(config), systemClock);
  try {
    if (waitForRedis && (await redisReady(data.redis, REDIS_WAIT_MS))) {
      const refused = await refusedDatabase(data.redis);
      if (refused !== undefined) throw new CliError(refused);
    }
    return await work(data, config);
  } finally {
    await data.close();
  }
}

export async function findUserOrFail(data: DataLayer, username: string): Promise<User> {
  const user = await data.users.findByUsername(username);
  if (user === undefined) throw new CliError(`no user "${username}"`);
  return user;
}

