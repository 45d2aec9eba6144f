import { verify as verifySignature, type KeyObject } from 'node:crypto';
import { epochSeconds, type Clock } from '../clock.js';
import { createGenerationalMap } from '../generational-map.js';

/** Public keys by kid: only keys that may still verify (next, active, retired) are found. */
export interface VerificationKeys {
  verificationKey(kid: string): KeyObject | undefined;
}

export interface VerifiedAccessToken {
  readonly iss: string;
  readonly sub: string;
  readonly jti: string;
  readonly exp: number;
  readonly iat: number;
  readonly client_id: string;
  readonly [claim: string]: unknown;
}

export type VerifyResult =
  | { readonly valid: true; readonly claims: VerifiedAccessToken }
  | { readonly valid: false; readonly reason: 'invalid' }
  /**
   * Ours in every way but that its `exp` has passed, or its `nbf` is still ahead, by this clock
   * (another instance's, or a resource server's, may be behind or ahead of it).
   */
  | { readonly valid: false; readonly reason: 'expired' | 'not yet valid'; readonly claims: VerifiedAccessToken };

const MAX_TOKEN_LENGTH = 8192;
const BASE64URL = /^[A-Za-z0-9_-]+$/;
/** An ES256 signature in JWS form: r and s, 32 bytes each (RFC 7518 §3.4). */
const ES256_SIGNATURE_BYTES = 64;
const ACCESS_TOKEN_TYPES = new Set(['at+jwt', 'application/at+jwt']);

/** Tokens verified lately; a resource server introspects the same token on every call it serves. */
export const VERIFIED_CACHE_ENTRIES = 10_000;

const INVALID: VerifyResult = { valid: false, reason: 'invalid' };

/** A base64url JSON object, or undefined for anything else. */
function decodeObject(segment: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

const isString = (value: unknown): value is string => typeof value === 'string';
const isNumericDate = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);

/** exp and nbf against the clock: checked on every use, cached or not. */
function checkLifetime(claims: VerifiedAccessToken, now: number): VerifyResult {
  const nbf = claims['nbf'];
  if (claims.exp <= now) return { valid: false, reason: 'expired', claims };
  if (typeof nbf === 'number' && nbf > now) return { valid: false, reason: 'not yet valid', claims };
  return { valid: true, claims };
}

interface Verified {
  readonly claims: VerifiedAccessToken;
  readonly kid: string;
  readonly key: KeyObject;
}

/**
 * Verifies one of authd's own access tokens (RFC 9068, RFC 8725): compact JWS of exactly three
 * base64url segments; header `alg` exactly ES256 (no `none`, no HMAC, nothing the header could
 * choose), `typ` at+jwt, no `crit`, and a `kid` naming a key of our keyring that may still verify;
 * the signature checked with that key before any claim is read; then our issuer, the required
 * claims, `exp` and `nbf` with no clock tolerance. Never throws; says whether a token that is
 * not valid is one of ours that has expired, or whose `nbf` is still ahead, with its claims.
 *
 * node:crypto verifies synchronously in the calling thread: jose's `jwtVerify` goes through
 * WebCrypto and cost about twice as much CPU per token for the same checks. A token string that
 * verified before is not verified again while the keyring still hands out the very key object
 * that verified it (a revoked or dropped key ends that at once); its lifetime is checked on every
 * use. The cache keeps at most VERIFIED_CACHE_ENTRIES valid tokens, the oldest half going first.
 */
export function createAccessTokenVerifier({ issuer, keys, clock }: { issuer: string; keys: VerificationKeys; clock: Clock }) {
  const verified = createGenerationalMap<string, Verified>(VERIFIED_CACHE_ENTRIES);

  const verifyUncached = (token: string): Verified | undefined => {
    const segments = token.split('.');
    if (segments.length !== 3) return undefined;
    const [encodedHeader, encodedPayload, encodedSignature] = segments as [string, string, string];
    if (!BASE64URL.test(encodedHeader) || !BASE64URL.test(encodedPayload) || !BASE64URL.test(encodedSignature)) return undefined;

    const header = decodeObject(encodedHeader);
    if (header === undefined || header['alg'] !== 'ES256' || header['crit'] !== undefined) return undefined;
    if (!isString(header['typ']) || !ACCESS_TOKEN_TYPES.has(header['typ'].toLowerCase())) return undefined;
    const kid = header['kid'];
    if (!isString(kid)) return undefined;
    const key = keys.verificationKey(kid);
    if (key === undefined) return undefined;

    const signature = Buffer.from(encodedSignature, 'base64url');
    // Canonical encoding only: no second spelling of the same signature (spare bits, padding).
    if (signature.length !== ES256_SIGNATURE_BYTES || signature.toString('base64url') !== encodedSignature) return undefined;
    const signingInput = Buffer.from(`${encodedHeader}.${encodedPayload}`);
    if (!verifySignature('sha256', signingInput, { key, dsaEncoding: 'ieee-p1363' }, signature)) return undefined;

    const claims = decodeObject(encodedPayload);
    if (claims === undefined || claims['iss'] !== issuer) return undefined;
    const { sub, jti, client_id: clientId, exp, iat, nbf } = claims;
    if (!isString(sub) || !isString(jti) || !isString(clientId) || !isNumericDate(exp) || !isNumericDate(iat)) return undefined;
    if (nbf !== undefined && !isNumericDate(nbf)) return undefined;
    return { claims: Object.freeze(claims) as VerifiedAccessToken, kid, key };
  };

  return function verify(token: string): VerifyResult {
    if (token.length > MAX_TOKEN_LENGTH) return INVALID;
    const now = epochSeconds(clock);
    const cached = verified.get(token);
    if (cached !== undefined) {
      if (keys.verificationKey(cached.kid) === cached.key) {
        const result = checkLifetime(cached.claims, now);
        if (!result.valid) verified.delete(token);
        return result;
      }
      verified.delete(token);
    }
    const entry = verifyUncached(token);
    if (entry === undefined) return INVALID;
    const result = checkLifetime(entry.claims, now);
    if (result.valid) verified.set(token, entry);
    return result;
  };
}

export type AccessTokenVerifier = ReturnType<typeof createAccessTokenVerifier>;
