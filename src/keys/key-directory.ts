import { timingSafeEqual, type KeyObject } from 'node:crypto';
import { constants } from 'node:fs';
import { access, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../observability/logger.js';
import { KeyFileError, readKeyFile, type KeyRecord } from './key-file.js';

export type DirectoryRead =
  | {
      readonly ok: true;
      readonly keys: ReadonlyMap<string, KeyRecord>;
      /** The key files skipped, whose previous version (if any) `keys` keeps. */
      readonly unread: readonly string[];
      /** What other users may reach, with its mode: key files they may read or write, and the directory (`.`) if they may add files to it. */
      readonly exposed: ReadonlyMap<string, number>;
    }
  | { readonly ok: false; readonly code: string };

/**
 * Mode bits that let users other than the owner and the file's group read or write a key file, and
 * add files to the directory. The group's bits are left alone: a group is a common way to give the
 * server its keys (a Kubernetes fsGroup).
 */
const OTHERS_READ_OR_WRITE = 0o006;
const OTHERS_WRITE = 0o002;

/** A read-only mount (a Kubernetes secret's, whose root is mode 1777): nobody can add a file to it, whatever its mode says. */
const isReadOnlyMount = (dir: string): Promise<boolean> =>
  access(dir, constants.W_OK).then(
    () => false,
    (error: NodeJS.ErrnoException) => error.code === 'EROFS',
  );

const reasonOf = (error: unknown) => (error instanceof KeyFileError ? error.message : `unexpected ${error instanceof Error ? error.name : typeof error}`);

/**
 * The re-read key with the key objects of its previous read when the key material is the same:
 * a reload every 60 s must not look like a new key to caches that hold on to the key object
 * (the verified-token cache trusts an entry only while the keyring hands out the same object).
 * The dates and states are always the file's.
 */
function withKeyObjectsKept(previous: KeyRecord | undefined, key: KeyRecord): KeyRecord {
  if (previous === undefined || !samePrivateKey(previous.privateKey, key.privateKey)) return key;
  return { ...key, privateKey: previous.privateKey, publicKey: previous.publicKey };
}

/** Compares the PKCS#8 encodings: `KeyObject.equals` compares only the public half of EC keys. */
function samePrivateKey(a: KeyObject, b: KeyObject): boolean {
  const derA = a.export({ format: 'der', type: 'pkcs8' });
  const derB = b.export({ format: 'der', type: 'pkcs8' });
  return derA.length === derB.length && timingSafeEqual(derA, derB);
}

/**
 * Reads every `*.json` key file in `dir`. A file that fails validation is logged and skipped,
 * except that the previously loaded version of the same kid is kept. A missing directory is an
 * empty keyring only if nothing was loaded before; otherwise it counts as unreadable.
 */
export async function readKeyDirectory(dir: string, previous: ReadonlyMap<string, KeyRecord>, logger: Logger): Promise<DirectoryRead> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((name) => name.endsWith('.json')).sort();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    return code === 'ENOENT' && previous.size === 0 ? { ok: true, keys: new Map(), unread: [], exposed: new Map() } : { ok: false, code };
  }
  const keys = new Map<string, KeyRecord>();
  const unread: string[] = [];
  const exposed = new Map<string, number>();
  // Read a moment ago: a directory gone since is reported by the next read, not as exposed.
  const directoryMode = await stat(dir).then(
    (stats) => stats.mode & 0o7777,
    () => 0,
  );
  if ((directoryMode & OTHERS_WRITE) !== 0 && !(await isReadOnlyMount(dir))) exposed.set('.', directoryMode);
  for (const name of names) {
    try {
      const { key, mode } = await readKeyFile(join(dir, name));
      keys.set(key.kid, withKeyObjectsKept(previous.get(key.kid), key));
      if ((mode & OTHERS_READ_OR_WRITE) !== 0) exposed.set(name, mode);
    } catch (error) {
      // Map lookup by the file's stem: a strange file name can match no kid but cannot reach a prototype.
      const kept = previous.get(name.slice(0, -'.json'.length));
      if (kept !== undefined) keys.set(kept.kid, kept);
      unread.push(name);
      logger.warn({ file: name, reason: reasonOf(error), keptPrevious: kept !== undefined }, 'keyring: skipped a key file');
    }
  }
  return { ok: true, keys, unread, exposed };
}
