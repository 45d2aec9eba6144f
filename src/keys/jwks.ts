import { createHash, type KeyObject } from 'node:crypto';

/** The serialised key set as served, with a strong ETag derived from its exact bytes. */
export interface PublishedKeySet {
  readonly body: string;
  readonly etag: string;
}

export interface PublicSigningKey {
  readonly kid: string;
  readonly publicKey: KeyObject;
}

/** The RFC 7517 members of one published key, in this order; never `d`. */
function publicJwk({ kid, publicKey }: PublicSigningKey) {
  const { x, y } = publicKey.export({ format: 'jwk' });
  return { kty: 'EC', crv: 'P-256', x, y, kid, alg: 'ES256', use: 'sig' };
}

/**
 * `{"keys":[…]}` for the given keys, in the given order.
 *
 * @example
 * const { body, etag } = publishKeySet([{ kid, publicKey }]);
 */
export function publishKeySet(keys: readonly PublicSigningKey[]): PublishedKeySet {
  const body = JSON.stringify({ keys: keys.map(publicJwk) });
  return { body, etag: `"${createHash('sha256').update(body).digest('base64url')}"` };
}
