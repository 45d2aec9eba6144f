import { open, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { makeKeyDirectory } from './key-file.js';

/**
 * Held in KEYS_DIR while one process creates a key, so that instances sharing the directory do not
 * each create one (several instances started together on an empty keyring would otherwise each
 * sign with a key of their own, which the others publish only at their next reload). Not a
 * `.json` file: the keyring's reads pass it by.
 */
export const CREATION_LOCK_FILE = '.creating.lock';

/** A lock this old was left by a process that died while creating a key (which takes milliseconds): it is taken over. */
export const STALE_LOCK_MS = 10_000;

/** Gives the lock back. */
export type ReleaseCreationLock = () => Promise<void>;

const ignoreMissing = (error: NodeJS.ErrnoException) => {
  if (error.code !== 'ENOENT') throw error;
};

/**
 * Takes KEYS_DIR's creation lock (an exclusive create, atomic on local file systems and NFS), or
 * answers undefined while another process holds it. Two processes that find the same stale lock at
 * once may both take it over; they then create a key each, as without a lock.
 */
export async function tryCreationLock(dir: string, now: () => number = Date.now): Promise<ReleaseCreationLock | undefined> {
  await makeKeyDirectory(dir);
  const path = join(dir, CREATION_LOCK_FILE);
  for (let attempt = 0; attempt < 2; attempt += 1) {
    try {
      await (await open(path, 'wx', 0o600)).close();
      return () => unlink(path).catch(ignoreMissing);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    // Given back meanwhile (the stat finds nothing): try again. Held, and not stale: someone else's.
    const held = await stat(path).catch((error: NodeJS.ErrnoException) => ignoreMissing(error));
    if (held !== undefined && now() - held.mtimeMs < STALE_LOCK_MS) return undefined;
    if (held !== undefined) await unlink(path).catch(ignoreMissing);
  }
  return undefined;
}
