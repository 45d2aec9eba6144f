import { createHash } from 'node:crypto';
import { clientSecretMatches, hashClientSecret } from '../../src/clients/client-secret.js';
import { hashRefreshToken, newRefreshToken } from '../../src/tokens/refresh-token.js';

/** How client secrets and refresh tokens have always been stored: SHA-256 of the UTF-8 string, lowercase hex. */
const storedForm = (value: string) => createHash('sha256').update(value, 'utf8').digest('hex');

describe('stored hashes', () => {
  it('keep the form rows already hold, so existing secrets and refresh tokens still match', () => {
    expect(hashClientSecret('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    for (const value of ['', 'é-ß-😀', newRefreshToken()]) {
      expect(hashClientSecret(value)).toBe(storedForm(value));
      expect(hashRefreshToken(value)).toBe(storedForm(value));
    }
  });

  it('match a secret against its stored hash and nothing else, without throwing on a malformed one', () => {
    const stored = storedForm('s3cret');
    expect(clientSecretMatches('s3cret', stored)).toBe(true);
    expect(clientSecretMatches('s3cres', stored)).toBe(false);
    expect(clientSecretMatches('', stored)).toBe(false);
    expect(clientSecretMatches('s3cret', stored.slice(0, 62))).toBe(false);
    expect(clientSecretMatches('s3cret', 'not hex')).toBe(false);
  });
});
