import { systemClock } from '../clock.js';
import type { Config } from '../config/config.js';
import { createDataLayer, requireServices, type DataLayer } from '../data-layer.js';
import type { User } from '../domain/user.js';
import { cliLogger } from './cli-logger.js';
import { CliError, loadRuntimeConfig } from './context.js';

/** Runs `work` with the data layer open, closing it however the work ends. */
export async function withDataLayer<T>(work: (data: DataLayer, config: Config) => Promise<T>): Promise<T> {
  const config = requireServices(loadRuntimeConfig());
  const data = createDataLayer(config, cliLogger(config), systemClock);
  try {
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

