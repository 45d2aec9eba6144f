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
  /** When it stopped (or will stop) signing, for retired keys. */
  readonly retiredAt?: Date;
  /** When it leaves the JWKS, for retired keys. */
  readonly dropsAt?: Date;
}

/** Resource servers accept tokens up to 60 s past `exp`; a retired key stays published that much longer. */
export const VERIFIER_CLOCK_TOLERANCE_MS = 60_000;

/** How long a retired key stays published: the longest token it can have signed, plus tolerance. */
export const RETIRED_KEY_LIFETIME_MS = MAX_ACCESS_TOKEN_TTL_SECONDS * 1000 + VERIFIER_CLOCK_TOLERANCE_MS;

/** Activation order; on a tie a revoked key sorts first, so its same-instant replacement is the newest. */
const byActivation = (a: KeySchedule, b: KeySchedule) =>
  a.activates.getTime() - b.activates.getTime() ||
  Number(b.revoked !== null) - Number(a.revoked !== null) ||
  (a.kid < b.kid ? -1 : a.kid > b.kid ? 1 : 0);

const isAfter = (instant: Date | null, now: number) => instant !== null && instant.getTime() <= now;

/**
 * The state of every key at `now`. The newest activated key (revoked ones included in the
 * order) signs, unless it is revoked or retired by hand — then none does. Every other activated
 * key retired when its successor activated (or when retired by hand, if earlier) and is dropped
 * once every token it can have signed has expired.
 */
export function keyStates(keys: readonly KeySchedule[], now: number): Map<string, KeyStatus> {
  const states = new Map<string, KeyStatus>();
  // A key retired or revoked before it ever activated (a withdrawn `next` key) never signs and
  // never displaces the signing key: it leaves the JWKS when it is withdrawn.
  const before = (instant: Date | null, key: KeySchedule) => instant !== null && instant.getTime() <= key.activates.getTime();
  const withdrawn = (key: KeySchedule) => before(key.retires, key) || before(key.revoked, key);
  for (const key of keys.filter(withdrawn)) {
    states.set(key.kid, { state: isAfter(key.revoked, now) ? 'revoked' : isAfter(key.retires, now) ? 'dropped' : 'next' });
  }
  const ordered = keys.filter((key) => !withdrawn(key)).sort(byActivation);
  const activated = ordered.filter((key) => key.activates.getTime() <= now);
  const newest = activated[activated.length - 1];
  ordered.forEach((key, index) => {
    if (isAfter(key.revoked, now)) return states.set(key.kid, { state: 'revoked' });
    if (key.activates.getTime() > now) return states.set(key.kid, { state: 'next' });
    if (key === newest && !isAfter(key.retires, now)) return states.set(key.kid, { state: 'active' });
    const successor = ordered[index + 1];
    const candidates = [key.retires?.getTime(), successor && successor.activates.getTime() <= now ? successor.activates.getTime() : undefined]
      .filter((time): time is number => time !== undefined);
    const retiredAt = new Date(Math.min(...candidates));
    const dropsAt = new Date(retiredAt.getTime() + RETIRED_KEY_LIFETIME_MS);
    return states.set(key.kid, { state: now >= dropsAt.getTime() ? 'dropped' : 'retired', retiredAt, dropsAt });
  });
  return states;
}

/** The next instant after `now` at which some key changes state (for caching the JWKS until then). */
export function nextTransition(keys: readonly KeySchedule[], now: number): number {
  const instants = keys.flatMap((key) => [key.activates, key.retires, key.revoked].filter((d): d is Date => d !== null).map((d) => d.getTime()));
  const drops = [...keyStates(keys, now).values()].flatMap((status) => (status.dropsAt ? [status.dropsAt.getTime()] : []));
  return Math.min(...[...instants, ...drops].filter((instant) => instant > now), Number.POSITIVE_INFINITY);
}
