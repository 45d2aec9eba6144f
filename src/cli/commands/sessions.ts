import type { Command } from 'commander';
import { systemClock } from '../../clock.js';
import { createDataLayer, requireServices, type DataLayer } from '../../data-layer.js';
import type { User } from '../../domain/user.js';
import { CliError, loadRuntimeConfig } from '../context.js';
import { cliLogger } from '../cli-logger.js';

/** Runs `work` with the data layer open, closing it however the work ends. */
export async function withDataLayer<T>(work: (data: DataLayer) => Promise<T>): Promise<T> {
  const config = requireServices(loadRuntimeConfig());
  const data = createDataLayer(config, cliLogger(config), systemClock);
  try {
    return await work(data);
  } finally {
    await data.close();
  }
}

export async function findUserOrFail(data: DataLayer, username: string): Promise<User> {
  const user = await data.users.findByUsername(username);
  if (user === undefined) throw new CliError(`no user "${username}"`);
  return user;
}

const day = (date: Date) => date.toISOString().replace('T', ' ').slice(0, 19) + 'Z';

export function registerSessionsCommands(program: Command): void {
  const sessions = program.command('sessions').description("list or end a user's login sessions (refresh-token families)");

  sessions
    .command('list <username>')
    .description('one line per session: family, client, created, last used, expires, state')
    .action((username: string) =>
      withDataLayer(async (data) => {
        const user = await findUserOrFail(data, username);
        const families = await data.sessions.list(user);
        if (families.length === 0) {
          process.stdout.write(`no sessions for ${user.username}\n`);
          return;
        }
        process.stdout.write('family                                client               created               last used             expires               state\n');
        for (const family of families) {
          process.stdout.write(
            `${family.familyId}  ${family.clientId.padEnd(20)} ${day(family.createdAt)}  ${day(family.lastUsedAt)}  ${day(family.expiresAt)}  ${family.active ? 'active' : 'ended'}\n`,
          );
        }
      }),
    );

  sessions
    .command('revoke <username>')
    .description('end every session of the user and denylist their access tokens')
    .action((username: string) =>
      withDataLayer(async (data) => {
        const user = await findUserOrFail(data, username);
        const { accessTokensDenylisted } = await data.sessions.revokeAll(user);
        process.stdout.write(`revoked all sessions of ${user.username} (${accessTokensDenylisted} access tokens denylisted)\n`);
      }),
    );
}
