import { randomBytes } from 'node:crypto';
import { link, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { ignoreMissing, makeKeyDirectory } from './key-file.js';

/**
 * Held in KEYS_DIR while one process creates a key, so that instances sharing the directory do not
 * each create one (several instances started together on an empty keyring would otherwise each
 * sign with a key of their own, which the others publish only at their next reload). Not a
 * `.json` file: the keyring's reads pass it by.
 */
export const CREATION_LOCK_FILE = '.creating.lock';

/**
 * A lock seen unchanged this long, by the clock of the process looking at it, was left by a
 * process that died while creating a key (which takes milliseconds): it is taken over. Its
 * file's mtime is not used, since it comes from another host's clock or the file server's.
 */
export const STALE_LOCK_MS = 10_000;

/** Gives the lock back, so that the next process waiting for it creates its key (or finds the one just made). */
export type ReleaseCreationLock = () => Promise<void>;

export interface CreationLock {
  /**
   * Takes the lock (an exclusive create, atomic on local file systems and NFS), or answers
   * undefined while another process holds it; the caller asks again later. Throws, with the
   * error's code, when KEYS_DIR cannot be written.
   */
  tryTake(): Promise<ReleaseCreationLock | undefined>;
}

/**
 * What tells one lock from the next at the same path: its taker's random token (a file system may
 * give a new file the inode number, and within one clock tick the mtime, of the one just removed).
 * A lock whose token is not written yet is told by its inode and mtime; a name that is gone or
 * dangles (a dangling link, which an exclusive create still finds taken) has an identity too, so
 * that it ages like any other. Any other failure to read it (EACCES) is thrown.
 */
async function identityOf(path: string): Promise<string> {
  try {
    const token = await readFile(path, 'utf8');
    if (token !== '') return token;
    const { ino, mtimeMs } = await stat(path);
    return `empty ${ino} ${mtimeMs}`;
  } catch (error) {
    ignoreMissing(error as NodeJS.ErrnoException);
    return 'unreadable';
  }
}

export function createCreationLock(dir: string, now: () => number): CreationLock {
  const path = join(dir, CREATION_LOCK_FILE);
  /** The lock last found held, and since when (this process's clock). */
  let seen: { identity: string; since: number } | undefined;

  /** The lock file holds its taker's token: giving back a lock another process has since taken over leaves that one's alone. */
  const create = async (token: string): Promise<ReleaseCreationLock> => {
    // Readable by all (it holds no secret): a lock left by another user (a CLI run as root) can be read and judged stale.
    const file = await open(path, 'wx', 0o644);
    try {
      await file.writeFile(token);
      await file.close();
    } catch (error) {
      await file.close().catch(() => undefined);
      await unlink(path).catch(() => undefined);
      throw error;
    }
    return async () => {
      if ((await identityOf(path)) === token) await unlink(path).catch(ignoreMissing);
    };
  };

  /**
   * Moves a lock seen unchanged for STALE_LOCK_MS aside, then removes it. Of the processes that
   * find it stale at once, one moves it (rename is atomic) and the others find it gone. A process
   * that moved a newer lock instead (taken between its look and its move) puts that one back,
   * unless yet another process has taken the free name meanwhile: then two hold it (best effort).
   */
  const removeStale = async (identity: string, token: string) => {
    const aside = `${path}.${token}.stale`;
    try {
      await rename(path, aside);
    } catch (error) {
      return ignoreMissing(error as NodeJS.ErrnoException);
    }
    if ((await identityOf(aside)) !== identity) await link(aside, path).catch(() => undefined);
    await unlink(aside);
    return undefined;
  };

  return {
    async tryTake() {
      await makeKeyDirectory(dir);
      const token = randomBytes(16).toString('hex');
      try {
        const release = await create(token);
        seen = undefined;
        return release;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const identity = await identityOf(path);
      if (seen?.identity !== identity) {
        seen = { identity, since: now() };
        return undefined;
      }
      if (now() - seen.since >= STALE_LOCK_MS) {
        seen = undefined;
        await removeStale(identity, token);
      }
      return undefined;
    },
  };
}
