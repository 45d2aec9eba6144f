import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalJWKSet, jwtVerify, SignJWT, type JSONWebKeySet } from 'jose';
import { CREATION_LOCK_FILE, createCreationLock, STALE_LOCK_MS } from '../../src/keys/creation-lock.js';
import { generateKeyRecord, writeKeyFile } from '../../src/keys/key-file.js';
import { createKeyring, KeyringError, PUBLISH_LEAD_MS, RETIRE_NEXT_NOTICE_MS, type Keyring } from '../../src/keys/keyring.js';
import { captureLogs } from '../support/logs.js';
import { waitUntil } from '../support/wait.js';

const START = Date.UTC(2026, 10, 22, 12);
const DROP_AFTER_MS = 3_660_000;
let root: string;
let dir: string;
let now: number;
const clock = { now: () => now };
let logs: ReturnType<typeof captureLogs>;

const open = async (): Promise<Keyring> => {
  const keyring = createKeyring({ dir, clock, logger: logs.logger, rotationInterval: 0 });
  await keyring.load();
  return keyring;
};
const started = async (): Promise<{ keyring: Keyring; first: string }> => {
  const keyring = await open();
  await keyring.ensureKey();
  return { keyring, first: keyring.activeKey()!.kid };
};
const keySet = (keyring: Keyring) => JSON.parse(keyring.jwks().body) as JSONWebKeySet;
const publishedKids = (keyring: Keyring) => keySet(keyring).keys.map((key) => key.kid);
/** The public key the keyring verifies `kid` with, as the x and y of a JWK. */
const verifiesWith = (keyring: Keyring, kid: string) => {
  const { x, y } = keyring.verificationKey(kid)?.export({ format: 'jwk' }) ?? {};
  return { x, y };
};
/** The x and y the key set publishes for `kid`. */
const publishedAs = (keyring: Keyring, kid: string) => {
  const { x, y } = keySet(keyring).keys.find((key) => key.kid === kid) ?? {};
  return { x, y };
};
const auditEvents = () => logs.lines.filter((line) => line['audit'] === true).map((line) => [line['event'], line['kid']]);

/** Signs with the key the keyring hands out and verifies against the keyring's own JWKS. */
async function signAndVerify(keyring: Keyring, signer = keyring.activeKey()!): Promise<string> {
  const token = await new SignJWT({ sub: 'alice' }).setProtectedHeader({ alg: 'ES256', kid: signer.kid }).sign(signer.privateKey);
  const { payload } = await jwtVerify(token, createLocalJWKSet(keySet(keyring)), { algorithms: ['ES256'] });
  return String(payload.sub);
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'authd-keyring-'));
});
afterAll(() => rm(root, { recursive: true, force: true }));
beforeEach(() => {
  dir = join(root, `keys-${Math.random().toString(16).slice(2)}`);
  now = START;
  logs = captureLogs();
});

describe('a new keyring', () => {
  it('gets one key that signs at once, written 0600 in a 0700 directory, and only one', async () => {
    const keyring = await open();
    expect(keyring.activeKey()).toBeUndefined();
    expect(keyring.jwks().body).toBe('{"keys":[]}');
    await keyring.ensureKey();
    const kid = keyring.activeKey()!.kid;
    expect(kid).toMatch(/^20261122-[0-9a-f]{8}$/);
    expect(await readdir(dir)).toEqual([`${kid}.json`]);
    expect((await stat(join(dir, `${kid}.json`))).mode & 0o777).toBe(0o600);
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    await keyring.ensureKey();
    expect(await readdir(dir)).toEqual([`${kid}.json`]);
    expect(auditEvents()).toEqual([['key_rotation', kid]]);
    expect(keyring.list()).toEqual([{ kid, state: 'active', created: new Date(START), activates: new Date(START) }]);
  });

  it('a rotation of an empty keyring (`keys rotate` before the first start) makes a key that signs at once', async () => {
    const keyring = await open();
    const first = await keyring.rotate();
    expect(first).toMatchObject({ state: 'active', activates: new Date(START) });
    expect(keyring.activeKey()!.kid).toBe(first.kid);
    await keyring.ensureKey();
    expect(await readdir(dir)).toEqual([`${first.kid}.json`]);
    expect(await keyring.rotate()).toMatchObject({ state: 'next', activates: new Date(START + PUBLISH_LEAD_MS) });
  });

  it('deletes the files of dropped keys at each rotation, and keeps retired and revoked ones', async () => {
    const { keyring, first } = await started();
    const second = await keyring.rotate();
    now += PUBLISH_LEAD_MS;
    await keyring.reload();
    const revoked = await keyring.rotate();
    await keyring.revoke(revoked.kid);
    now += DROP_AFTER_MS;
    await keyring.reload();
    expect(keyring.list().map(({ kid, state }) => [kid, state])).toEqual([
      [first, 'dropped'],
      [second.kid, 'active'],
      [revoked.kid, 'revoked'],
    ]);
    const third = await keyring.rotate();
    expect((await readdir(dir)).sort()).toEqual([second.kid, revoked.kid, third.kid].map((kid) => `${kid}.json`).sort());
    expect(keyring.list().map(({ kid }) => kid)).toEqual([second.kid, revoked.kid, third.kid]);
    expect(logs.lines.filter((line) => line['msg'] === 'keyring: deleted the file of a dropped key').map((line) => line['kid'])).toEqual([first]);
  });

  it('says in one line naming KEYS_DIR that it cannot write there', async () => {
    // A file where the directory should be: refused to root as well, which ignores permissions.
    dir = join(root, `file-${Math.random().toString(16).slice(2)}`);
    await writeFile(dir, '');
    const keyring = createKeyring({ dir, clock, logger: logs.logger, rotationInterval: 0 });
    await expect(keyring.ensureKey()).rejects.toThrow(new KeyringError(`KEYS_DIR cannot be written: ${dir} (EEXIST)`));
  });

  it('publishes exactly kty, crv, x, y, kid, alg, use — never d — and its signatures verify', async () => {
    const { keyring, first } = await started();
    const [jwk, ...others] = keySet(keyring).keys;
    expect(others).toEqual([]);
    expect(Object.keys(jwk!)).toEqual(['kty', 'crv', 'x', 'y', 'kid', 'alg', 'use']);
    expect(jwk).toEqual({ kty: 'EC', crv: 'P-256', x: expect.stringMatching(/^[\w-]{43}$/), y: expect.stringMatching(/^[\w-]{43}$/), kid: first, alg: 'ES256', use: 'sig' });
    expect(keyring.jwks().body).not.toContain('"d"');
    expect(keyring.jwks().etag).toMatch(/^"[\w-]{43}"$/);
    expect(await signAndVerify(keyring)).toBe('alice');
  });
});

describe('instances sharing KEYS_DIR', () => {
  const instance = (rotationInterval = 0) => createKeyring({ dir, clock, logger: logs.logger, rotationInterval, monotonicNow: clock.now });
  const logged = (message: string) => logs.lines.filter((line) => line['msg'] === message).length;
  const WAITING = 'keyring: another process is creating a key; waiting for it';

  it('started together on an empty keyring, make one signing key between them', async () => {
    const keyrings = Array.from({ length: 4 }, () => instance());
    await Promise.all(
      keyrings.map(async (keyring) => {
        await keyring.load();
        await keyring.ensureKey();
      }),
    );
    const files = await readdir(dir);
    expect(files).toHaveLength(1);
    expect(keyrings.map((keyring) => `${keyring.activeKey()?.kid}.json`)).toEqual(Array(4).fill(files[0]));
    expect(auditEvents()).toHaveLength(1);
  });

  it('wait while another process holds the creation lock, then sign with the key it made', async () => {
    const release = (await createCreationLock(dir, clock.now).tryTake())!;
    const keyring = instance();
    await keyring.load();
    const ensured = keyring.ensureKey();
    await waitUntil(() => logged(WAITING) > 0, 5000);
    expect(logged(WAITING)).toBe(1);
    expect(await readdir(dir)).toEqual([CREATION_LOCK_FILE]);
    const made = generateKeyRecord(new Date(START), new Date(START));
    await writeKeyFile(dir, made);
    await release();
    await ensured;
    expect(keyring.activeKey()!.kid).toBe(made.kid);
    expect(await readdir(dir)).toEqual([`${made.kid}.json`]);
    expect(auditEvents()).toEqual([]);
    expect(logged(WAITING)).toBe(1);
  });

  it('take over a creation lock left unchanged for STALE_LOCK_MS by a process that died while creating', async () => {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await writeFile(join(dir, CREATION_LOCK_FILE), 'a dead process');
    const keyring = instance();
    await keyring.load();
    const ensured = keyring.ensureKey();
    // Seen once (the line follows the first look): from now, by this process's clock, it ages.
    await waitUntil(() => logged(WAITING) > 0, 5000);
    expect(await readdir(dir)).toEqual([CREATION_LOCK_FILE]);
    now += STALE_LOCK_MS;
    await ensured;
    expect(await readdir(dir)).toEqual([`${keyring.activeKey()!.kid}.json`]);
  });

  it('skip a due rotation while another process holds the creation lock, and say so', async () => {
    const keyring = instance(3600);
    await keyring.load();
    await keyring.ensureKey();
    now += 3600 * 1000;
    const release = (await createCreationLock(dir, clock.now).tryTake())!;
    expect(await keyring.rotateIfDue()).toBeUndefined();
    expect(logged('keyring: a rotation is due, but another process is creating a key; looking again at the next reload')).toBe(1);
    expect(await readdir(dir)).toHaveLength(2);
    await release();
    expect(await keyring.rotateIfDue()).toMatchObject({ state: 'next' });
  });

  it('due to rotate at the same moment, write one next key between them', async () => {
    const first = instance(3600);
    await first.load();
    await first.ensureKey();
    const second = instance(3600);
    await second.load();
    now += 3600 * 1000;
    const rotated = await Promise.all([first.rotateIfDue(), second.rotateIfDue()]);
    expect(rotated.filter((key) => key !== undefined)).toEqual([expect.objectContaining({ state: 'next' })]);
    expect(await readdir(dir)).toHaveLength(2);
    await second.reload();
    expect(second.list().map(({ state }) => state)).toEqual(['active', 'next']);
  });
});

describe('rotation', () => {
  it('publishes the new key before it signs, then retires and finally drops the old one', async () => {
    const { keyring, first } = await started();
    const etagBefore = keyring.jwks().etag;
    const next = await keyring.rotate();
    expect(next).toEqual({ kid: next.kid, state: 'next', created: new Date(START), activates: new Date(START + 360_000) });
    expect(PUBLISH_LEAD_MS).toBe(360_000);
    expect(publishedKids(keyring)).toEqual([first, next.kid]);
    expect(keyring.jwks().etag).not.toBe(etagBefore);
    expect(keyring.activeKey()!.kid).toBe(first);
    expect(verifiesWith(keyring, next.kid)).toEqual(publishedAs(keyring, next.kid));
    expect(verifiesWith(keyring, next.kid)).not.toEqual(verifiesWith(keyring, first));
    await expect(keyring.rotate()).rejects.toThrow(new KeyringError('a next key is already waiting to activate; rotate again after it does'));

    now = START + 360_000 - 1;
    expect(keyring.activeKey()!.kid).toBe(first);
    now = START + 360_000;
    expect(keyring.activeKey()!.kid).toBe(next.kid);
    expect(publishedKids(keyring)).toEqual([first, next.kid]);

    now = START + 360_000 + DROP_AFTER_MS - 1;
    expect(publishedKids(keyring)).toEqual([first, next.kid]);
    const firstKey = publishedAs(keyring, first);
    expect(firstKey.x).toEqual(expect.any(String));
    expect(verifiesWith(keyring, first)).toEqual(firstKey);
    now = START + 360_000 + DROP_AFTER_MS;
    expect(publishedKids(keyring)).toEqual([next.kid]);
    expect(keyring.verificationKey(first)).toBeUndefined();
    expect(keyring.list().map((key) => [key.kid, key.state, key.retires, key.dropsAt])).toEqual([
      [first, 'dropped', new Date(START + 360_000), new Date(START + 360_000 + DROP_AFTER_MS)],
      [next.kid, 'active', undefined, undefined],
    ]);
    expect(auditEvents()).toEqual([['key_rotation', first], ['key_rotation', next.kid]]);
  });

  it('a retired key still verifies what it signed; the new one signs', async () => {
    const { keyring, first } = await started();
    const oldSigner = keyring.activeKey()!;
    await keyring.rotate();
    now = START + 360_000;
    expect(keyring.activeKey()!.kid).not.toBe(first);
    expect(await signAndVerify(keyring, oldSigner)).toBe('alice');
    expect(await signAndVerify(keyring)).toBe('alice');
    now = START + 360_000 + DROP_AFTER_MS;
    await expect(signAndVerify(keyring, oldSigner)).rejects.toThrow('no applicable key found in the JSON Web Key Set');
  });

  it('keeps the same JWKS body and ETag while nothing changes, across reloads and time', async () => {
    const { keyring } = await started();
    const before = keyring.jwks();
    expect(keyring.jwks()).toBe(before);
    now += 24 * 3600_000;
    await keyring.reload();
    expect(keyring.jwks()).toEqual(before);
    await keyring.rotate();
    const rotated = keyring.jwks();
    expect(rotated.etag).not.toBe(before.etag);
    now += 360_000;
    expect(keyring.jwks()).toEqual(rotated);
    now += DROP_AFTER_MS;
    expect(keyring.jwks().etag).not.toBe(rotated.etag);
  });
});

describe('revocation', () => {
  it('drops the signing key from the JWKS at once and makes a replacement that signs now', async () => {
    const { keyring, first } = await started();
    const oldSigner = keyring.activeKey()!;
    now += 1000;
    const { revoked, replacement } = await keyring.revoke(first);
    expect(revoked).toEqual({ kid: first, state: 'revoked', created: new Date(START), activates: new Date(START), revoked: new Date(START + 1000) });
    expect(replacement).toEqual({ kid: replacement!.kid, state: 'active', created: new Date(START + 1000), activates: new Date(START + 1000) });
    expect(keyring.verificationKey(first)).toBeUndefined();
    expect(publishedKids(keyring)).toEqual([replacement!.kid]);
    expect(keyring.activeKey()!.kid).toBe(replacement!.kid);
    await expect(signAndVerify(keyring, oldSigner)).rejects.toThrow('no applicable key found in the JSON Web Key Set');
    expect(auditEvents()).toEqual([['key_rotation', first], ['key_rotation', replacement!.kid], ['key_revoked', first]]);
    expect(logs.lines.filter((line) => line['level'] === 'warn').map((line) => line['msg'])).toEqual([
      'keyring: the signing key is being revoked, so a replacement signs at once, before resource servers may have fetched it',
    ]);
  });

  it('writes the replacement before the revocation: an instance reading KEYS_DIR in between still has a key to sign with', async () => {
    const { keyring, first } = await started();
    const other = await open();
    now += 1000;
    // Another process holds the creation lock, so the revocation stops at its first step.
    const release = (await createCreationLock(dir, clock.now).tryTake())!;
    const revoking = keyring.revoke(first);
    await waitUntil(() => logs.lines.some((line) => line['msg'] === 'keyring: another process is creating a key; waiting for it'), 5000);
    await other.reload();
    expect(other.activeKey()?.kid).toBe(first);
    expect(other.list().map(({ state }) => state)).toEqual(['active']);
    await release();
    const { replacement } = await revoking;
    await other.reload();
    expect(other.activeKey()!.kid).toBe(replacement!.kid);
    expect(other.list().map(({ kid, state }) => [kid, state])).toEqual([
      [first, 'revoked'],
      [replacement!.kid, 'active'],
    ]);
  });

  it('revoking the signing key at the instant it was made still leaves its replacement signing', async () => {
    const { keyring, first } = await started();
    const { replacement } = await keyring.revoke(first);
    expect(keyring.activeKey()!.kid).toBe(replacement!.kid);
  });

  it('revoking a next or retired key needs no replacement, and a key is revoked only once', async () => {
    const { keyring, first } = await started();
    const next = await keyring.rotate();
    expect(await keyring.revoke(next.kid)).toEqual({ revoked: expect.objectContaining({ kid: next.kid, state: 'revoked' }) });
    expect(publishedKids(keyring)).toEqual([first]);
    now += 360_000;
    expect(keyring.activeKey()!.kid).toBe(first);
    const second = await keyring.rotate();
    now += 360_000;
    expect((await keyring.revoke(first)).replacement).toBeUndefined();
    expect(publishedKids(keyring)).toEqual([second.kid]);
    await expect(keyring.revoke(first)).rejects.toThrow(new KeyringError(`key ${first} is already revoked`));
  });
});

describe('retirement', () => {
  it('refuses to retire the only signing key and says what to do instead', async () => {
    const { keyring, first } = await started();
    await expect(keyring.retire(first)).rejects.toThrow(
      new KeyringError(
        `key ${first} is the signing key and no other key would sign; run \`authd keys rotate\` first — the old key retires by itself when the new one activates`,
      ),
    );
    expect(keyring.activeKey()!.kid).toBe(first);
  });

  it('refuses unknown, revoked, retired and dropped keys', async () => {
    const { keyring, first } = await started();
    await expect(keyring.retire('20261122-00000000')).rejects.toThrow(new KeyringError('no key "20261122-00000000"'));
    const second = await keyring.rotate();
    now += 360_000;
    await expect(keyring.retire(first)).rejects.toThrow(new KeyringError(`key ${first} is already retired`));
    now += DROP_AFTER_MS;
    await expect(keyring.retire(first)).rejects.toThrow(new KeyringError(`key ${first} is already dropped`));
    const third = await keyring.rotate();
    await keyring.revoke(third.kid);
    await expect(keyring.retire(third.kid)).rejects.toThrow(new KeyringError(`key ${third.kid} is already revoked`));
    expect(keyring.activeKey()!.kid).toBe(second.kid);
  });

  it('retiring a next key withdraws it: it leaves the JWKS and never signs', async () => {
    const { keyring, first } = await started();
    const next = await keyring.rotate();
    now += 1000;
    expect(await keyring.retire(next.kid)).toEqual({ ...next, state: 'dropped', retires: new Date(START + 1000) });
    expect(publishedKids(keyring)).toEqual([first]);
    now += 360_000;
    expect(keyring.activeKey()!.kid).toBe(first);
    expect(auditEvents().at(-1)).toEqual(['key_retired', next.kid]);
  });

  it('refuses to retire a next key that activates within RETIRE_NEXT_NOTICE_MS, and keeps it', async () => {
    const { keyring, first } = await started();
    const next = await keyring.rotate();
    now = next.activates.getTime() - RETIRE_NEXT_NOTICE_MS + 1;
    await expect(keyring.retire(next.kid)).rejects.toThrow(
      new KeyringError(
        `key ${next.kid} activates in less than 120 s, and instances that have not re-read KEYS_DIR by then would sign with it; let it activate, then run \`authd keys rotate\` — it retires by itself when the new key activates`,
      ),
    );
    expect(publishedKids(keyring)).toEqual([first, next.kid]);
    now = next.activates.getTime();
    expect(keyring.activeKey()!.kid).toBe(next.kid);
  });

  it('retires a next key RETIRE_NEXT_NOTICE_MS before it activates', async () => {
    const { keyring, first } = await started();
    const next = await keyring.rotate();
    now = next.activates.getTime() - RETIRE_NEXT_NOTICE_MS;
    expect(await keyring.retire(next.kid)).toMatchObject({ state: 'dropped' });
    expect(publishedKids(keyring)).toEqual([first]);
  });
});

describe('kids from outside', () => {
  it.each(['__proto__', 'constructor', 'toString', '../../etc/passwd', '20261122-0000000', 'x'.repeat(100_000)])(
    'finds no key for %#',
    async (kid) => {
      const { keyring } = await started();
      expect(keyring.verificationKey(kid)).toBeUndefined();
      const refusal = await keyring.retire(kid).catch((error: unknown) => error);
      expect(refusal).toBeInstanceOf(KeyringError);
      expect((refusal as Error).message.length).toBeLessThan(70);
      await expect(keyring.revoke(kid)).rejects.toThrow(/^no key "/);
    },
  );
});
