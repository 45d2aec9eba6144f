import type { KeyObject } from 'node:crypto';
import { jwtVerify, errors, type JWTPayload, type JWTHeaderParameters } from 'jose';
import { epochSeconds, type Clock } from '../clock.js';

/** Public keys by kid: only keys that may still verify (next, active, retired) are found. */
export interface VerificationKeys {
  verificationKey(kid: string): KeyObject | undefined;
}

export type VerifiedAccessToken = JWTPayload & { jti: string; exp: number; client_id: string; sub: string };

export type VerifyResult =
  | { readonly valid: true; readonly claims: VerifiedAccessToken }
  | { readonly valid: false; readonly expired: boolean };

const MAX_TOKEN_LENGTH = 8192;

/**
 * Verifies one of authd's own access tokens: ES256 only, `typ: at+jwt`, our issuer, a kid of
 * our keyring, no clock tolerance. Never throws for a bad token; says whether it had merely expired.
 */
export function createAccessTokenVerifier({ issuer, keys, clock }: { issuer: string; keys: VerificationKeys; clock: Clock }) {
  const keyFor = (header: JWTHeaderParameters): KeyObject => {
    const key = typeof header.kid === 'string' ? keys.verificationKey(header.kid) : undefined;
    if (key === undefined) throw new errors.JWKSNoMatchingKey();
    return key;
  };
  return async function verify(token: string): Promise<VerifyResult> {
    if (token.length > MAX_TOKEN_LENGTH) return { valid: false, expired: false };
    try {
      const { payload } = await jwtVerify(token, keyFor, {
        issuer,
        algorithms: ['ES256'],
        typ: 'at+jwt',
        clockTolerance: 0,
        currentDate: new Date(epochSeconds(clock) * 1000),
        requiredClaims: ['jti', 'exp', 'iat', 'sub', 'client_id'],
      });
      if (typeof payload['client_id'] !== 'string' || typeof payload.jti !== 'string') return { valid: false, expired: false };
      return { valid: true, claims: payload as VerifiedAccessToken };
    } catch (error) {
      return { valid: false, expired: error instanceof errors.JWTExpired };
    }
  };
}

export type AccessTokenVerifier = ReturnType<typeof createAccessTokenVerifier>;
