import { createRevokedSet, MAX_REVOKED_ENTRIES } from '../../src/flows/revoked-set.js';

const NOW = 1_800_000_000_000;
const entry = (jti: string, msFromNow = 60_000) => ({ jti, expiresAt: new Date(NOW + msFromNow) });

describe('in-process revoked set', () => {
  it('tells a revocation it holds at once, and that a token is not revoked only once a load has completed', () => {
    const set = createRevokedSet();
    set.add([entry('a')]);
    expect(set.lookup('a', NOW)).toBe(true);
    expect(set.lookup('b', NOW)).toBeUndefined();
    expect(set.markComplete(set.invalidate())).toBe(true);
    expect(set.lookup('a', NOW)).toBe(true);
    expect(set.lookup('b', NOW)).toBe(false);
  });

  it('voids a load during which the subscription was lost', () => {
    const set = createRevokedSet();
    const load = set.invalidate();
    set.add([entry('a')]);
    set.invalidate();
    expect(set.markComplete(load)).toBe(false);
    expect(set.lookup('b', NOW)).toBeUndefined();
    const reload = set.invalidate();
    expect(set.markComplete(reload)).toBe(true);
    expect(set.isComplete()).toBe(true);
  });

  it('stops answering at once when invalidated', () => {
    const set = createRevokedSet();
    set.markComplete(set.invalidate());
    set.invalidate();
    expect(set.lookup('a', NOW)).toBeUndefined();
  });

  it('treats an entry as revoked until its token expires, keeps the later expiry, and prunes', () => {
    const set = createRevokedSet();
    set.markComplete(set.invalidate());
    set.add([entry('a', 1000), entry('b', 5000), entry('a', 3000), entry('a', 2000)]);
    expect(set.lookup('a', NOW + 2999)).toBe(true);
    expect(set.lookup('a', NOW + 3000)).toBe(false);
    expect(set.prune(NOW + 3000)).toBe(1);
    expect(set.size()).toBe(1);
    expect(set.lookup('b', NOW + 4999)).toBe(true);
  });

  it('gives up answering past its size bound, and holds nothing until the next load, instead of growing without limit', () => {
    const set = createRevokedSet();
    set.markComplete(set.invalidate());
    set.add(Array.from({ length: MAX_REVOKED_ENTRIES + 1 }, (_, index) => entry(`j${index}`)));
    expect([set.isComplete(), set.isOverflowed(), set.size()]).toEqual([false, true, 0]);
    expect(set.lookup('j0', NOW)).toBeUndefined();
    set.add([entry('later')]);
    expect(set.size()).toBe(0);
  });

  it('does not complete a load that overflows it; the next load starts empty', () => {
    const set = createRevokedSet(2);
    const load = set.invalidate();
    set.add([entry('a'), entry('b'), entry('c')]);
    expect(set.markComplete(load)).toBe(false);
    const reload = set.invalidate();
    expect([set.isOverflowed(), set.size()]).toEqual([false, 0]);
    set.add([entry('a'), entry('b')]);
    expect(set.markComplete(reload)).toBe(true);
    expect(set.lookup('b', NOW)).toBe(true);
  });
});
