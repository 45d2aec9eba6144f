import { cachedScopesInUse } from '../../src/stores/cached-client-lookup.js';

describe('cachedScopesInUse', () => {
  let now = 0;
  const clock = { now: () => now };

  it('queries once per period, sharing one query among concurrent callers', async () => {
    const loads: string[][] = [['read'], ['read', 'write']];
    let calls = 0;
    const scopes = cachedScopesInUse(async () => loads[calls++]!, clock, 10_000);
    expect(await Promise.all([scopes(), scopes(), scopes()])).toEqual([['read'], ['read'], ['read']]);
    now += 9_999;
    expect(await scopes()).toEqual(['read']);
    expect(calls).toBe(1);
    now += 1;
    expect(await scopes()).toEqual(['read', 'write']);
    expect(calls).toBe(2);
  });

  it('does not keep a failed query', async () => {
    let fail = true;
    let calls = 0;
    const scopes = cachedScopesInUse(async () => {
      calls += 1;
      if (fail) throw new Error('database unavailable');
      return ['read'];
    }, clock, 10_000);
    await expect(scopes()).rejects.toThrow('database unavailable');
    fail = false;
    expect(await scopes()).toEqual(['read']);
    expect(calls).toBe(2);
  });
});
