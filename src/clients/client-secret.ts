import { hash, randomBytes, timingSafeEqual } from 'node:crypto';

/** 256 random bits, base64url (43 characters). Shown once; only its SHA-256 is stored. */
export const generateClientSecret = (): string => randomBytes(32).toString('base64url');

/** SHA-256 hex. A machine-generated secret has full entropy, so a fast hash is enough. */
export const hashClientSecret = (secret: string): string => hash('sha256', secret);

/** Constant-time comparison of a presented secret with a stored hash (both sides are 32-byte digests). */
export function clientSecretMatches(presented: string, storedHash: string): boolean {
  const expected = Buffer.from(storedHash, 'hex');
  const actual = hash('sha256', presented, 'buffer');
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}
