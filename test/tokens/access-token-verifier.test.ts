import { createHmac, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import fc from 'fast-check';
import { createAccessTokenVerifier } from '../../src/tokens/access-token-verifier.js';
import { signAccessToken, type AccessTokenClaims } from '../../src/tokens/access-token.js';

const ISSUER = 'https://auth.example.test';
const NOW = 1_800_000_000;
const KID = '20261123-0a1b2c3d';
const ours = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const foreign = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const keys = new Map<string, KeyObject>([[KID, ours.publicKey]]);
const clock = { now: () => NOW * 1000 };
const verify = createAccessTokenVerifier({ issuer: ISSUER, keys: { verificationKey: (kid) => keys.get(kid) }, clock });

const claims: AccessTokenClaims = {
  iss: ISSUER,
  sub: 'user-1',
  aud: 'api',
  exp: NOW + 600,
  iat: NOW,
  nbf: NOW,
  jti: 'jti-1',
  client_id: 'web',
  scope: 'read',
};
const b64 = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
const header = { alg: 'ES256', typ: 'at+jwt', kid: KID };

/** A token signed with ES256 over whatever header and payload the test chooses. */
const signed = (head: unknown, payload: unknown, key: KeyObject = ours.privateKey) => {
  const input = `${b64(head)}.${b64(payload)}`;
  return `${input}.${sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
};

const INVALID = { valid: false, reason: 'invalid' };

describe('access token verification', () => {
  it('accepts a token it issued, with its claims', () => {
    const token = signAccessToken({ kid: KID, privateKey: ours.privateKey }, claims);
    expect(verify(token)).toEqual({ valid: true, claims });
  });

  it('accepts typ application/at+jwt (RFC 9068 §2.1)', () => {
    expect(verify(signed({ ...header, typ: 'application/at+jwt' }, claims)).valid).toBe(true);
  });

  it('has no clock tolerance: expired at exp, not yet valid before nbf', () => {
    expect(verify(signed(header, { ...claims, exp: NOW }))).toEqual({ valid: false, reason: 'expired', claims: { ...claims, exp: NOW } });
    expect(verify(signed(header, { ...claims, exp: NOW + 1 })).valid).toBe(true);
    expect(verify(signed(header, { ...claims, nbf: NOW + 1 }))).toEqual({ valid: false, reason: 'not yet valid', claims: { ...claims, nbf: NOW + 1 } });
    expect(verify(signed(header, { ...claims, nbf: NOW + 1, exp: NOW }))).toEqual({ valid: false, reason: 'expired', claims: { ...claims, nbf: NOW + 1, exp: NOW } });
  });

  it('refuses alg none, HMAC keyed with the public key, and other algorithms', () => {
    const payload = b64(claims);
    expect(verify(`${b64({ ...header, alg: 'none' })}.${payload}.`)).toEqual(INVALID);
    const publicJwk = JSON.stringify(ours.publicKey.export({ format: 'jwk' }));
    const hsInput = `${b64({ ...header, alg: 'HS256' })}.${payload}`;
    expect(verify(`${hsInput}.${createHmac('sha256', publicJwk).update(hsInput).digest('base64url')}`)).toEqual(INVALID);
    const pem = ours.publicKey.export({ format: 'pem', type: 'spki' });
    expect(verify(`${hsInput}.${createHmac('sha256', pem).update(hsInput).digest('base64url')}`)).toEqual(INVALID);
    expect(verify(signed({ ...header, alg: 'ES384' }, claims))).toEqual(INVALID);
  });

  it('refuses a foreign key under our kid, and any kid that is not ours', () => {
    expect(verify(signed(header, claims, foreign.privateKey))).toEqual(INVALID);
    for (const kid of ['unknown', '__proto__', 'constructor', '../../etc/passwd', "' OR '1'='1", '1;DROP TABLE users', 'kid\u0000', 'x'.repeat(5000), 7, null]) {
      expect(verify(signed({ ...header, kid }, claims))).toEqual(INVALID);
    }
    const { kid: _kid, ...noKid } = header;
    expect(verify(signed(noKid, claims))).toEqual(INVALID);
  });

  it('refuses a wrong or missing typ and any crit header', () => {
    expect(verify(signed({ ...header, typ: 'JWT' }, claims))).toEqual(INVALID);
    const { typ: _typ, ...noTyp } = header;
    expect(verify(signed(noTyp, claims))).toEqual(INVALID);
    expect(verify(signed({ ...header, crit: ['exp'] }, claims))).toEqual(INVALID);
  });

  it('refuses signed tokens with another issuer or without the required claims', () => {
    expect(verify(signed(header, { ...claims, iss: 'https://evil.example.test' }))).toEqual(INVALID);
    for (const claim of ['sub', 'jti', 'client_id', 'exp', 'iat', 'iss'] as const) {
      const { [claim]: _dropped, ...rest } = claims;
      expect(verify(signed(header, rest))).toEqual(INVALID);
    }
    expect(verify(signed(header, { ...claims, exp: String(NOW + 600) }))).toEqual(INVALID);
    expect(verify(signed(header, { ...claims, client_id: 42 }))).toEqual(INVALID);
    expect(verify(signed(header, { ...claims, nbf: 'soon' }))).toEqual(INVALID);
  });

  it('refuses signed payloads that are not a JSON object', () => {
    for (const payload of ['[1,2]', 'null', '"text"', 'not json']) {
      expect(verify(signed(header, payload))).toEqual(INVALID);
    }
  });

  it('refuses malformed compact serialisations', () => {
    const token = signAccessToken({ kid: KID, privateKey: ours.privateKey }, claims);
    const [h, p, s] = token.split('.') as [string, string, string];
    const der = sign('sha256', Buffer.from(`${h}.${p}`), ours.privateKey).toString('base64url');
    for (const bad of [`${h}.${p}`, `${token}.x`, `${h}.${p}.${der}`, `${h}.${p}.${s}=`, `${h}.${p}.${s}AA`, ` ${token}`, `${h}.${p}+.${s}`, '', '..', `${token}${'A'.repeat(8192)}`]) {
      expect(verify(bad)).toEqual(INVALID);
    }
  });

  it('refuses every token that differs from a valid one in one character', () => {
    const token = signAccessToken({ kid: KID, privateKey: ours.privateKey }, claims);
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.';
    fc.assert(
      fc.property(fc.nat({ max: token.length - 1 }), fc.constantFrom(...alphabet), (position, replacement) => {
        fc.pre(token[position] !== replacement);
        const changed = `${token.slice(0, position)}${replacement}${token.slice(position + 1)}`;
        expect(verify(changed)).toEqual(INVALID);
      }),
      { numRuns: 2000 },
    );
  });

  describe('tokens verified before', () => {
    const setup = () => {
      const keyring = new Map<string, KeyObject>([[KID, ours.publicKey]]);
      let now = NOW * 1000;
      const verifyCached = createAccessTokenVerifier({ issuer: ISSUER, keys: { verificationKey: (kid) => keyring.get(kid) }, clock: { now: () => now } });
      const token = signAccessToken({ kid: KID, privateKey: ours.privateKey }, claims);
      expect(verifyCached(token).valid).toBe(true);
      return { keyring, verifyCached, token, advance: (seconds: number) => (now += seconds * 1000) };
    };

    it('stop verifying the moment the keyring no longer hands out their key (revoked, dropped)', () => {
      const { keyring, verifyCached, token } = setup();
      keyring.delete(KID);
      expect(verifyCached(token)).toEqual(INVALID);
      keyring.set(KID, ours.publicKey);
      expect(verifyCached(token).valid).toBe(true);
    });

    it('are verified again when another key object stands under their kid', () => {
      const { keyring, verifyCached, token } = setup();
      keyring.set(KID, foreign.publicKey);
      expect(verifyCached(token)).toEqual(INVALID);
      keyring.set(KID, createPublicKey(ours.privateKey));
      expect(verifyCached(token).valid).toBe(true);
    });

    it('still expire on time', () => {
      const { verifyCached, token, advance } = setup();
      advance(599);
      expect(verifyCached(token).valid).toBe(true);
      advance(1);
      expect(verifyCached(token)).toMatchObject({ valid: false, reason: 'expired', claims: { jti: expect.any(String) } });
    });

    it('keep their claims out of reach of callers', () => {
      const { verifyCached, token } = setup();
      const first = verifyCached(token);
      expect(() => Object.assign(first.valid ? first.claims : {}, { sub: 'admin' })).toThrow(TypeError);
      expect(verifyCached(token)).toEqual({ valid: true, claims });
    });
  });
});
