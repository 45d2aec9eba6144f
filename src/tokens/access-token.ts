import { randomFillSync, sign, type KeyObject } from 'node:crypto';

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

/**
 * Signs an ES256 JWT with `typ: at+jwt`. node:crypto signs synchronously in the calling thread,
 * several times faster than a WebCrypto round trip per token (tests check jose verifies them).
 */
export function signAccessToken(key: SigningKey, claims: AccessTokenClaims): string {
  const signingInput = `${encodedHeader(key.kid)}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
  const signature = sign('sha256', Buffer.from(signingInput), { key: key.privateKey, dsaEncoding: 'ieee-p1363' });
  return `${signingInput}.${signature.toString('base64url')}`;
}
