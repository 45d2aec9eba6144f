import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
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

interface KeyFileJson {
  kid: string;
  alg: 'ES256';
  created: string;
  activates: string;
  retires: string | null;
  revoked: string | null;
  privateKey: string;
}

export const keyFileName = (kid: string): string => `${kid}.json`;

export function newKid(now: Date): string {
  const date = now.toISOString().slice(0, 10).replace(/-/g, '');
  return `${date}-${randomBytes(4).toString('hex')}`;
}

/** A fresh P-256 key that activates at `activates`. */
export function generateKeyRecord(now: Date, activates: Date): KeyRecord {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { kid: newKid(now), created: now, activates, retires: null, revoked: null, privateKey, publicKey };
}

/** Reads and strictly validates one key file; throws a message fit for the log (never key material). */
export async function readKeyFile(path: string): Promise<KeyRecord> {
  let json: Partial<KeyFileJson>;
  try {
    json = JSON.parse(await readFile(path, 'utf8')) as Partial<KeyFileJson>;
  } catch (error) {
    throw new Error(error instanceof SyntaxError ? 'not valid JSON' : `unreadable (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (typeof json !== 'object' || json === null) throw new Error('not a JSON object');
  const { kid } = json;
  if (typeof kid !== 'string' || !KID_PATTERN.test(kid)) throw new Error('kid is missing or malformed');
  if (basename(path) !== keyFileName(kid)) throw new Error(`kid ${kid} does not match the file name`);
  if (json.alg !== 'ES256') throw new Error('alg must be ES256');
  const created = date(json.created, 'created');
  const activates = date(json.activates, 'activates');
  const retires = json.retires === null || json.retires === undefined ? null : date(json.retires, 'retires');
  const revoked = json.revoked === null || json.revoked === undefined ? null : date(json.revoked, 'revoked');
  if (typeof json.privateKey !== 'string') throw new Error('privateKey is missing');
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: json.privateKey, format: 'pem' });
  } catch {
    throw new Error('privateKey is not a PEM private key');
  }
  if (privateKey.asymmetricKeyType !== 'ec' || privateKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new Error('privateKey is not a P-256 EC key');
  }
  return { kid, created, activates, retires, revoked, privateKey, publicKey: createPublicKey(privateKey) };
}

function date(value: unknown, name: string): Date {
  const parsed = typeof value === 'string' ? new Date(value) : new Date(Number.NaN);
  if (Number.isNaN(parsed.getTime())) throw new Error(`${name} is not an ISO date`);
  return parsed;
}

/**
 * Writes `<kid>.json` atomically (temporary file, then rename) with mode 0600, creating the
 * directory with mode 0700 if needed.
 */
export async function writeKeyFile(dir: string, key: KeyRecord): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const json: KeyFileJson = {
    kid: key.kid,
    alg: 'ES256',
    created: key.created.toISOString(),
    activates: key.activates.toISOString(),
    retires: key.retires?.toISOString() ?? null,
    revoked: key.revoked?.toISOString() ?? null,
    privateKey: key.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
  };
  const target = join(dir, keyFileName(key.kid));
  const temporary = join(dir, `.${key.kid}.${randomBytes(4).toString('hex')}.tmp`);
  await writeFile(temporary, `${JSON.stringify(json, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  await chmod(temporary, 0o600);
  await rename(temporary, target);
}
