import { keyStates, nextStateChange, RETIRED_KEY_LIFETIME_MS, type KeySchedule } from '../../src/keys/key-state.js';

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

  it('keeps a retired key 3660 s: the longest access token plus the verifier clock tolerance', () => {
    expect(RETIRED_KEY_LIFETIME_MS).toBe(3_660_000);
  });

  it('walks next → active → retired → dropped over time, with exact boundaries', () => {
    expect(stateAt([a, b], T0 - 1)).toEqual({ [a.kid]: 'next', [b.kid]: 'next' });
    expect(stateAt([a, b], T0)).toEqual({ [a.kid]: 'active', [b.kid]: 'next' });
    expect(stateAt([a, b], T0 + 10 * MIN - 1)).toEqual({ [a.kid]: 'active', [b.kid]: 'next' });
    expect(stateAt([a, b], T0 + 10 * MIN)).toEqual({ [a.kid]: 'retired', [b.kid]: 'active' });
    const dropsAt = T0 + 10 * MIN + 3_660_000;
    expect(stateAt([a, b], dropsAt - 1)).toEqual({ [a.kid]: 'retired', [b.kid]: 'active' });
    expect(stateAt([a, b], dropsAt)).toEqual({ [a.kid]: 'dropped', [b.kid]: 'active' });
    expect(keyStates([a, b], T0 + 20 * MIN).get(a.kid)).toEqual({
      state: 'retired',
      retiredAt: new Date(T0 + 10 * MIN),
      dropsAt: new Date(dropsAt),
    });
    expect(keyStates([a, b], T0 + 20 * MIN).get(b.kid)).toEqual({ state: 'active' });
  });

  it('a key retired by hand stops signing at that instant and no older key takes over', () => {
    const retired = { ...b, retires: new Date(T0 + 15 * MIN) };
    expect(stateAt([a, retired], T0 + 15 * MIN - 1)).toEqual({ [a.kid]: 'retired', [b.kid]: 'active' });
    expect(keyStates([a, retired], T0 + 15 * MIN)).toEqual(
      new Map([
        [a.kid, { state: 'retired', retiredAt: new Date(T0 + 10 * MIN), dropsAt: new Date(T0 + 10 * MIN + 3_660_000) }],
        [b.kid, { state: 'retired', retiredAt: new Date(T0 + 15 * MIN), dropsAt: new Date(T0 + 15 * MIN + 3_660_000) }],
      ]),
    );
    expect(stateAt([a, retired], T0 + 15 * MIN + 3_660_000)).toEqual({ [a.kid]: 'dropped', [b.kid]: 'dropped' });
  });

  it('an explicit retire earlier than the successor activation is when the key stopped signing', () => {
    const early = { ...a, retires: new Date(T0 + 5 * MIN) };
    expect(keyStates([early, b], T0 + 30 * MIN).get(a.kid)).toEqual({
      state: 'retired',
      retiredAt: new Date(T0 + 5 * MIN),
      dropsAt: new Date(T0 + 5 * MIN + 3_660_000),
    });
  });

  it('a revoked newest key leaves no active key, and the older key stays retired', () => {
    const revokedB = { ...b, revoked: new Date(T0 + 12 * MIN) };
    expect(stateAt([a, revokedB], T0 + 11 * MIN)).toEqual({ [a.kid]: 'retired', [b.kid]: 'active' });
    expect(stateAt([a, revokedB], T0 + 12 * MIN)).toEqual({ [a.kid]: 'retired', [b.kid]: 'revoked' });
    expect(keyStates([a, revokedB], T0 + 12 * MIN).get(a.kid)).toMatchObject({ retiredAt: new Date(T0 + 10 * MIN) });
  });

  it('a revoked older key is revoked at once, not retired', () => {
    const revokedA = { ...a, revoked: new Date(T0 + 12 * MIN) };
    expect(keyStates([revokedA, b], T0 + 12 * MIN)).toEqual(new Map([[a.kid, { state: 'revoked' }], [b.kid, { state: 'active' }]]));
  });

  it('breaks a tie on activation time by kid, whatever the input order', () => {
    const x = key('20261101-00000001', T0);
    const y = key('20261101-00000002', T0);
    expect(stateAt([y, x], T0)).toEqual({ [x.kid]: 'retired', [y.kid]: 'active' });
    expect(stateAt([x, y], T0)).toEqual({ [x.kid]: 'retired', [y.kid]: 'active' });
  });

  it('lets a same-instant replacement of a revoked key sign, whatever the kids', () => {
    const revoked = key('20261101-ffffffff', T0, { revoked: new Date(T0) });
    const replacement = key('20261101-00000000', T0);
    expect(stateAt([revoked, replacement], T0)).toEqual({ [revoked.kid]: 'revoked', [replacement.kid]: 'active' });
  });

  it('a next key retired before it activates is withdrawn and never displaces the signing key', () => {
    const withdrawn = { ...b, retires: new Date(T0 + 5 * MIN) };
    expect(stateAt([a, withdrawn], T0 + 5 * MIN - 1)).toEqual({ [a.kid]: 'active', [b.kid]: 'next' });
    expect(stateAt([a, withdrawn], T0 + 5 * MIN)).toEqual({ [a.kid]: 'active', [b.kid]: 'dropped' });
    expect(stateAt([a, withdrawn], T0 + 20 * MIN)).toEqual({ [a.kid]: 'active', [b.kid]: 'dropped' });
  });

  it('a next key revoked before it activates never displaces the signing key', () => {
    const revokedEarly = { ...b, revoked: new Date(T0 + 5 * MIN) };
    expect(stateAt([a, revokedEarly], T0 + 20 * MIN)).toEqual({ [a.kid]: 'active', [b.kid]: 'revoked' });
  });

  it('returns no state for no keys', () => {
    expect(keyStates([], T0).size).toBe(0);
  });
});

describe('nextStateChange', () => {
  const a = key('20261101-aaaaaaaa', T0);
  const b = key('20261101-bbbbbbbb', T0 + 10 * MIN);

  it('names the next activation, then the drop of the retired key, then nothing', () => {
    expect(nextStateChange([a, b], T0 + MIN)).toBe(T0 + 10 * MIN);
    expect(nextStateChange([a, b], T0 + 10 * MIN)).toBe(T0 + 10 * MIN + RETIRED_KEY_LIFETIME_MS);
    expect(nextStateChange([a, b], T0 + 10 * MIN + RETIRED_KEY_LIFETIME_MS)).toBe(Number.POSITIVE_INFINITY);
    expect(nextStateChange([a], T0 + MIN)).toBe(Number.POSITIVE_INFINITY);
  });

  it('counts scheduled retirements and revocations', () => {
    expect(nextStateChange([{ ...a, retires: new Date(T0 + 3 * MIN) }], T0 + MIN)).toBe(T0 + 3 * MIN);
    expect(nextStateChange([{ ...a, revoked: new Date(T0 + 2 * MIN) }, b], T0 + MIN)).toBe(T0 + 2 * MIN);
  });
});
