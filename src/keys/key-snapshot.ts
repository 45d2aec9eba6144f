import type { KeyObject } from 'node:crypto';
import type { SigningKey } from '../tokens/access-token.js';
import type { KeyRecord } from './key-file.js';
import { byActivation, keyStates, nextStateChange, type KeyState, type KeyStatus } from './key-state.js';
import { publishKeySet, type PublishedKeySet } from './jwks.js';

/** Everything derived from the keys at one instant, valid until the keys change or a state boundary passes. */
export interface Snapshot {
  readonly statuses: ReadonlyMap<string, KeyStatus>;
  readonly validFrom: number;
  readonly validUntil: number;
  readonly jwks: PublishedKeySet;
  readonly publicKeys: ReadonlyMap<string, KeyObject>;
  readonly active: SigningKey | undefined;
  readonly hasNext: boolean;
}

const PUBLISHED_STATES: readonly KeyState[] = ['next', 'active', 'retired'];

/** States, published key set, lookups and signing key of `keys` at `now` (ms). */
export function snapshotOf(keys: readonly KeyRecord[], now: number): Snapshot {
  const statuses = keyStates(keys, now);
  const stateOf = (key: KeyRecord) => statuses.get(key.kid)?.state;
  const published = keys.filter((key) => PUBLISHED_STATES.includes(stateOf(key)!)).sort(byActivation);
  const active = keys.find((key) => stateOf(key) === 'active');
  return {
    statuses,
    validFrom: now,
    validUntil: nextStateChange(keys, now, statuses),
    jwks: publishKeySet(published),
    publicKeys: new Map(published.map((key) => [key.kid, key.publicKey])),
    active: active && { kid: active.kid, privateKey: active.privateKey },
    hasNext: keys.some((key) => stateOf(key) === 'next'),
  };
}
