import { newJti } from '../../src/tokens/access-token.js';

describe('jti', () => {
  it('is 128 random bits in base64url, never repeated across refills of its entropy pool', () => {
    const jtis = Array.from({ length: 1000 }, () => newJti());
    for (const jti of jtis) expect(jti).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(new Set(jtis).size).toBe(jtis.length);
    const pairs = new Set(jtis.map((jti) => Buffer.from(jti, 'base64url').subarray(0, 8).toString('hex')));
    expect(pairs.size).toBe(jtis.length);
  });
});
