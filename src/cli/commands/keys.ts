import type { Command } from 'commander';
import { systemClock } from '../../clock.js';
import { createKeyring, KeyringError, type Keyring, type KeyView } from '../../keys/keyring.js';
import { cliLogger } from '../cli-logger.js';
import { CliError, loadRuntimeConfig } from '../context.js';

const when = (date: Date): string => date.toISOString().replace('.000Z', 'Z');

/** One key per line: kid, state, created, activates, then when it retires and drops (or was revoked). */
const row = (key: KeyView): string =>
  [
    key.kid,
    key.state.padEnd(8),
    `created ${when(key.created)}`,
    `activates ${when(key.activates)}`,
    ...(key.retires ? [`retires ${when(key.retires)}`] : []),
    ...(key.dropsAt ? [`drops ${when(key.dropsAt)}`] : []),
    ...(key.revoked ? [`revoked ${when(key.revoked)}`] : []),
  ].join('  ');

/** Opens the configured keyring and runs one operation, turning refusals into one-line errors. */
async function withKeyring(work: (keyring: Keyring) => Promise<void>): Promise<void> {
  const config = loadRuntimeConfig();
  const keyring = createKeyring({
    dir: config.keysDir,
    clock: systemClock,
    logger: cliLogger(config),
    rotationInterval: config.keyRotationInterval,
  });
  try {
    await keyring.load();
    await work(keyring);
  } catch (error) {
    throw error instanceof KeyringError ? new CliError(error.message) : error;
  }
}

export function registerKeysCommands(program: Command): void {
  const keys = program.command('keys').description('the signing keyring in KEYS_DIR');

  keys
    .command('list')
    .description('every key with its state and dates')
    .action(() =>
      withKeyring(async (keyring) => {
        const all = keyring.list();
        process.stdout.write(all.length === 0 ? 'no keys (authd makes one at first start)\n' : all.map((key) => `${row(key)}\n`).join(''));
      }),
    );

  keys
    .command('rotate')
    .description('create the next key: published now, signing 6 minutes from now (at once on an empty keyring)')
    .action(() =>
      withKeyring(async (keyring) => {
        const key = await keyring.rotate();
        process.stdout.write(`created ${key.kid}; it signs from ${when(key.activates)}\n`);
      }),
    );

  keys
    .command('retire <kid>')
    .description('retire a published key early (it stays published until its tokens have expired) or withdraw a next key; the signing key is refused: rotate instead')
    .action((kid: string) =>
      withKeyring(async (keyring) => {
        process.stdout.write(`${row(await keyring.retire(kid))}\n`);
      }),
    );

  keys
    .command('revoke <kid>')
    .description('drop a key at once: its tokens stop verifying (a replacement is made if it was signing)')
    .action((kid: string) =>
      withKeyring(async (keyring) => {
        const { revoked, replacement } = await keyring.revoke(kid);
        process.stdout.write(`revoked ${revoked.kid}\n`);
        if (replacement) process.stdout.write(`created ${replacement.kid}; it signs now\n`);
      }),
    );
}
