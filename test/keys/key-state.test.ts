import { keyStates, nextTransition, RETIRED_KEY_LIFETIME_MS, type KeySchedule } from '../../src/keys/key-state.js';

const T0 = Date.UTC(2026, 10, 1);
const MIN = 60_000;
const key = (kid: string, activatesAt: number, extra: Partial<KeySchedule> = {}): KeySchedule => ({
  kid,
  activates: new Date(activatesAt),
  retires: null,
  revoked: null,
  ...extra,
});
const stateAt = (keys: KeySchedule[], now: number) => Object.fromEntries([...keyStates(keys, now)].map(([kid, s]) => [kid, s.state]));

describe('keyStates', () => {
  const a = key('20261101-aaaaaaaa', T0);
  const b = key('20261101-bbbbbbbb', T0 + 10 * MIN);

  it('walks next → active → retired → dropped over time', () => {
    expect(stateAt([a, b], T0 + MIN)).toEqual({ [a.kid]: 'active', [b.kid]: 'next' });
    expect(stateAt([a, b], T0 + 10 * MIN)).toEqual({ [a.kid]: 'retired', [b.kid]: 'active' });
    const dropsAt = T0 + 10 * MIN + RETIRED_KEY_LIFETIME_MS;
    expect(RETIRED_KEY_LIFETIME_MS).toBe(3660 * 1000);
    expect(stateAt([a, b], dropsAt - 1)).toEqual({ [a.kid]: 'retired', [b.kid]: 'active' });
    expect(stateAt([a, b], dropsAt)).toEqual({ [a.kid]: 'dropped', [b.kid]: 'active' });
    expect(keyStates([a, b], T0 + 20 * MIN).get(a.kid)).toEqual({
      state: 'retired',
      retiredAt: new Date(T0 + 10 * MIN),
      dropsAt: new Date(dropsAt),
    });
  });

  it('a key retired by hand stops signing at once and no older key takes over', () => {
    const retired = key('20261101-cccccccc', T0, { retires: new Date(T0 + 5 * MIN) });
    expect(stateAt([retired], T0 + 4 * MIN)).toEqual({ [retired.kid]: 'active' });
    expect(stateAt([retired], T0 + 5 * MIN)).toEqual({ [retired.kid]: 'retired' });
  });

  it('a revoked newest key leaves no active key and is revoked from that instant', () => {
    const revokedB = { ...b, revoked: new Date(T0 + 12 * MIN) };
    expect(stateAt([a, revokedB], T0 + 11 * MIN)).toEqual({ [a.kid]: 'retired', [b.kid]: 'active' });
    expect(stateAt([a, revokedB], T0 + 12 * MIN)).toEqual({ [a.kid]: 'retired', [b.kid]: 'revoked' });
  });

  it('breaks a tie on activation time by kid', () => {
    const x = key('20261101-00000001', T0);
    const y = key('20261101-00000002', T0);
    expect(stateAt([y, x], T0)).toEqual({ [x.kid]: 'retired', [y.kid]: 'active' });
  });

  it('a next key retired before it activates is withdrawn and never displaces the signing key', () => {
    const withdrawn = { ...b, retires: new Date(T0 + 5 * MIN) };
    expect(stateAt([a, withdrawn], T0 + 4 * MIN)).toEqual({ [a.kid]: 'active', [b.kid]: 'next' });
    expect(stateAt([a, withdrawn], T0 + 5 * MIN)).toEqual({ [a.kid]: 'active', [b.kid]: 'dropped' });
    expect(stateAt([a, withdrawn], T0 + 20 * MIN)).toEqual({ [a.kid]: 'active', [b.kid]: 'dropped' });
  });

  it('a next key revoked before it activates never displaces the signing key', () => {
    const revokedEarly = { ...b, revoked: new Date(T0 + 5 * MIN) };
    expect(stateAt([a, revokedEarly], T0 + 20 * MIN)).toEqual({ [a.kid]: 'active', [b.kid]: 'revoked' });
  });

  it('lets a same-instant replacement of a revoked key sign, whatever the kids', () => {
    const revoked = key('20261101-ffffffff', T0, { revoked: new Date(T0) });
    const replacement = key('20261101-00000000', T0);
    expect(stateAt([revoked, replacement], T0)).toEqual({ [revoked.kid]: 'revoked', [replacement.kid]: 'active' });
  });

  it('names the next instant at which a state changes', () => {
    expect(nextTransition([a, b], T0 + MIN)).toBe(T0 + 10 * MIN);
    expect(nextTransition([a, b], T0 + 10 * MIN)).toBe(T0 + 10 * MIN + RETIRED_KEY_LIFETIME_MS);
    expect(nextTransition([a], T0 + MIN)).toBe(Number.POSITIVE_INFINITY);
  });
});
