import { createHash, type KeyObject } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock } from '../clock.js';
import { describeError, type Logger } from '../observability/logger.js';
import type { SigningKey } from '../tokens/access-token.js';
import { generateKeyRecord, KID_PATTERN, readKeyFile, writeKeyFile, type KeyRecord } from './key-file.js';
import { keyStates, nextTransition, type KeyState, type KeyStatus } from './key-state.js';

/** JWKS max-age (300 s) plus the reload period (60 s): every instance publishes a new key this long before it signs. */
export const PUBLISH_LEAD_MS = 360_000;
export const RELOAD_INTERVAL_MS = 60_000;

/** A refused keyring operation, phrased for the person who asked. */
export class KeyringError extends Error {
  override readonly name = 'KeyringError';
}

export interface KeyView {
  readonly kid: string;
  readonly state: KeyState;
  readonly created: Date;
  readonly activates: Date;
  readonly retiredAt?: Date;
  readonly dropsAt?: Date;
  readonly revoked?: Date;
}

export interface Keyring {
  /** Reads KEYS_DIR. After a first success it never throws: bad files and bad reads keep the last good keys. */
  load(): Promise<void>;
  reload(): Promise<void>;
  /** First start: makes a key that signs at once if none is active or scheduled. */
  ensureKey(): Promise<void>;
  activeKey(): SigningKey | undefined;
  /** Public key of a next, active or retired key; undefined for dropped, revoked or unknown kids. */
  verificationKey(kid: string): KeyObject | undefined;
  /** The published key set, serialised once per change, with a strong ETag. */
  jwks(): { readonly body: string; readonly etag: string };
  list(): KeyView[];
  rotate(): Promise<KeyView>;
  retire(kid: string): Promise<KeyView>;
  revoke(kid: string): Promise<{ revoked: KeyView; replacement?: KeyView }>;
  /** Reloads every 60 s and rotates when KEY_ROTATION_INTERVAL says so. */
  start(): void;
  stop(): void;
}

export interface KeyringOptions {
  readonly dir: string;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Seconds between automatic rotations; 0 = never. */
  readonly rotationInterval: number;
}

interface Snapshot {
  readonly statuses: Map<string, KeyStatus>;
  readonly validUntil: number;
  readonly jwks: { readonly body: string; readonly etag: string };
  readonly publicKeys: Map<string, KeyObject>;
  readonly active: SigningKey | undefined;
}

const PUBLISHED: ReadonlySet<KeyState> = new Set(['next', 'active', 'retired']);

export function createKeyring({ dir, clock, logger, rotationInterval }: KeyringOptions): Keyring {
  let keys = new Map<string, KeyRecord>();
  let snapshot: Snapshot | undefined;
  let timer: NodeJS.Timeout | undefined;

  /** States, JWKS and lookups for now; rebuilt when the keys change or a state boundary passes. */
  const current = (): Snapshot => {
    const now = clock.now();
    if (snapshot !== undefined && now < snapshot.validUntil) return snapshot;
    const records = [...keys.values()];
    const statuses = keyStates(records, now);
    const published = records
      .filter((key) => PUBLISHED.has(statuses.get(key.kid)!.state))
      .sort((a, b) => a.activates.getTime() - b.activates.getTime() || a.kid.localeCompare(b.kid));
    const body = JSON.stringify({
      keys: published.map((key) => {
        const { x, y } = key.publicKey.export({ format: 'jwk' });
        return { kty: 'EC', crv: 'P-256', x, y, kid: key.kid, alg: 'ES256', use: 'sig' };
      }),
    });
    const active = records.find((key) => statuses.get(key.kid)!.state === 'active');
    snapshot = {
      statuses,
      validUntil: nextTransition(records, now),
      jwks: { body, etag: `"${createHash('sha256').update(body).digest('base64url')}"` },
      publicKeys: new Map(published.map((key) => [key.kid, key.publicKey])),
      active: active && { kid: active.kid, privateKey: active.privateKey },
    };
    return snapshot;
  };

  const replaceKeys = (next: Map<string, KeyRecord>) => {
    keys = next;
    snapshot = undefined;
  };

  const view = (key: KeyRecord): KeyView => {
    const status = current().statuses.get(key.kid)!;
    return {
      kid: key.kid,
      state: status.state,
      created: key.created,
      activates: key.activates,
      ...(status.retiredAt ? { retiredAt: status.retiredAt } : {}),
      ...(status.dropsAt ? { dropsAt: status.dropsAt } : {}),
      ...(key.revoked ? { revoked: key.revoked } : {}),
    };
  };

  const save = async (key: KeyRecord) => {
    await writeKeyFile(dir, key);
    replaceKeys(new Map(keys).set(key.kid, key));
    return view(key);
  };

  const reload = async () => {
    let names: string[];
    try {
      names = (await readdir(dir)).filter((name) => name.endsWith('.json'));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT' && keys.size === 0) return;
      logger.error({ err: describeError(error), dir }, 'keyring: cannot read the key directory; keeping the last good keys');
      return;
    }
    const loaded = new Map<string, KeyRecord>();
    for (const name of names) {
      try {
        const key = await readKeyFile(join(dir, name));
        loaded.set(key.kid, key);
      } catch (error) {
        const kid = name.slice(0, -'.json'.length);
        const previous = KID_PATTERN.test(kid) ? keys.get(kid) : undefined;
        if (previous !== undefined) loaded.set(kid, previous);
        logger.warn(
          { file: name, reason: error instanceof Error ? error.message : String(error), keptPrevious: previous !== undefined },
          'keyring: skipped a key file',
        );
      }
    }
    replaceKeys(loaded);
  };

  const immediateKey = () => generateKeyRecord(new Date(clock.now()), new Date(clock.now()));

  const keyInState = (state: KeyState) => [...keys.values()].find((key) => current().statuses.get(key.kid)?.state === state);

  const rotate = async () => {
    if (keyInState('next') !== undefined) throw new KeyringError('a next key is already waiting to activate; rotate again after it does');
    const now = clock.now();
    const created = await save(generateKeyRecord(new Date(now), new Date(now + PUBLISH_LEAD_MS)));
    logger.info({ audit: true, event: 'key_rotation', kid: created.kid, activates: created.activates }, 'key_rotation');
    return created;
  };

  const rotateIfDue = async () => {
    if (rotationInterval === 0) return;
    const active = keyInState('active');
    if (active === undefined || keyInState('next') !== undefined) return;
    if (clock.now() >= active.activates.getTime() + rotationInterval * 1000 - PUBLISH_LEAD_MS) await rotate();
  };

  const known = (kid: string): KeyRecord => {
    const key = keys.get(kid);
    if (key === undefined) throw new KeyringError(`no key ${JSON.stringify(kid)}`);
    return key;
  };

  const tick = async () => {
    try {
      await reload();
      await rotateIfDue();
    } catch (error) {
      logger.error({ err: describeError(error) }, 'keyring: scheduled reload or rotation failed');
    }
  };

  return {
    load: reload,
    reload,
    async ensureKey() {
      if (keyInState('active') !== undefined || keyInState('next') !== undefined) return;
      const created = await save(immediateKey());
      logger.info({ audit: true, event: 'key_rotation', kid: created.kid, reason: 'no usable key' }, 'key_rotation');
    },
    activeKey: () => current().active,
    verificationKey: (kid) => current().publicKeys.get(kid),
    jwks: () => current().jwks,
    list: () => [...keys.values()].sort((a, b) => a.activates.getTime() - b.activates.getTime()).map(view),
    rotate,
    async retire(kid) {
      const key = known(kid);
      const state = current().statuses.get(kid)!.state;
      if (state === 'revoked' || state === 'dropped' || state === 'retired') throw new KeyringError(`key ${kid} is already ${state}`);
      if (state === 'active') {
        throw new KeyringError(
          `key ${kid} is the signing key; run \`authd keys rotate\` first — it retires by itself when the new key activates`,
        );
      }
      const retired = await save({ ...key, retires: new Date(clock.now()) });
      logger.info({ audit: true, event: 'key_retired', kid }, 'key_retired');
      return retired;
    },
    async revoke(kid) {
      const key = known(kid);
      if (key.revoked !== null) throw new KeyringError(`key ${kid} is already revoked`);
      const now = new Date(clock.now());
      const wasActive = current().statuses.get(kid)!.state === 'active';
      const revoked = await save({ ...key, revoked: now });
      logger.info({ audit: true, event: 'key_revoked', kid }, 'key_revoked');
      if (!wasActive && keyInState('active') !== undefined) return { revoked };
      const replacement = await save(immediateKey());
      logger.warn(
        { audit: true, event: 'key_rotation', kid: replacement.kid, reason: `replaces revoked ${kid}` },
        'keyring: revoked the signing key; the replacement signs at once, before resource servers may have fetched it',
      );
      return { revoked, replacement };
    },
    start() {
      void rotateIfDue().catch((error: unknown) => logger.error({ err: describeError(error) }, 'keyring: rotation failed'));
      timer = setInterval(() => void tick(), RELOAD_INTERVAL_MS);
      timer.unref();
    },
    stop() {
      clearInterval(timer);
    },
  };
}
