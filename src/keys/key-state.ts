import { MAX_ACCESS_TOKEN_TTL_SECONDS } from '../config/config.js';

export type KeyState = 'next' | 'active' | 'retired' | 'dropped' | 'revoked';

/** The schedule of a key, without its key material. */
export interface KeySchedule {
  readonly kid: string;
  readonly activates: Date;
  readonly retires: Date | null;
  readonly revoked: Date | null;
}

export interface KeyStatus {
  readonly state: KeyState;
  /** When it stopped (or stops) signing; set for retired and dropped keys that once signed. */
  readonly retiredAt?: Date;
  /** When it leaves the JWKS; set with `retiredAt`. */
  readonly dropsAt?: Date;
}

/** Resource servers accept tokens up to 60 s past `exp`; a retired key stays published that much longer. */
export const VERIFIER_CLOCK_TOLERANCE_MS = 60_000;

/** How long a retired key stays published: the longest token it can have signed, plus tolerance (3660 s). */
export const RETIRED_KEY_LIFETIME_MS = MAX_ACCESS_TOKEN_TTL_SECONDS * 1000 + VERIFIER_CLOCK_TOLERANCE_MS;

/** Activation order, then kid; on a tie a revoked key sorts first so its same-instant replacement is the newest. */
export const byActivation = (a: KeySchedule, b: KeySchedule): number =>
  a.activates.getTime() - b.activates.getTime() ||
  Number(b.revoked !== null) - Number(a.revoked !== null) ||
  (a.kid < b.kid ? -1 : a.kid > b.kid ? 1 : 0);

const reached = (instant: Date | null, now: number): boolean => instant !== null && instant.getTime() <= now;

const notLaterThanActivation = (instant: Date | null, key: KeySchedule): boolean =>
  instant !== null && instant.getTime() <= key.activates.getTime();

/**
 * A key retired or revoked before it ever activated (a `next` key taken back): it never signs and
 * never displaces the signing key; it leaves the JWKS at the moment it is withdrawn.
 */
const isWithdrawn = (key: KeySchedule): boolean =>
  notLaterThanActivation(key.retires, key) || notLaterThanActivation(key.revoked, key);

const withdrawnStatus = (key: KeySchedule, now: number): KeyStatus => ({
  state: reached(key.revoked, now) ? 'revoked' : reached(key.retires, now) ? 'dropped' : 'next',
});

/** An activated key that no longer signs: retired by hand or by the first key after it that activated. */
function retiredStatus(key: KeySchedule, successor: KeySchedule | undefined, now: number): KeyStatus {
  const instants = [key.retires, successor && reached(successor.activates, now) ? successor.activates : null]
    .filter((instant): instant is Date => instant !== null)
    .map((instant) => instant.getTime());
  const retiredAt = new Date(Math.min(...instants));
  const dropsAt = new Date(retiredAt.getTime() + RETIRED_KEY_LIFETIME_MS);
  return { state: now >= dropsAt.getTime() ? 'dropped' : 'retired', retiredAt, dropsAt };
}

/**
 * The state of every key at `now` (ms). The newest activated key (revoked ones included in the
 * order) signs, unless it is revoked or retired by hand — then none does. Every other activated
 * key retired when its successor activated (or when retired by hand, if earlier) and is dropped
 * once every token it can have signed has expired.
 */
export function keyStates(keys: readonly KeySchedule[], now: number): Map<string, KeyStatus> {
  const states = new Map<string, KeyStatus>();
  for (const key of keys.filter(isWithdrawn)) states.set(key.kid, withdrawnStatus(key, now));
  const ordered = keys.filter((key) => !isWithdrawn(key)).sort(byActivation);
  const newest = ordered.filter((key) => reached(key.activates, now)).at(-1);
  ordered.forEach((key, index) => {
    if (reached(key.revoked, now)) states.set(key.kid, { state: 'revoked' });
    else if (!reached(key.activates, now)) states.set(key.kid, { state: 'next' });
    else if (key === newest && !reached(key.retires, now)) states.set(key.kid, { state: 'active' });
    else states.set(key.kid, retiredStatus(key, ordered[index + 1], now));
  });
  return states;
}

/**
 * The first instant after `now` at which some key changes state, or +Infinity: the JWKS and the
 * signing key can be cached until then.
 */
export function nextStateChange(keys: readonly KeySchedule[], now: number, states = keyStates(keys, now)): number {
  const scheduled = keys.flatMap((key) => [key.activates, key.retires, key.revoked]);
  const drops = [...states.values()].map((status) => status.dropsAt ?? null);
  const future = [...scheduled, ...drops].filter((instant): instant is Date => instant !== null && instant.getTime() > now);
  return Math.min(...future.map((instant) => instant.getTime()), Number.POSITIVE_INFINITY);
}
