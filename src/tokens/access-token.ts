import { randomFillSync, type KeyObject } from 'node:crypto';
import { es256Signature } from './signature-batch.js';

/** The key that signs now, as the keyring hands it out. */
export interface SigningKey {
  readonly kid: string;
  readonly privateKey: KeyObject;
}

/** RFC 9068 access-token claims as authd issues them. */
export interface AccessTokenClaims {
  readonly iss: string;
  readonly sub: string;
  readonly aud: string;
  readonly exp: number;
  readonly iat: number;
  readonly nbf: number;
  readonly jti: string;
  readonly client_id: string;
  readonly scope?: string;
  readonly roles?: readonly string[];
}

const JTI_BYTES = 16;
/** Random bytes drawn from the CSPRNG 256 jtis at a time: one call per token cost several µs. */
const entropy = Buffer.alloc(JTI_BYTES * 256);
let entropyOffset = entropy.length;

/** 128 random bits, base64url: the token's unique id and its denylist key. Each byte is used once. */
export function newJti(): string {
  if (entropyOffset === entropy.length) {
    randomFillSync(entropy);
    entropyOffset = 0;
  }
  const jti = entropy.toString('base64url', entropyOffset, entropyOffset + JTI_BYTES);
  entropyOffset += JTI_BYTES;
  return jti;
}

const encodedHeaders = new Map<string, string>();

const encodedHeader = (kid: string): string => {
  let header = encodedHeaders.get(kid);
  if (header === undefined) {
    header = Buffer.from(JSON.stringify({ alg: 'ES256', typ: 'at+jwt', kid })).toString('base64url');
    encodedHeaders.set(kid, header);
  }
  return header;
};

/** The JWS signing input of an access token: base64url header (`alg: ES256`, `typ: at+jwt`, kid) and claims. */
export const accessTokenSigningInput = (kid: string, claims: AccessTokenClaims): string =>
  `${encodedHeader(kid)}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;

/** The compact JWS from a signing input and its ES256 signature. */
export const compactJws = (signingInput: string, signature: Buffer): string => `${signingInput}.${signature.toString('base64url')}`;

/**
 * Signs an access token at once, in the calling thread. The server signs through a
 * `batchedSigner`; the verifier's tests sign their tokens here.
 */
export function signAccessToken(key: SigningKey, claims: AccessTokenClaims): string {
  const signingInput = accessTokenSigningInput(key.kid, claims);
  return compactJws(signingInput, es256Signature(key.privateKey, signingInput));
}
