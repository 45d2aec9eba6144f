export const GRANT_TYPES = ['password', 'client_credentials', 'refresh_token'] as const;
export type GrantType = (typeof GRANT_TYPES)[number];

export const isGrantType = (value: string): value is GrantType => (GRANT_TYPES as readonly string[]).includes(value);

/** A registered OAuth client. */
export interface Client {
  readonly clientId: string;
  readonly name: string;
  /** SHA-256 (hex) of the generated secret; null for a public client. */
  readonly secretHash: string | null;
  readonly grantTypes: readonly GrantType[];
  readonly scopes: readonly string[];
  /** Audiences the client may ask tokens for; the first is the default. */
  readonly audiences: readonly string[];
  /** Access-token lifetime override in seconds, or null for ACCESS_TOKEN_TTL. */
  readonly accessTokenTtl: number | null;
  readonly createdAt: Date;
}

export const isConfidential = (client: Client): boolean => client.secretHash !== null;

/** Client ids: printable, no spaces or colons (a colon would break HTTP Basic), at most 128 characters. */
export const CLIENT_ID_PATTERN = /^[A-Za-z0-9._~-]{1,128}$/;

/**
 * An audience a client can be given: not empty, without whitespace or control characters. A
 * requested audience that is not one is refused before anything looks it up (Postgres refuses a
 * NUL byte outright): no client can have it.
 */
export const isAudience = (value: string): boolean => value !== '' && !/[\s\p{Cc}]/u.test(value);
