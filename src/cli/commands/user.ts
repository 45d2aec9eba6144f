import type { Command } from 'commander';
import { isValidUsername } from '../../domain/user.js';
import { createPasswordHasher } from '../../passwords/password-hasher.js';
import { DuplicateError, NotFoundError } from '../../stores/errors.js';
import { CliError } from '../context.js';
import { readPassword } from '../password-input.js';
import { findUserOrFail, withDataLayer } from '../with-data-layer.js';

const collect = (value: string, previous: string[]) => [...previous, value];

/** Store refusals the user can act on become one-line CLI errors. */
const asCliError = (error: unknown): never => {
  throw error instanceof DuplicateError || error instanceof NotFoundError ? new CliError(error.message) : error;
};

const checkUsername = (username: string) => {
  if (!isValidUsername(username)) throw new CliError('a username is 1 to 128 characters, without control characters or surrounding spaces');
};

export function registerUserCommands(program: Command): void {
  const user = program.command('user').description('users who log in with a password');

  user
    .command('add <username>')
    .description('create a user; the password is read from stdin (first line) or asked twice')
    .option('--role <role>', 'a role for the `roles` claim (repeatable)', collect, [])
    .action((username: string, options: { role: string[] }) =>
      withDataLayer(async (data, config) => {
        checkUsername(username);
        if (options.role.some((role) => !/^[\x21-\x7e]{1,64}$/.test(role))) throw new CliError('a role is 1 to 64 printable characters without spaces');
        // Before the password prompt, so that nobody types a password twice for a name that is taken.
        if ((await data.users.findByUsername(username)) !== undefined) throw new CliError(`user "${username}" already exists`);
        const passwordHash = await createPasswordHasher({ cost: config.argon2 }).hash(await readPassword());
        const created = await data.users.create({ username, passwordHash, roles: [...new Set(options.role)] }).catch(asCliError);
        process.stdout.write(`user: ${created.username}\nid: ${created.id}\n`);
      }),
    );

  user
    .command('disable <username>')
    .description('disable a user and end all their sessions')
    .action((username: string) =>
      withDataLayer(async (data) => {
        const disabled = await data.users.disable(username).catch(asCliError);
        const { accessTokensDenylisted } = await data.sessions.revokeAll(disabled, 'user_disabled');
        process.stdout.write(`disabled ${disabled.username}; ended their sessions (${accessTokensDenylisted} access tokens denylisted)\n`);
      }, { waitForRedis: true }),
    );

  user
    .command('password <username>')
    .description('set a new password, read from stdin (first line) or asked twice')
    .action((username: string) =>
      withDataLayer(async (data, config) => {
        await findUserOrFail(data, username);
        const passwordHash = await createPasswordHasher({ cost: config.argon2 }).hash(await readPassword());
        const updated = await data.users.setPassword(username, passwordHash).catch(asCliError);
        process.stdout.write(`password changed for ${updated.username}\n`);
      }),
    );
}
