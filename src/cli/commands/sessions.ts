import type { Command } from 'commander';
import { findUserOrFail, withDataLayer } from '../with-data-layer.js';
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
      }, { waitForRedis: true }),
    );
}
