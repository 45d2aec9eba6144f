import type { KeyObject } from 'node:crypto';
import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Clock } from '../clock.js';
import { JWKS_MAX_AGE_SECONDS } from '../http/routes/jwks.js';
import { describeError, type Logger } from '../observability/logger.js';
import type { SigningKey } from '../tokens/access-token.js';
import { createCreationLock, type ReleaseCreationLock } from './creation-lock.js';
import { readKeyDirectory } from './key-directory.js';
import { generateKeyRecord, ignoreMissing, keyFileName, writeKeyFile, type KeyRecord } from './key-file.js';
import { byActivation, type KeyState } from './key-state.js';
import type { PublishedKeySet } from './jwks.js';
import { snapshotOf, type Snapshot } from './key-snapshot.js';

/** Every instance re-reads KEYS_DIR this often. */
export const RELOAD_INTERVAL_MS = 60_000;

/** JWKS max-age plus the reload period (360 s): every instance publishes a new key for a full cache period before anyone signs with it. */
export const PUBLISH_LEAD_MS = JWKS_MAX_AGE_SECONDS * 1000 + RELOAD_INTERVAL_MS;

/**
 * A next key can be retired only this long before it activates or earlier: every instance sees
 * the retirement within RELOAD_INTERVAL_MS, and as much again allows for a slow re-read or clocks
 * a little apart. Closer to its activation, an instance that had not seen it yet would sign with
 * the key, and the retirement would withdraw those tokens' key at once.
 */
export const RETIRE_NEXT_NOTICE_MS = 2 * RELOAD_INTERVAL_MS;

/** How often a process waiting for another's key creation (KEYS_DIR's creation lock) asks again. */
const CREATION_LOCK_POLL_MS = 100;

/** A refused keyring operation, phrased for the person who asked (the CLI prints it as is). */
export class KeyringError extends Error {
  override readonly name = 'KeyringError';
}

/** One key as `authd keys list` shows it. */
export interface KeyView {
  readonly kid: string;
  readonly state: KeyState;
  readonly created: Date;
  readonly activates: Date;
  /** When it stops (or stopped) signing, if known. */
  readonly retires?: Date;
  /** When a retired key leaves the JWKS. */
  readonly dropsAt?: Date;
  readonly revoked?: Date;
}

export interface RevokeOutcome {
  readonly revoked: KeyView;
  /** Made when the revoked key was signing (or none was); it signs at once. */
  readonly replacement?: KeyView;
}

export interface Keyring {
  /** Reads KEYS_DIR; throws KeyringError if it exists but cannot be read. */
  load(): Promise<void>;
  /** Re-reads KEYS_DIR. After a first successful load it never throws: bad files and bad reads keep the last good keys. */
  reload(): Promise<void>;
  /**
   * First start: makes a key that signs at once if none is active or next. Instances sharing
   * KEYS_DIR make one between them: the others wait for it (KEYS_DIR's creation lock).
   */
  ensureKey(): Promise<void>;
  activeKey(): SigningKey | undefined;
  /** Public key of a next, active or retired key; undefined for dropped, revoked or unknown kids. */
  verificationKey(kid: string): KeyObject | undefined;
  /** The published key set, serialised once per change, with a strong ETag. */
  jwks(): PublishedKeySet;
  /** Every key on disk, in activation order. */
  list(): KeyView[];
  /**
   * Writes the next key, signing PUBLISH_LEAD_MS from now (at once when no key signs), and deletes
   * dropped keys' files; refused while a next key exists, one another process may have written.
   */
  rotate(): Promise<KeyView>;
  retire(kid: string): Promise<KeyView>;
  revoke(kid: string): Promise<RevokeOutcome>;
  /**
   * Rotates if KEY_ROTATION_INTERVAL says the active key is due; returns the new key if it did.
   * Skipped while another process holds KEYS_DIR's creation lock: it is making that key.
   */
  rotateIfDue(): Promise<KeyView | undefined>;
  /** Starts reloading every 60 s (rotating when due); resolves after the first rotation check. */
  start(): Promise<void>;
  stop(): void;
}

export interface KeyringOptions {
  readonly dir: string;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Seconds between automatic rotations; 0 = never. */
  readonly rotationInterval: number;
  /**
   * Milliseconds on a clock that never jumps (default `performance.now`): how long a creation lock
   * has been seen unchanged. On the wall clock, a step of 10 s would make a live lock look stale.
   */
  readonly monotonicNow?: () => number;
}

type KeyAuditEvent = 'key_rotation' | 'key_retired' | 'key_revoked';

/** Shown in refusals: enough of a kid to recognise, never a megabyte of input. */
const quoted = (kid: string) => JSON.stringify(kid.length > 40 ? `${kid.slice(0, 40)}…` : kid);

export function createKeyring({ dir, clock, logger, rotationInterval, monotonicNow = () => performance.now() }: KeyringOptions): Keyring {
  let keys: ReadonlyMap<string, KeyRecord> = new Map();
  /** Key files the last read skipped (corrupt, unreadable). */
  let unread: readonly string[] = [];
  /** What the last read found other users may reach: each is warned of once, until it is fixed. */
  let exposed: ReadonlySet<string> = new Set();
  let loaded = false;
  let cached: Snapshot | undefined;
  let timer: NodeJS.Timeout | undefined;
  let queue: Promise<unknown> = Promise.resolve();

  /** Runs changes one at a time, so a reload never overwrites a key written a moment earlier. */
  const exclusive = <T>(work: () => Promise<T>): Promise<T> => {
    const result = queue.then(() => work());
    queue = result.catch(() => undefined);
    return result;
  };

  const current = (): Snapshot => {
    const now = clock.now();
    // A clock stepped backwards must not see states computed for a later instant.
    if (cached === undefined || now >= cached.validUntil || now < cached.validFrom) cached = snapshotOf([...keys.values()], now);
    return cached;
  };

  const audit = (event: KeyAuditEvent, fields: Record<string, unknown>) => logger.info({ audit: true, event, ...fields }, event);
  const logFailure = (what: string) => (error: unknown) => logger.error({ err: describeError(error) }, `keyring: ${what} failed`);

  const view = (key: KeyRecord): KeyView => {
    const status = current().statuses.get(key.kid)!;
    const retires = status.retiredAt ?? key.retires ?? undefined;
    return {
      kid: key.kid,
      state: status.state,
      created: key.created,
      activates: key.activates,
      ...(retires ? { retires } : {}),
      ...(status.dropsAt ? { dropsAt: status.dropsAt } : {}),
      ...(key.revoked ? { revoked: key.revoked } : {}),
    };
  };

  /** A write to KEYS_DIR; permissions, a read-only or full disk are something the operator fixes, said in one line. */
  const writing = async <T>(write: () => Promise<T>): Promise<T> => {
    try {
      return await write();
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === undefined) throw error;
      throw new KeyringError(`KEYS_DIR cannot be written: ${dir} (${code})`);
    }
  };

  const save = async (key: KeyRecord): Promise<KeyView> => {
    await writing(() => writeKeyFile(dir, key));
    keys = new Map(keys).set(key.kid, key);
    cached = undefined;
    return view(key);
  };

  const warnOfNewExposure = (found: ReadonlyMap<string, number>) => {
    for (const [name, mode] of found) {
      if (exposed.has(name)) continue;
      const octal = mode.toString(8).padStart(4, '0');
      if (name === '.') logger.warn({ dir, mode: octal }, 'keyring: other users may add key files to KEYS_DIR, and so sign tokens; chmod o-w it');
      else logger.warn({ file: name, mode: octal }, 'keyring: other users may read or write a key file; chmod 600 it (a mounted secret: defaultMode 0400)');
    }
    exposed = new Set(found.keys());
  };

  /** `required`: a read that fails throws even after a first load (a key must not be created on the strength of an old read). */
  const reloadNow = async ({ required = false } = {}) => {
    const result = await readKeyDirectory(dir, keys, logger);
    if (result.ok) {
      warnOfNewExposure(result.exposed);
      keys = result.keys;
      unread = result.unread;
      cached = undefined;
      loaded = true;
    } else if (!loaded || required) {
      throw new KeyringError(`KEYS_DIR cannot be read: ${dir} (${result.code})`);
    } else {
      logger.error({ dir, code: result.code }, 'keyring: cannot read the key directory; keeping the last good keys');
    }
  };

  /**
   * Deletes the files of dropped keys (retired, and every token they signed expired): nothing reads
   * them again, and each would be parsed at every reload. Run at each rotation, it keeps KEYS_DIR to
   * the keys of the last hour or so however short KEY_ROTATION_INTERVAL is.
   */
  const deleteDropped = async () => {
    const { statuses } = current();
    for (const key of [...keys.values()]) {
      if (statuses.get(key.kid)?.state !== 'dropped') continue;
      // Another instance may have deleted it first.
      await unlink(join(dir, keyFileName(key.kid))).catch(ignoreMissing);
      keys = new Map([...keys].filter(([kid]) => kid !== key.kid));
      cached = undefined;
      logger.info({ kid: key.kid }, 'keyring: deleted the file of a dropped key');
    }
  };

  /**
   * Runs `create` holding KEYS_DIR's creation lock, on the directory as it is now: another process
   * may have created, a moment ago, the key that `create` would.
   */
  const creating = async <T>(create: () => Promise<T>, release: ReleaseCreationLock): Promise<T> => {
    try {
      await reloadNow({ required: true });
      return await create();
    } finally {
      await release().catch(logFailure('giving back the key creation lock'));
    }
  };
  const creationLock = createCreationLock(dir, monotonicNow);
  const takeCreationLock = () => writing(() => creationLock.tryTake());
  /** `creating`, once the process that holds the lock (if one does) has given it back or left it stale. */
  const whileCreating = async <T>(create: () => Promise<T>): Promise<T> => {
    for (let waited = false; ; waited = true) {
      const release = await takeCreationLock();
      if (release !== undefined) return creating(create, release);
      if (!waited) logger.info({ dir }, 'keyring: another process is creating a key; waiting for it');
      // Spread out, so that waiters do not all ask at the same instant.
      await sleep(CREATION_LOCK_POLL_MS * (0.5 + Math.random()));
    }
  };

  /**
   * Before a key is made that signs at once because this process sees none signing: keys it cannot
   * read (another user's files, a bad copy) may be the signing key. A key of its own would then sign
   * before any resource server has it, and this process could not verify the tokens the keys there
   * signed. The operator fixes the files.
   */
  const refuseWhileUnread = () => {
    if (unread.length === 0) return;
    const named = unread.length > 3 ? `${unread.slice(0, 3).join(', ')} and ${unread.length - 3} more` : unread.join(', ');
    throw new KeyringError(`KEYS_DIR ${dir} holds key files that could not be read (${named}; the log says why): fix or remove them`);
  };

  const rotateNow = async (trigger: 'manual' | 'scheduled') => {
    const { active, hasNext } = current();
    if (hasNext) throw new KeyringError('a next key is already waiting to activate; rotate again after it does');
    if (active === undefined) refuseWhileUnread();
    const now = clock.now();
    // With nothing signing (an empty keyring) there is nothing to keep signing while a next key waits.
    const activates = active === undefined ? now : now + PUBLISH_LEAD_MS;
    const created = await save(generateKeyRecord(new Date(now), new Date(activates)));
    audit('key_rotation', { kid: created.kid, activates: created.activates, trigger });
    await deleteDropped();
    return created;
  };

  const isRotationDue = () => {
    const { active, hasNext } = current();
    if (rotationInterval <= 0 || active === undefined || hasNext) return false;
    const activates = keys.get(active.kid)!.activates.getTime();
    return clock.now() >= activates + rotationInterval * 1000 - PUBLISH_LEAD_MS;
  };
  const rotateIfDueNow = async () => {
    if (!isRotationDue()) return undefined;
    const release = await takeCreationLock();
    if (release === undefined) {
      // Another instance is creating a key (this very rotation, most likely): the next reload shows it.
      logger.info({ dir }, 'keyring: a rotation is due, but another process is creating a key; looking again at the next reload');
      return undefined;
    }
    return creating(async () => (isRotationDue() ? rotateNow('scheduled') : undefined), release);
  };

  /** A key that signs from now: first start, or the replacement of a revoked signing key. */
  const saveImmediateKey = () => save(generateKeyRecord(new Date(clock.now()), new Date(clock.now())));

  const known = (kid: string): KeyRecord => {
    const key = keys.get(kid);
    if (key === undefined) throw new KeyringError(`no key ${quoted(kid)}`);
    return key;
  };

  const retireNow = async (kid: string) => {
    const key = known(kid);
    const { state } = view(key);
    if (state === 'revoked' || state === 'dropped' || state === 'retired') throw new KeyringError(`key ${kid} is already ${state}`);
    if (state === 'active') {
      throw new KeyringError(
        `key ${kid} is the signing key and no other key would sign; run \`authd keys rotate\` first — the old key retires by itself when the new one activates`,
      );
    }
    if (state === 'next' && key.activates.getTime() - clock.now() < RETIRE_NEXT_NOTICE_MS) {
      throw new KeyringError(
        `key ${kid} activates in less than ${RETIRE_NEXT_NOTICE_MS / 1000} s, and instances that have not re-read KEYS_DIR by then would sign with it; let it activate, then run \`authd keys rotate\` — it retires by itself when the new key activates`,
      );
    }
    const retired = await save({ ...key, retires: new Date(clock.now()) });
    audit('key_retired', { kid });
    return retired;
  };

  /**
   * When the key revoked is the signing key (or none signs), its replacement is written first, then
   * the revocation: an instance that reloads in between, or every instance if this process stops
   * in between, still has a key to sign with. Written the other way round, they had none until
   * the replacement landed, and for good if it never did.
   */
  const revokeNow = async (kid: string): Promise<RevokeOutcome> => {
    const unrevoked = () => {
      const key = known(kid);
      if (key.revoked !== null) throw new KeyringError(`key ${kid} is already revoked`);
      return key;
    };
    unrevoked();
    const leavesNoSigner = () => [undefined, kid].includes(current().active?.kid);
    const replace = () => {
      if (!leavesNoSigner()) return undefined;
      // The signing key revoked is replaced whatever else is there; no signer seen may be one unread.
      if (current().active === undefined) refuseWhileUnread();
      return saveImmediateKey();
    };
    const replacement = leavesNoSigner() ? await whileCreating(async () => replace()) : undefined;
    if (replacement !== undefined) {
      audit('key_rotation', { kid: replacement.kid, activates: replacement.activates, trigger: 'revocation', replaces: kid });
      logger.warn(
        { kid: replacement.kid, revokedKid: kid },
        'keyring: the signing key is being revoked, so a replacement signs at once, before resource servers may have fetched it',
      );
    }
    // Read again: the creation lock's reload may have found it revoked by another process meanwhile.
    const revoked = await save({ ...unrevoked(), revoked: new Date(clock.now()) });
    audit('key_revoked', { kid });
    return replacement === undefined ? { revoked } : { revoked, replacement };
  };

  const tick = () =>
    exclusive(async () => {
      await reloadNow();
      await rotateIfDueNow();
    }).catch(logFailure('scheduled reload or rotation'));

  return {
    load: () => exclusive(reloadNow),
    reload: () => exclusive(reloadNow),
    ensureKey: () =>
      exclusive(async () => {
        const needsKey = () => current().active === undefined && !current().hasNext;
        if (!needsKey()) return;
        await whileCreating(async () => {
          // Made by another instance while this one waited for the lock: that key is this one's too.
          if (!needsKey()) return;
          refuseWhileUnread();
          const created = await saveImmediateKey();
          audit('key_rotation', { kid: created.kid, activates: created.activates, trigger: 'no usable key' });
        });
      }),
    activeKey: () => current().active,
    verificationKey: (kid) => current().publicKeys.get(kid),
    jwks: () => current().jwks,
    list: () => [...keys.values()].sort(byActivation).map(view),
    rotate: () => exclusive(() => whileCreating(() => rotateNow('manual'))),
    retire: (kid) => exclusive(() => retireNow(kid)),
    revoke: (kid) => exclusive(() => revokeNow(kid)),
    rotateIfDue: () => exclusive(rotateIfDueNow),
    start() {
      if (timer === undefined) {
        timer = setInterval(() => void tick(), RELOAD_INTERVAL_MS);
        timer.unref();
      }
      return exclusive(rotateIfDueNow).then(() => undefined, logFailure('rotation'));
    },
    stop() {
      clearInterval(timer);
      timer = undefined;
    },
  };
}
