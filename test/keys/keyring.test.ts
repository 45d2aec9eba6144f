import { spawnSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { createKeyring, KeyringError, PUBLISH_LEAD_MS, type Keyring } from '../../src/keys/keyring.js';
import { RETIRED_KEY_LIFETIME_MS } from '../../src/keys/key-state.js';
import { signAccessToken } from '../../src/tokens/access-token.js';
import { captureLogs } from '../support/logs.js';

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
const keyFiles = async () => (await readdir(dir)).filter((name) => name.endsWith('.json')).sort();

beforeEach(async () => {
  dir = join(await mkdtemp(join(tmpdir(), 'authd-keyring-')), 'keys');
  now = Date.UTC(2026, 10, 22, 12);
  logs = captureLogs();
});
afterEach(() => rm(join(dir, '..'), { recursive: true, force: true }));

describe('keyring', () => {
  it('gives an empty keyring one active key, written 0600 in a 0700 directory', async () => {
    const keyring = await open();
    expect(keyring.activeKey()).toBeUndefined();
    await keyring.ensureKey();
    const active = keyring.activeKey()!;
    expect(active.kid).toMatch(/^20261122-[0-9a-f]{8}$/);
    expect(await keyFiles()).toEqual([`${active.kid}.json`]);
    expect((await stat(join(dir, `${active.kid}.json`))).mode & 0o777).toBe(0o600);
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    const file = JSON.parse(await readFile(join(dir, `${active.kid}.json`), 'utf8')) as Record<string, unknown>;
    expect(Object.keys(file).sort()).toEqual(['activates', 'alg', 'created', 'kid', 'privateKey', 'retires', 'revoked']);
    expect(file['privateKey']).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    await keyring.ensureKey();
    expect(await keyFiles()).toHaveLength(1);
  });

  it('publishes exactly the public members, and tokens it signs verify against its JWKS', async () => {
    const keyring = await open();
    await keyring.ensureKey();
    const jwks = JSON.parse(keyring.jwks().body) as { keys: Record<string, unknown>[] };
    expect(jwks.keys).toHaveLength(1);
    expect(Object.keys(jwks.keys[0]!)).toEqual(['kty', 'crv', 'x', 'y', 'kid', 'alg', 'use']);
    expect(keyring.jwks().body).not.toContain('"d"');
    const seconds = Math.floor(now / 1000);
    const token = signAccessToken(keyring.activeKey()!, {
      iss: 'https://issuer.test', sub: 's', aud: 'a', exp: seconds + 60, iat: seconds, nbf: seconds, jti: 'j', client_id: 'c',
    });
    const { payload } = await jwtVerify(token, createLocalJWKSet(jwks as never), { typ: 'at+jwt', algorithms: ['ES256'], currentDate: new Date(now) });
    expect(payload.sub).toBe('s');
  });

  it('rotation publishes the new key before it signs, then retires and finally drops the old one', async () => {
    const keyring = await open();
    await keyring.ensureKey();
    const old = keyring.activeKey()!.kid;
    const etagBefore = keyring.jwks().etag;
    const next = await keyring.rotate();
    expect(next.state).toBe('next');
    expect(publishedKids(keyring)).toEqual([old, next.kid]);
    expect(keyring.jwks().etag).not.toBe(etagBefore);
    expect(keyring.activeKey()!.kid).toBe(old);
    await expect(keyring.rotate()).rejects.toThrow(KeyringError);

    now += PUBLISH_LEAD_MS - 1;
    expect(keyring.activeKey()!.kid).toBe(old);
    now += 1;
    expect(keyring.activeKey()!.kid).toBe(next.kid);
    expect(publishedKids(keyring)).toEqual([old, next.kid]);
    expect(keyring.verificationKey(old)).toBeDefined();

    now += RETIRED_KEY_LIFETIME_MS;
    expect(publishedKids(keyring)).toEqual([next.kid]);
    expect(keyring.verificationKey(old)).toBeUndefined();
    expect(keyring.list().map((key) => key.state)).toEqual(['dropped', 'active']);
  });

  it('revoking the signing key drops it at once and makes a replacement that signs now', async () => {
    const keyring = await open();
    await keyring.ensureKey();
    const old = keyring.activeKey()!.kid;
    const { revoked, replacement } = await keyring.revoke(old);
    expect(revoked.state).toBe('revoked');
    expect(keyring.verificationKey(old)).toBeUndefined();
    expect(publishedKids(keyring)).toEqual([replacement!.kid]);
    expect(keyring.activeKey()!.kid).toBe(replacement!.kid);
    expect(logs.lines.find((line) => line['event'] === 'key_revoked')).toMatchObject({ kid: old, audit: true });
  });

  it('revoking a next key needs no replacement; retiring the signing key is refused', async () => {
    const keyring = await open();
    await keyring.ensureKey();
    const active = keyring.activeKey()!.kid;
    await expect(keyring.retire(active)).rejects.toThrow(/authd keys rotate/);
    const next = await keyring.rotate();
    expect((await keyring.revoke(next.kid)).replacement).toBeUndefined();
    expect(publishedKids(keyring)).toEqual([active]);
    await expect(keyring.retire('20261122-00000000')).rejects.toThrow('no key "20261122-00000000"');
    const withdrawn = await keyring.rotate();
    expect((await keyring.retire(withdrawn.kid)).state).toBe('dropped');
    now += PUBLISH_LEAD_MS;
    expect(keyring.activeKey()!.kid).toBe(active);
    expect(publishedKids(keyring)).toEqual([active]);
  });

  it('skips corrupt files with a warning naming them, and keeps the last good version of a known key', async () => {
    const keyring = await open();
    await keyring.ensureKey();
    const good = keyring.activeKey()!.kid;
    await writeFile(join(dir, '20261122-deadbeef.json'), '{ not json', { mode: 0o600 });
    await writeFile(join(dir, '20261122-0badf00d.json'), JSON.stringify({ kid: '20261122-00000001' }), { mode: 0o600 });
    await keyring.reload();
    expect(keyring.activeKey()!.kid).toBe(good);
    const skipped = logs.lines.filter((line) => line['msg'] === 'keyring: skipped a key file').map((line) => [line['file'], line['reason']]);
    expect(skipped).toEqual([
      ['20261122-0badf00d.json', 'kid 20261122-00000001 does not match the file name'],
      ['20261122-deadbeef.json', 'not valid JSON'],
    ]);

    await writeFile(join(dir, `${good}.json`), 'truncated');
    await keyring.reload();
    expect(keyring.activeKey()!.kid).toBe(good);
    expect(logs.lines.find((line) => line['file'] === `${good}.json`)).toMatchObject({ keptPrevious: true, level: 'warn' });
    expect(logs.raw()).not.toContain('PRIVATE KEY');
  });

  it('refuses a key that is not P-256', async () => {
    const { generateKeyPairSync } = await import('node:crypto');
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
    const kid = '20261122-00c0ffee';
    const keyring = await open();
    await keyring.ensureKey();
    await writeFile(
      join(dir, `${kid}.json`),
      JSON.stringify({ kid, alg: 'ES256', created: new Date(now).toISOString(), activates: new Date(now).toISOString(), retires: null, revoked: null,
        privateKey: privateKey.export({ format: 'pem', type: 'pkcs8' }) }),
    );
    await keyring.reload();
    expect(publishedKids(keyring)).not.toContain(kid);
    expect(logs.lines.find((line) => line['file'] === `${kid}.json`)).toMatchObject({ reason: 'privateKey is not a P-256 EC key' });
  });

  it('picks up a key written by another process on reload', async () => {
    const keyring = await open();
    await keyring.ensureKey();
    const root = fileURLToPath(new URL('../..', import.meta.url));
    const script = `
      const { generateKeyRecord, writeKeyFile } = await import(${JSON.stringify(join(root, 'dist/src/keys/key-file.js'))});
      const key = generateKeyRecord(new Date(${now}), new Date(${now + PUBLISH_LEAD_MS}));
      await writeKeyFile(${JSON.stringify(dir)}, key);
      console.log(key.kid);`;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(child.status).toBe(0);
    const kid = child.stdout.trim();
    expect(publishedKids(keyring)).not.toContain(kid);
    await keyring.reload();
    expect(publishedKids(keyring)).toContain(kid);
    expect(keyring.list().find((key) => key.kid === kid)!.state).toBe('next');
  });

  it('rotates automatically once the interval is due, and not again while a next key waits', async () => {
    const interval = 7 * 24 * 3600;
    const keyring = await open(interval);
    await keyring.ensureKey();
    keyring.start();
    keyring.stop();
    expect(await keyFiles()).toHaveLength(1);
    now += interval * 1000 - PUBLISH_LEAD_MS;
    keyring.start();
    keyring.stop();
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await keyFiles()).toHaveLength(2);
    keyring.start();
    keyring.stop();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await keyFiles()).toHaveLength(2);
    expect(logs.lines.filter((line) => line['event'] === 'key_rotation')).toHaveLength(2);
  });
});
