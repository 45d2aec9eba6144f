import { createPrivateKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { chown, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyRecord, KeyFileError, readKeyFile, writeKeyFile } from '../../src/keys/key-file.js';

const CREATED = new Date(Date.UTC(2026, 10, 22, 23, 59, 59, 123));
const KID = '20261122-0a1b2c3d';
let root: string;
let dir: string;

const pem = (type: 'ec' | 'rsa' | 'ed25519', format: 'pkcs8' | 'sec1' = 'pkcs8'): string => {
  const { privateKey } =
    type === 'ec' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : type === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ed25519');
  return privateKey.export({ format: 'pem', type: format } as never).toString();
};
const VALID_PEM = pem('ec');

/** A PKCS#8 P-256 key carrying one key's public point and another key's private number. */
function mismatchedPem(): string {
  const [a, b] = [0, 1].map(() => generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey);
  const der = a!.export({ format: 'der', type: 'pkcs8' });
  const privateNumber = (key: KeyObject) => Buffer.from(key.export({ format: 'jwk' }).d!, 'base64url');
  const at = der.indexOf(privateNumber(a!));
  privateNumber(b!).copy(der, at);
  const tampered = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  if (!tampered.equals(a!) || at < 0) throw new Error('the test key was not built as intended');
  return `-----BEGIN PRIVATE KEY-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n')}\n-----END PRIVATE KEY-----\n`;
}
const document = (overrides: Record<string, unknown> = {}) => ({
  kid: KID,
  alg: 'ES256',
  created: '2026-11-22T10:00:00.000Z',
  activates: '2026-11-22T10:06:00Z',
  retires: null,
  revoked: null,
  privateKey: VALID_PEM,
  ...overrides,
});
const writeRaw = async (name: string, content: unknown) => {
  const path = join(dir, name);
  await writeFile(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
};

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'authd-key-file-'));
});
afterAll(() => rm(root, { recursive: true, force: true }));
beforeEach(async () => {
  dir = join(root, `case-${Math.random().toString(16).slice(2)}`);
  await mkdir(dir);
});

describe('generateKeyRecord', () => {
  it('names the key by its UTC creation date and 4 random bytes', () => {
    const key = generateKeyRecord(CREATED, CREATED);
    expect(key.kid).toMatch(/^20261122-[0-9a-f]{8}$/);
    expect(key.privateKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(generateKeyRecord(CREATED, CREATED).kid).not.toBe(key.kid);
  });
});

describe('writeKeyFile', () => {
  it('creates the directory 0700 and the file 0600 even with umask 0, and leaves no temporary file', async () => {
    const keysDir = join(dir, 'new', 'keys');
    const key = generateKeyRecord(CREATED, new Date(CREATED.getTime() + 360_000));
    const previousUmask = process.umask(0);
    try {
      await writeKeyFile(keysDir, key);
    } finally {
      process.umask(previousUmask);
    }
    expect((await stat(keysDir)).mode & 0o777).toBe(0o700);
    expect((await stat(join(keysDir, `${key.kid}.json`))).mode & 0o777).toBe(0o600);
    expect(await readdir(keysDir)).toEqual([`${key.kid}.json`]);
  });

  it('writes exactly the documented members and reads back the same key', async () => {
    const key = generateKeyRecord(CREATED, new Date(CREATED.getTime() + 360_000));
    await writeKeyFile(dir, { ...key, retires: new Date(Date.UTC(2027, 0, 1)) });
    const json = JSON.parse(await readFile(join(dir, `${key.kid}.json`), 'utf8')) as Record<string, unknown>;
    expect(json).toEqual({
      kid: key.kid,
      alg: 'ES256',
      created: '2026-11-22T23:59:59.123Z',
      activates: '2026-11-23T00:05:59.123Z',
      retires: '2027-01-01T00:00:00.000Z',
      revoked: null,
      privateKey: expect.stringMatching(/^-----BEGIN PRIVATE KEY-----\n[\s\S]+\n-----END PRIVATE KEY-----\n$/),
    });
    const { key: read, mode } = await readKeyFile(join(dir, `${key.kid}.json`));
    expect(mode).toBe(0o600);
    expect(read).toMatchObject({ kid: key.kid, created: CREATED, activates: new Date(CREATED.getTime() + 360_000), revoked: null });
    expect(read.retires).toEqual(new Date(Date.UTC(2027, 0, 1)));
    expect(read.publicKey.export({ format: 'jwk' })).toEqual(key.publicKey.export({ format: 'jwk' }));
  });

  const asRoot = process.getuid?.() === 0 ? it : it.skip;
  asRoot('run by root, gives the file to the directory\'s owner, so that a server running as that user can read it', async () => {
    const keysDir = join(dir, 'served-by-nobody');
    await mkdir(keysDir, { mode: 0o700 });
    await chown(keysDir, 65534, 65534);
    const key = generateKeyRecord(CREATED, CREATED);
    await writeKeyFile(keysDir, key);
    const file = await stat(join(keysDir, `${key.kid}.json`));
    expect([file.uid, file.gid, file.mode & 0o777]).toEqual([65534, 65534, 0o600]);
    // A directory of root's keeps root's files.
    await writeKeyFile(dir, key);
    const own = await stat(join(dir, `${key.kid}.json`));
    expect([own.uid, own.gid]).toEqual([0, 0]);
  });

  it('replaces an existing file in place', async () => {
    const key = generateKeyRecord(CREATED, CREATED);
    await writeKeyFile(dir, key);
    await writeKeyFile(dir, { ...key, revoked: CREATED });
    expect((await readKeyFile(join(dir, `${key.kid}.json`))).key.revoked).toEqual(CREATED);
    expect(await readdir(dir)).toEqual([`${key.kid}.json`]);
  });
});

describe('readKeyFile', () => {
  it('accepts a hand-written file with offsets and absent optional dates', async () => {
    const path = await writeRaw(`${KID}.json`, document({ activates: '2026-11-22T12:06:00+02:00', retires: undefined, revoked: undefined }));
    const { key } = await readKeyFile(path);
    expect(key.activates).toEqual(new Date(Date.UTC(2026, 10, 22, 10, 6)));
    expect(key.retires).toBeNull();
    expect(key.revoked).toBeNull();
  });

  it.each([
    ['garbage', '{ "kid": "20261122-0a1b2c3d", nope', 'not valid JSON'],
    ['an array', '[]', 'not a JSON object'],
    ['no kid', document({ kid: undefined }), 'kid is missing or malformed'],
    ['an upper-case kid', document({ kid: '20261122-0A1B2C3D' }), 'kid is missing or malformed'],
    ['a path in the kid', document({ kid: '../20261122-0a1b2c3d' }), 'kid is missing or malformed'],
    ['another kid', document({ kid: '20261122-ffffffff' }), 'kid 20261122-ffffffff does not match the file name'],
    ['another alg', document({ alg: 'RS256' }), 'alg must be ES256'],
    ['a missing date', document({ created: undefined }), 'created is not an ISO-8601 date-time'],
    ['a non-ISO date', document({ activates: 'Sun Nov 22 2026' }), 'activates is not an ISO-8601 date-time'],
    ['February 31st', document({ activates: '2026-02-31T00:00:00Z' }), 'activates is not a valid date-time'],
    ['hour 24', document({ retires: '2026-11-22T24:00:00Z' }), 'retires is not a valid date-time'],
    ['a numeric date', document({ revoked: 1795000000000 }), 'revoked is not an ISO-8601 date-time'],
    ['no private key', document({ privateKey: undefined }), 'privateKey is not a PKCS#8 PEM private key'],
    ['a broken PEM', document({ privateKey: '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n' }), 'privateKey is not a PKCS#8 PEM private key'],
    ['a SEC1 PEM', document({ privateKey: pem('ec', 'sec1') }), 'privateKey is not a PKCS#8 PEM private key'],
    ['a P-384 key', document({ privateKey: generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey.export({ format: 'pem', type: 'pkcs8' }) }), 'privateKey is not a P-256 EC key'],
    ['an RSA key', document({ privateKey: pem('rsa') }), 'privateKey is not a P-256 EC key'],
    ['an Ed25519 key', document({ privateKey: pem('ed25519') }), 'privateKey is not a P-256 EC key'],
    ['a public key that is not its own', document({ privateKey: mismatchedPem() }), 'privateKey holds a public key that does not belong to it'],
  ])('refuses %s with a reason that quotes no key material', async (_case, content, reason) => {
    const path = await writeRaw(`${KID}.json`, content);
    const error = await readKeyFile(path).catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(KeyFileError);
    expect((error as Error).message).toBe(reason);
  });

  it('reports an unreadable path by its error code, and refuses what is not a regular file', async () => {
    await mkdir(join(dir, `${KID}.json`));
    await expect(readKeyFile(join(dir, `${KID}.json`))).rejects.toThrow(new KeyFileError('not a regular file'));
    await expect(readKeyFile(join(dir, 'missing.json'))).rejects.toThrow(new KeyFileError('unreadable (ENOENT)'));
  });
});
