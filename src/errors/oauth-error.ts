/**
 * The OAuth error codes authd answers with (RFC 6749 §5.2, RFC 7009, RFC 8707, RFC 6750)
 * and the HTTP status SPEC.md gives each.
 */
const STATUS = {
  invalid_request: 400,
  invalid_client: 401,
  invalid_grant: 400,
  unauthorized_client: 400,
  unsupported_grant_type: 400,
  unsupported_token_type: 400,
  invalid_scope: 400,
  invalid_target: 400,
  too_many_requests: 429,
  temporarily_unavailable: 503,
} as const;

export type OAuthErrorCode = keyof typeof STATUS;

export interface OAuthErrorOptions {
  /** Status override, e.g. 413 for an oversized body that is still `invalid_request`. */
  status?: number;
  /** Seconds for a `Retry-After` header. */
  retryAfter?: number;
  /** Answer 401s with `WWW-Authenticate: Basic` (the client authenticated with HTTP Basic). */
  basicChallenge?: boolean;
  /** Leave `error_description` out of the body. */
  omitDescription?: boolean;
  /** The server-side failure behind a 5xx, logged (redacted) by the error middleware, never shown. */
  cause?: unknown;
}

/**
 * `text` in the characters RFC 6749 §5.2 allows in `error_description` (printable ASCII but `"`
 * and `\`): a double quote becomes a single one, anything else outside them `?`. Descriptions may
 * quote what the client sent (a parameter's name, a scope).
 */
const errorDescription = (text: string): string => text.replace(/"/g, "'").replace(/[^\x20-\x21\x23-\x5b\x5d-\x7e]/g, '?');

/** An error the client is meant to see, rendered by the error middleware as RFC 6749 JSON. */
export class OAuthError extends Error {
  override readonly name = 'OAuthError';
  readonly status: number;
  readonly description: string;

  constructor(
    readonly code: OAuthErrorCode,
    description: string,
    readonly options: OAuthErrorOptions = {},
  ) {
    const described = errorDescription(description);
    super(`${code}: ${described}`, options.cause === undefined ? undefined : { cause: options.cause });
    this.description = described;
    this.status = options.status ?? STATUS[code];
  }
}

export const invalidRequest = (description: string, options?: OAuthErrorOptions) =>
  new OAuthError('invalid_request', description, options);
export const invalidClient = (description: string, options?: OAuthErrorOptions) =>
  new OAuthError('invalid_client', description, options);
export const invalidGrant = (description: string) => new OAuthError('invalid_grant', description);
export const unauthorizedClient = (description: string) => new OAuthError('unauthorized_client', description);
export const unsupportedGrantType = (description: string) => new OAuthError('unsupported_grant_type', description);
export const invalidScope = (description: string) => new OAuthError('invalid_scope', description);
export const invalidTarget = (description: string) => new OAuthError('invalid_target', description);
export const tooManyRequests = (retryAfter: number) =>
  new OAuthError('too_many_requests', 'too many requests', { retryAfter, omitDescription: true });
export const temporarilyUnavailable = (retryAfter: number, description = 'temporarily unavailable', cause?: unknown) =>
  new OAuthError('temporarily_unavailable', description, { retryAfter, omitDescription: true, cause });
