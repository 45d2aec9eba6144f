import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, verify, type KeyObject } from 'node:crypto';
import { constants } from 'node:fs';
import { chmod, mkdir, open, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { basename, join } from 'node:path';

/** `YYYYMMDD-<8 hex>`: the creation date (UTC) and 32 random bits. */
export const KID_PATTERN = /^\d{8}-[0-9a-f]{8}$/;

/** One signing key with its schedule, as kept in `<kid>.json`. */
export interface KeyRecord {
  readonly kid: string;
  readonly created: Date;
  /** When it starts signing; published from the moment it exists. */
  readonly activates: Date;
  /** Set when retired by hand; a key also retires when a newer key activates. */
  readonly retires: Date | null;
  readonly revoked: Date | null;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
}

/** The JSON document in `<kid>.json`. */
interface KeyFileJson {
  kid: string;
  alg: 'ES256';
  created: string;
  activates: string;
  retires: string | null;
  revoked: string | null;
  privateKey: string;
}

/** A key file that cannot be used; the message names the problem and never quotes key material. */
export class KeyFileError extends Error {
  override readonly name = 'KeyFileError';
}

export const keyFileName = (kid: string): string => `${kid}.json`;

export function newKid(created: Date): string {
  const date = created.toISOString().slice(0, 10).replace(/-/g, '');
  return `${date}-${randomBytes(4).toString('hex')}`;
}

/** A fresh P-256 key created at `created` that starts signing at `activates`. */
export function generateKeyRecord(created: Date, activates: Date): KeyRecord {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { kid: newKid(created), created, activates, retires: null, revoked: null, privateKey, publicKey };
}

/** A key read from its file, and the file's permission bits (those of the file a symlink names). */
export interface KeyFileRead {
  readonly key: KeyRecord;
  readonly mode: number;
}

/** Reads and strictly validates one key file; throws KeyFileError with a reason fit for the log. */
export async function readKeyFile(path: string): Promise<KeyFileRead> {
  const { json, mode } = await readJsonObject(path);
  const kid = json['kid'];
  if (typeof kid !== 'string' || !KID_PATTERN.test(kid)) throw new KeyFileError('kid is missing or malformed');
  if (basename(path) !== keyFileName(kid)) throw new KeyFileError(`kid ${kid} does not match the file name`);
  if (json['alg'] !== 'ES256') throw new KeyFileError('alg must be ES256');
  const privateKey = p256PrivateKey(json['privateKey']);
  const key = {
    kid,
    created: isoDate(json['created'], 'created'),
    activates: isoDate(json['activates'], 'activates'),
    retires: optionalIsoDate(json['retires'], 'retires'),
    revoked: optionalIsoDate(json['revoked'], 'revoked'),
    privateKey,
    publicKey: createPublicKey(privateKey),
  };
  return { key, mode };
}

async function readJsonObject(path: string): Promise<{ json: Record<string, unknown>; mode: number }> {
  let text: string;
  let mode: number;
  try {
    ({ text, mode } = await readRegularFile(path));
  } catch (error) {
    if (error instanceof KeyFileError) throw error;
    throw new KeyFileError(`unreadable (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // JSON.parse quotes the offending text, which may be key material: say only that it failed.
    throw new KeyFileError('not valid JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new KeyFileError('not a JSON object');
  return { json: parsed as Record<string, unknown>, mode };
}

function p256PrivateKey(pem: unknown): KeyObject {
  // PKCS#8 only: SEC1 (`EC PRIVATE KEY`) and encrypted PEM are not this format.
  if (typeof pem !== 'string' || !pem.startsWith('-----BEGIN PRIVATE KEY-----')) {
    throw new KeyFileError('privateKey is not a PKCS#8 PEM private key');
  }
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch {
    throw new KeyFileError('privateKey is not a PKCS#8 PEM private key');
  }
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new KeyFileError('privateKey is not a P-256 EC key');
  }
  if (!signsForItsPublicKey(key)) throw new KeyFileError('privateKey holds a public key that does not belong to it');
  return key;
}

const PAIR_CHECK = Buffer.from('authd key pair check');

/**
 * PKCS#8 may carry the public key beside the private number, and OpenSSL takes it as it is: a
 * damaged or altered file would sign with one key and publish another, and every token it
 * signed would fail. One signature, verified with the public half, proves they belong together.
 */
function signsForItsPublicKey(privateKey: KeyObject): boolean {
  const signature = sign('sha256', PAIR_CHECK, privateKey);
  return verify('sha256', PAIR_CHECK, createPublicKey(privateKey), signature);
}

const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

/** An ISO-8601 date-time with an offset; rejects what Date would silently roll over (Feb 31, 24:00). */
function isoDate(value: unknown, name: string): Date {
  const match = typeof value === 'string' ? ISO_DATE.exec(value) : null;
  if (match === null) throw new KeyFileError(`${name} is not an ISO-8601 date-time`);
  const fields = match.slice(1, 7).map(Number);
  const [year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0] = fields;
  const normalised = new Date(Date.UTC(year, month - 1, day, hour, minute, second));
  const roundTrip = [normalised.getUTCFullYear(), normalised.getUTCMonth() + 1, normalised.getUTCDate(), normalised.getUTCHours(), normalised.getUTCMinutes(), normalised.getUTCSeconds()];
  const parsed = new Date(match[0]);
  if (roundTrip.some((field, index) => field !== fields[index]) || Number.isNaN(parsed.getTime())) {
    throw new KeyFileError(`${name} is not a valid date-time`);
  }
  return parsed;
}

const optionalIsoDate = (value: unknown, name: string): Date | null => (value === null || value === undefined ? null : isoDate(value, name));

const toJson = (key: KeyRecord): KeyFileJson => ({
  kid: key.kid,
  alg: 'ES256',
  created: key.created.toISOString(),
  activates: key.activates.toISOString(),
  retires: key.retires?.toISOString() ?? null,
  revoked: key.revoked?.toISOString() ?? null,
  privateKey: key.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
});

/** For a file operation's `.catch`: a file already gone (another instance removed it) is no failure. */
export const ignoreMissing = (error: NodeJS.ErrnoException): undefined => {
  if (error.code !== 'ENOENT') throw error;
  return undefined;
};

/** Makes KEYS_DIR if it is missing, readable by its owner only (mkdir's mode is subject to the umask). */
export async function makeKeyDirectory(dir: string): Promise<void> {
  const created = await mkdir(dir, { recursive: true, mode: 0o700 });
  if (created !== undefined) await chmod(dir, 0o700);
}

/**
 * A key file written by root (`sudo authd keys revoke`, `docker exec -u root`) in a directory
 * another user owns is given to that user. Left root's, with mode 0600, the server running as that
 * user could not read it: a revocation would never reach it (it would go on signing with the
 * revoked key, its last good read) and a replacement would never sign.
 */
async function giveToDirectoryOwner(file: FileHandle, dir: string): Promise<void> {
  if (process.getuid?.() !== 0) return;
  const { uid, gid } = await stat(dir);
  if (uid === 0) return;
  // Best effort: where root may not give files away (NFS with root_squash, an owner unknown here),
  // the file stays as it was written before this, rather than the write failing.
  await file.chown(uid, gid).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPERM' && error.code !== 'EINVAL') throw error;
  });
}

/**
 * Writes `<kid>.json` atomically (temporary file in the same directory, fsync, rename, fsync of the directory) with mode
 * 0600 whatever the umask, owned by the directory's owner, creating the directory with mode 0700
 * if it is missing.
 */
export async function writeKeyFile(dir: string, key: KeyRecord): Promise<void> {
  await makeKeyDirectory(dir);
  const temporary = join(dir, `.${key.kid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    const file = await open(temporary, 'wx', 0o600);
    try {
      await file.writeFile(`${JSON.stringify(toJson(key), null, 2)}\n`);
      await file.chmod(0o600);
      await giveToDirectoryOwner(file, dir);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temporary, join(dir, keyFileName(key.kid)));
  } catch (error) {
    await unlink(temporary).catch(() => undefined);
    throw error;
  }
  await syncDirectory(dir);
}

/**
 * Makes the directory's entries durable: a rename is on disk only once its directory is. A key
 * revocation writes the replacement key first and the revocation after; a power cut must not keep
 * the second and lose the first. Best effort: the file is in place once renamed, so a directory
 * that cannot be opened or synced (Windows, some network file systems) fails nothing.
 */
async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, constants.O_RDONLY).catch(() => undefined);
  if (handle === undefined) return;
  try {
    await handle.sync().catch(() => undefined);
  } finally {
    await handle.close();
  }
}

/**
 * A file's text, if it is a regular file (a symlink to one too, as a mounted secret's files are).
 * Opened without blocking and checked first: reading a FIFO named like a key file would wait for a
 * writer for ever, and hold every reload and rotation behind it.
 */
async function readRegularFile(path: string): Promise<{ text: string; mode: number }> {
  const file = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const stats = await file.stat();
    if (!stats.isFile()) throw new KeyFileError('not a regular file');
    return { text: await file.readFile('utf8'), mode: stats.mode & 0o7777 };
  } finally {
    await file.close();
  }
}
