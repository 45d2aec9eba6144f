import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { registerKeysCommands } from '../../src/cli/commands/keys.js';
import { CliError } from '../../src/cli/context.js';
import { systemClock } from '../../src/clock.js';
import { createKeyring } from '../../src/keys/keyring.js';
import { captureLogs } from '../support/logs.js';

const KID = /\d{8}-[0-9a-f]{8}/.source;
const ISO = /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{3})?Z/.source;
const ENV_NAMES = ['KEYS_DIR', 'KEY_ROTATION_INTERVAL', 'LOG_LEVEL'] as const;
let root: string;
const savedEnv = Object.fromEntries(ENV_NAMES.map((name) => [name, process.env[name]]));

/** Runs `authd keys …` in-process and returns what it printed on stdout. */
async function keys(...args: string[]): Promise<string> {
  const program = new Command('authd').exitOverride();
  registerKeysCommands(program);
  const printed: string[] = [];
  const write = process.stdout.write;
  process.stdout.write = ((chunk: string) => printed.push(chunk) > 0) as typeof process.stdout.write;
  try {
    await program.parseAsync(['keys', ...args], { from: 'user' });
  } finally {
    process.stdout.write = write;
  }
  return printed.join('');
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'authd-keys-cli-'));
  process.env['KEY_ROTATION_INTERVAL'] = '0';
  process.env['LOG_LEVEL'] = 'info';
});
afterAll(async () => {
  for (const name of ENV_NAMES) {
    if (savedEnv[name] === undefined) delete process.env[name];
    else process.env[name] = savedEnv[name];
  }
  await rm(root, { recursive: true, force: true });
});
beforeEach(() => {
  process.env['KEYS_DIR'] = join(root, `keys-${Math.random().toString(16).slice(2)}`);
});

describe('authd keys', () => {
  it('rotates, lists one key per line, retires a next key and refuses a second rotation', async () => {
    expect(await keys('list')).toBe('no keys (authd makes one at first start)\n');
    // On an empty keyring nothing signs yet, so the first key signs at once.
    const [, first, signsFrom] = new RegExp(`^created (${KID}); it signs from (${ISO})\\n$`).exec(await keys('rotate'))!;
    expect(Math.abs(Date.parse(signsFrom!) - Date.now())).toBeLessThan(10_000);
    expect(await keys('list')).toMatch(new RegExp(`^${first} {2}active {4}created ${ISO} {2}activates ${signsFrom}\\n$`));
    const before = Date.now();
    const rotated = await keys('rotate');
    expect(rotated).toMatch(new RegExp(`^created (${KID}); it signs from (${ISO})\\n$`));
    const [, kid, activates] = new RegExp(`^created (${KID}); it signs from (${ISO})`).exec(rotated)!;
    expect(Date.parse(activates!) - before).toBeGreaterThanOrEqual(359_000);
    expect(Date.parse(activates!) - before).toBeLessThan(370_000);
    expect((await keys('list')).split('\n')[1]).toMatch(new RegExp(`^${kid} {2}next {6}created ${ISO} {2}activates ${activates}$`));
    await expect(keys('rotate')).rejects.toThrow(new CliError('a next key is already waiting to activate; rotate again after it does'));
    expect(await keys('retire', kid!)).toMatch(new RegExp(`^${kid} {2}dropped {3}created ${ISO} {2}activates ${ISO} {2}retires ${ISO}\\n$`));
  });

  it('revokes a key, and turns refusals into one-line CLI errors', async () => {
    const server = createKeyring({ dir: process.env['KEYS_DIR']!, clock: systemClock, logger: captureLogs().logger, rotationInterval: 0 });
    await server.load();
    await server.ensureKey();
    const active = server.activeKey()!.kid;
    const kid = /created (\S+);/.exec(await keys('rotate'))![1]!;
    expect(await keys('revoke', kid)).toBe(`revoked ${kid}\n`);
    expect((await keys('list')).split('\n')).toEqual([
      expect.stringMatching(new RegExp(`^${active} {2}active {4}created ${ISO} {2}activates ${ISO}$`)),
      expect.stringMatching(new RegExp(`^${kid} {2}revoked {3}created ${ISO} {2}activates ${ISO} {2}revoked ${ISO}$`)),
      '',
    ]);
    await expect(keys('revoke', kid)).rejects.toThrow(new CliError(`key ${kid} is already revoked`));
    await expect(keys('retire', '20200101-00000000')).rejects.toThrow(new CliError('no key "20200101-00000000"'));
  });

  it('says so when KEYS_DIR cannot be read', async () => {
    const notADirectory = join(root, 'plain-file');
    await writeFile(notADirectory, '');
    process.env['KEYS_DIR'] = notADirectory;
    await expect(keys('list')).rejects.toThrow(new CliError(`KEYS_DIR cannot be read: ${notADirectory} (ENOTDIR)`));
  });
});
