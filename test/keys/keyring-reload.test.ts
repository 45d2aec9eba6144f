import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readdir, rename, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jest } from '@jest/globals';
import { createKeyring, KeyringError, type Keyring } from '../../src/keys/keyring.js';
import { captureLogs } from '../support/logs.js';

const START = Date.UTC(2026, 10, 22, 12);
const WEEK_SECONDS = 7 * 24 * 3600;
let root: string;
let dir: string;
let now: number;
const clock = { now: () => now };
let logs: ReturnType<typeof captureLogs>;

const open = async (rotationInterval = 0): Promise<Keyring> => {
  const keyring = createKeyring({ dir, clock, logger: logs.logger, rotationInterval });
  await keyring.load();
  return keyring;
};
const publishedKids = (keyring: Keyring) => (JSON.parse(keyring.jwks().body) as { keys: { kid: string }[] }).keys.map((k) => k.kid);
const skipped = () => logs.lines.filter((line) => line['msg'] === 'keyring: skipped a key file').map((line) => [line['level'], line['file'], line['reason'], line['keptPrevious']]);
const keyFiles = async () => (await readdir(dir)).filter((name) => name.endsWith('.json')).sort();
const keyFileJson = (kid: string, privateKey: string) =>
  JSON.stringify({ kid, alg: 'ES256', created: new Date(START).toISOString(), activates: new Date(START).toISOString(), retires: null, revoked: null, privateKey });

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'authd-keyring-reload-'));
});
afterAll(() => rm(root, { recursive: true, force: true }));
beforeEach(() => {
  dir = join(root, `keys-${Math.random().toString(16).slice(2)}`);
  now = START;
  logs = captureLogs();
});

describe('reading KEYS_DIR', () => {
  it('skips corrupt files with a warning naming each, and loads the rest', async () => {
    const keyring = await open();
    await keyring.ensureKey();
    const good = keyring.activeKey()!.kid;
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    await writeFile(join(dir, '20261122-deadbeef.json'), '{ not json');
    await writeFile(join(dir, '20261122-0badf00d.json'), keyFileJson('20261122-00000001', p384));
    await writeFile(join(dir, '20261122-00c0ffee.json'), keyFileJson('20261122-00c0ffee', p384));
    await writeFile(join(dir, 'notes.txt'), 'ignored: not *.json');

    const fresh = await open();
    expect(fresh.list().map((key) => key.kid)).toEqual([good]);
    expect(fresh.activeKey()!.kid).toBe(good);
    expect(skipped()).toEqual([
      ['warn', '20261122-00c0ffee.json', 'privateKey is not a P-256 EC key', false],
      ['warn', '20261122-0badf00d.json', 'kid 20261122-00000001 does not match the file name', false],
      ['warn', '20261122-deadbeef.json', 'not valid JSON', false],
    ]);
    expect(logs.raw()).not.toContain('PRIVATE KEY');
  });

  it('skips a key file that is not a regular file (a FIFO would block the read for ever), and follows a symlink to one', async () => {
    const keyring = await open();
    await keyring.ensureKey();
    const good = keyring.activeKey()!.kid;
    // A symlink to the key, as a mounted secret's files are; the key file itself moves aside.
    await rename(join(dir, `${good}.json`), join(dir, 'real-key'));
    await symlink(join(dir, 'real-key'), join(dir, `${good}.json`));
    expect(spawnSync('mkfifo', [join(dir, '20261122-00f1f0f0.json')]).status).toBe(0);

    const fresh = await open();
    expect(fresh.activeKey()!.kid).toBe(good);
    expect(skipped()).toEqual([['warn', '20261122-00f1f0f0.json', 'not a regular file', false]]);
  });

  it('makes no first key beside key files it cannot read: it refuses to start, naming them', async () => {
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, '20261122-deadbeef.json'), '{ not json');
    const keyring = await open();
    await expect(keyring.ensureKey()).rejects.toThrow(
      new KeyringError(`KEYS_DIR ${dir} holds key files that could not be read (20261122-deadbeef.json; the log says why): fix or remove them`),
    );
    expect(keyring.activeKey()).toBeUndefined();
    expect(await readdir(dir)).toEqual(['20261122-deadbeef.json']);
    expect(skipped()).toEqual([
      ['warn', '20261122-deadbeef.json', 'not valid JSON', false],
      ['warn', '20261122-deadbeef.json', 'not valid JSON', false],
    ]);
  });

  it('makes no first key either when only keys that can no longer sign could be read beside them', async () => {
    const keyring = await open();
    await keyring.ensureKey();
    const revoked = keyring.activeKey()!.kid;
    const { replacement } = await keyring.revoke(revoked);
    // The signing key's file turns unreadable to this process; the revoked key's is still good.
    await writeFile(join(dir, `${replacement!.kid}.json`), '{ not json');
    const fresh = await open();
    expect(fresh.list().map(({ kid, state }) => [kid, state])).toEqual([[revoked, 'revoked']]);
    await expect(fresh.ensureKey()).rejects.toThrow(
      new KeyringError(`KEYS_DIR ${dir} holds key files that could not be read (${replacement!.kid}.json; the log says why): fix or remove them`),
    );
    expect((await readdir(dir)).sort()).toEqual([`${revoked}.json`, `${replacement!.kid}.json`].sort());
  });

  it('makes no key that signs at once by a rotation or a revocation either, while the signing key may be one it cannot read', async () => {
    const keyring = await open();
    await keyring.ensureKey();
    const signing = keyring.activeKey()!.kid;
    const next = (await keyring.rotate()).kid;
    // The signing key's file turns unreadable to this process (another user's, a bad copy).
    await writeFile(join(dir, `${signing}.json`), '{ not json');
    const fresh = await open();
    expect(fresh.list().map(({ kid, state }) => [kid, state])).toEqual([[next, 'next']]);
    const refusal = new KeyringError(`KEYS_DIR ${dir} holds key files that could not be read (${signing}.json; the log says why): fix or remove them`);
    await expect(fresh.revoke(next)).rejects.toThrow(refusal);
    await fresh.reload();
    expect(fresh.list().map(({ kid, state }) => [kid, state])).toEqual([[next, 'next']]);
    // Once the next key is gone too, a rotation would make one that signs at once.
    await unlink(join(dir, `${next}.json`));
    const bare = await open();
    await expect(bare.rotate()).rejects.toThrow(refusal);
    expect(await keyFiles()).toEqual([`${signing}.json`]);
  });

  it('still replaces the signing key it revokes when some other key file cannot be read', async () => {
    const keyring = await open();
    await keyring.ensureKey();
    const signing = keyring.activeKey()!.kid;
    await writeFile(join(dir, '20261122-deadbeef.json'), '{ not json');
    const fresh = await open();
    const { replacement } = await fresh.revoke(signing);
    expect(fresh.activeKey()!.kid).toBe(replacement!.kid);
  });

  it('keeps the last good version of a key whose file turns corrupt', async () => {
    const keyring = await open();
    await keyring.ensureKey();
    const good = keyring.activeKey()!;
    const jwks = keyring.jwks();
    await writeFile(join(dir, `${good.kid}.json`), '{"kid":');
    await keyring.reload();
    expect(keyring.activeKey()).toEqual(good);
    expect(keyring.jwks()).toEqual(jwks);
    expect(skipped()).toEqual([['warn', `${good.kid}.json`, 'not valid JSON', true]]);
    expect(await open().then((other) => other.activeKey())).toBeUndefined();
  });

  it('keeps the whole last good keyring, logging an error, when the directory cannot be read', async () => {
    const keyring = await open();
    await keyring.ensureKey();
    const active = keyring.activeKey()!.kid;
    await rename(dir, `${dir}.moved`);
    await writeFile(dir, 'a file where the directory was');
    await expect(keyring.reload()).resolves.toBeUndefined();
    expect(keyring.activeKey()!.kid).toBe(active);
    expect(publishedKids(keyring)).toEqual([active]);
    expect(logs.lines.filter((line) => line['level'] === 'error').map((line) => [line['msg'], line['code']])).toEqual([
      ['keyring: cannot read the key directory; keeping the last good keys', 'ENOTDIR'],
    ]);
    await expect(open()).rejects.toThrow(new KeyringError(`KEYS_DIR cannot be read: ${dir} (ENOTDIR)`));
    await unlink(dir);
    await keyring.reload();
    expect(keyring.activeKey()!.kid).toBe(active);
  });

  it('warns once of each key file other users may read or write, and of a directory they may add key files to, until it is fixed', async () => {
    const exposureWarnings = () =>
      logs.lines.filter((line) => String(line['msg']).startsWith('keyring: other users')).map((line) => [line['level'], line['file'] ?? line['dir'], line['mode']]);
    const keyring = await open();
    await keyring.ensureKey();
    const { kid } = keyring.activeKey()!;
    await keyring.reload();
    expect(exposureWarnings()).toEqual([]);

    // A mounted secret's default: a symlink to a file of mode 0644. The mode is the file's it names.
    await rename(join(dir, `${kid}.json`), join(dir, 'real-key'));
    await chmod(join(dir, 'real-key'), 0o644);
    await symlink(join(dir, 'real-key'), join(dir, `${kid}.json`));
    await keyring.reload();
    await keyring.reload();
    expect(exposureWarnings()).toEqual([['warn', `${kid}.json`, '0644']]);

    // The group's bits are not warned of; fixed and exposed again, it is warned of again.
    await chmod(join(dir, 'real-key'), 0o640);
    await keyring.reload();
    await chmod(join(dir, 'real-key'), 0o602);
    await chmod(dir, 0o777);
    await keyring.reload();
    await keyring.reload();
    expect(exposureWarnings()).toEqual([
      ['warn', `${kid}.json`, '0644'],
      ['warn', dir, '0777'],
      ['warn', `${kid}.json`, '0602'],
    ]);
    expect(keyring.activeKey()!.kid).toBe(kid);
  });

  const canMount = process.getuid?.() === 0 && spawnSync('mount', ['--version']).status === 0;
  (canMount ? it : it.skip)('warns of no directory others may write that is a read-only mount (a Kubernetes secret: mode 1777, read-only)', async () => {
    const exposureWarnings = () => logs.lines.filter((line) => String(line['msg']).startsWith('keyring: other users may add')).map((line) => line['dir']);
    const keyring = await open();
    await keyring.ensureKey();
    await chmod(dir, 0o1777);
    const mounted = `${dir}-mounted`;
    await mkdir(mounted);
    expect(spawnSync('mount', ['--bind', dir, mounted]).status).toBe(0);
    try {
      expect(spawnSync('mount', ['-o', 'remount,ro,bind', mounted]).status).toBe(0);
      const readOnly = createKeyring({ dir: mounted, clock, logger: logs.logger, rotationInterval: 0 });
      await readOnly.load();
      expect(readOnly.activeKey()!.kid).toBe(keyring.activeKey()!.kid);
      expect(exposureWarnings()).toEqual([]);
      // The control: the same directory, writable.
      await keyring.reload();
      expect(exposureWarnings()).toEqual([dir]);
    } finally {
      spawnSync('umount', [mounted]);
    }
  });

  it('treats a missing directory as an empty keyring on first load', async () => {
    const keyring = await open();
    expect(keyring.list()).toEqual([]);
    expect(logs.lines).toEqual([]);
  });

  it('picks up on reload a key written by another process, and forgets a deleted one', async () => {
    const keyring = await open();
    await keyring.ensureKey();
    const first = keyring.activeKey()!.kid;
    const etag = keyring.jwks().etag;
    const kid = '20261122-a1b2c3d4';
    const script = `
      const { generateKeyPairSync } = require('node:crypto');
      const { writeFileSync } = require('node:fs');
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const at = new Date(Number(process.env.AT)).toISOString();
      const key = { kid: process.env.KID, alg: 'ES256', created: at, activates: at, retires: null, revoked: null,
        privateKey: privateKey.export({ format: 'pem', type: 'pkcs8' }) };
      writeFileSync(process.env.DIR + '/' + process.env.KID + '.json', JSON.stringify(key), { mode: 0o600 });`;
    const child = spawnSync(process.execPath, ['-e', script], { env: { DIR: dir, KID: kid, AT: String(START + 1000) }, encoding: 'utf8' });
    expect(child.stderr).toBe('');
    expect(child.status).toBe(0);
    expect(publishedKids(keyring)).toEqual([first]);

    await keyring.reload();
    expect(publishedKids(keyring)).toEqual([first, kid]);
    expect(keyring.jwks().etag).not.toBe(etag);
    expect(keyring.list().map((key) => [key.kid, key.state])).toEqual([[first, 'active'], [kid, 'next']]);
    now = START + 1000;
    expect(keyring.activeKey()!.kid).toBe(kid);

    await unlink(join(dir, `${kid}.json`));
    await keyring.reload();
    expect(keyring.activeKey()!.kid).toBe(first);
  });

  it('hands out the same key objects after a reload while the key material is unchanged, and takes new dates and states', async () => {
    const keyring = await open();
    await keyring.ensureKey();
    const { kid, privateKey } = keyring.activeKey()!;
    const publicKey = keyring.verificationKey(kid)!;
    const cli = await open();
    const next = await cli.rotate();

    await keyring.reload();
    expect(keyring.activeKey()!.privateKey).toBe(privateKey);
    expect(keyring.verificationKey(kid)).toBe(publicKey);
    const nextKey = keyring.verificationKey(next.kid)!;
    await keyring.reload();
    expect(keyring.verificationKey(next.kid)).toBe(nextKey);

    now += 1000;
    await cli.retire(next.kid);
    await keyring.reload();
    expect(keyring.list()).toEqual((await open()).list());
    expect(keyring.list().find((key) => key.kid === next.kid)!.retires).toEqual(new Date(now));

    await cli.revoke(next.kid);
    await keyring.reload();
    expect(keyring.verificationKey(next.kid)).toBeUndefined();
    expect(keyring.verificationKey(kid)).toBe(publicKey);
    expect(keyring.list()).toEqual((await open()).list());
    expect(keyring.list().map((key) => [key.kid, key.state])).toEqual([[kid, 'active'], [next.kid, 'revoked']]);
  });

  it('hands out new key objects when a kid’s file holds other key material after a reload', async () => {
    const keyring = await open();
    await keyring.ensureKey();
    const { kid, privateKey } = keyring.activeKey()!;
    const publicKey = keyring.verificationKey(kid)!;
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    await writeFile(join(dir, `${kid}.json`), keyFileJson(kid, other.export({ format: 'pem', type: 'pkcs8' }).toString()));

    await keyring.reload();
    expect(keyring.activeKey()!.privateKey).not.toBe(privateKey);
    expect(keyring.activeKey()!.privateKey.equals(other)).toBe(true);
    expect(keyring.verificationKey(kid)).not.toBe(publicKey);
    expect(keyring.verificationKey(kid)!.equals(publicKey)).toBe(false);
  });

  it('sees a rotation made by a second keyring on the same directory', async () => {
    const server = await open();
    await server.ensureKey();
    const cli = await open();
    const next = await cli.rotate();
    expect(publishedKids(server)).toHaveLength(1);
    await server.reload();
    expect(publishedKids(server)).toEqual([server.activeKey()!.kid, next.kid]);
    await expect(server.rotate()).rejects.toThrow(KeyringError);
  });

  it('ignores its own temporary files', async () => {
    await mkdir(dir);
    await writeFile(join(dir, '.20261122-00000000.abcd1234.tmp'), 'half-written');
    const keyring = await open();
    expect(keyring.list()).toEqual([]);
    expect(skipped()).toEqual([]);
  });
});

describe('the reload timer', () => {
  afterEach(() => jest.useRealTimers());

  it('re-reads the directory every 60 s once started, and not after stop', async () => {
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask', 'Date'] });
    const server = await open();
    await server.ensureKey();
    await server.start();
    const other = await open();
    const next = await other.rotate();
    // rotateIfDue queues behind any scheduled reload, so awaiting it waits for that reload to finish.
    const settled = () => server.rotateIfDue();

    await jest.advanceTimersByTimeAsync(59_999);
    await settled();
    expect(publishedKids(server)).not.toContain(next.kid);
    await jest.advanceTimersByTimeAsync(1);
    await settled();
    expect(publishedKids(server)).toContain(next.kid);

    server.stop();
    await other.revoke(next.kid);
    await jest.advanceTimersByTimeAsync(120_000);
    await settled();
    expect(publishedKids(server)).toContain(next.kid);
  });
});

describe('automatic rotation', () => {
  it('rotates once the interval is due, and not again while a next key waits', async () => {
    const keyring = await open(WEEK_SECONDS);
    await keyring.ensureKey();
    const first = keyring.activeKey()!.kid;
    await keyring.start();
    keyring.stop();
    expect(await keyFiles()).toEqual([`${first}.json`]);

    now = START + WEEK_SECONDS * 1000 - 360_000 - 1;
    expect(await keyring.rotateIfDue()).toBeUndefined();
    now += 1;
    await keyring.start();
    keyring.stop();
    const files = await keyFiles();
    expect(files).toHaveLength(2);
    const second = keyring.list()[1]!;
    expect(second).toMatchObject({ state: 'next', activates: new Date(START + WEEK_SECONDS * 1000) });
    expect(logs.lines.filter((line) => line['event'] === 'key_rotation').map((line) => [line['kid'], line['trigger']])).toEqual([
      [first, 'no usable key'],
      [second.kid, 'scheduled'],
    ]);

    now += 300_000;
    expect(await keyring.rotateIfDue()).toBeUndefined();
    expect(await keyFiles()).toEqual(files);

    now = START + 2 * WEEK_SECONDS * 1000 - 360_000 - 1;
    expect(await keyring.rotateIfDue()).toBeUndefined();
    now += 1;
    expect(await keyring.rotateIfDue()).toMatchObject({ state: 'next', activates: new Date(START + 2 * WEEK_SECONDS * 1000) });
  });

  it('rotates every 6 minutes, its publish lead, when the interval is shorter', async () => {
    const keyring = await open(60);
    await keyring.ensureKey();
    const first = keyring.activeKey()!.kid;
    const second = await keyring.rotateIfDue();
    expect(second).toMatchObject({ state: 'next', activates: new Date(START + 360_000) });
    now += 359_999;
    expect(await keyring.rotateIfDue()).toBeUndefined();
    expect(keyring.activeKey()!.kid).toBe(first);
    now += 1;
    await keyring.start();
    keyring.stop();
    expect(keyring.activeKey()!.kid).toBe(second!.kid);
    // start() rotated as soon as the second key signed: the third waits its 6 minutes.
    expect(keyring.list().find((key) => key.state === 'next')).toMatchObject({ activates: new Date(START + 720_000) });
    expect(await keyring.rotateIfDue()).toBeUndefined();
  });

  it('never rotates when the interval is 0', async () => {
    const keyring = await open(0);
    await keyring.ensureKey();
    now += 10 * 365 * 24 * 3600_000;
    await keyring.start();
    keyring.stop();
    expect(await keyring.rotateIfDue()).toBeUndefined();
    expect(await keyFiles()).toHaveLength(1);
  });

  it('does not rotate an empty keyring: that is ensureKey’s job', async () => {
    const keyring = await open(WEEK_SECONDS);
    expect(await keyring.rotateIfDue()).toBeUndefined();
    expect(keyring.list()).toEqual([]);
  });
});
