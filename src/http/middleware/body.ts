import type { Middleware } from 'koa';
import getRawBody from 'raw-body';
import { invalidRequest } from '../../errors/oauth-error.js';

export const MAX_BODY_BYTES = 16 * 1024;

const FORM = 'application/x-www-form-urlencoded';
const JSON_TYPE = 'application/json';

/** The body parameters some endpoint of authd reads (token, refresh, revocation, introspection). */
const READ_PARAMETERS = new Set([
  'grant_type',
  'username',
  'password',
  'scope',
  'audience',
  'refresh_token',
  'client_id',
  'client_secret',
  'token',
  'token_type_hint',
]);

/** The media type of the request without parameters, lower-cased. */
const mediaTypeOf = (contentType: string): string => {
  const end = contentType.indexOf(';');
  return (end === -1 ? contentType : contentType.slice(0, end)).trim().toLowerCase();
};

/**
 * Parses form or JSON bodies of at most 16 KiB into `ctx.state.params`; any other content type is
 * `invalid_request`, and so is a body that is not a flat object (RFC 6749 §3.1–3.2):
 * - a parameter sent without a value (empty, or JSON `null`) is left out, as if omitted;
 * - a parameter sent twice is `invalid_request`, even when one of the two is empty (in a form;
 *   JSON.parse keeps a repeated key's last value, so in JSON only an array value counts as a repeat);
 * - a parameter authd reads must be a string; another parameter with a value of any kind is ignored.
 *
 * raw-body reads the bytes (limit, Content-Length mismatch and aborts become 413/400 errors the
 * error middleware maps); forms are split by the platform's URLSearchParams. This replaced
 * @koa/bodyparser, whose qs parsing and repeated type checks cost ~20 µs per token request for
 * nested-object features OAuth parameters must not have.
 */
export function parseOAuthBody(): Middleware {
  return async (ctx, next) => {
    const type = mediaTypeOf(ctx.get('content-type'));
    if (type !== FORM && type !== JSON_TYPE) {
      throw invalidRequest('content type must be application/x-www-form-urlencoded or application/json');
    }
    const length = ctx.get('content-length');
    const text = await getRawBody(ctx.req, { limit: MAX_BODY_BYTES, encoding: 'utf-8', ...(length === '' ? {} : { length }) });
    ctx.state.params = type === FORM ? formParams(text) : jsonParams(text);
    await next();
  };
}

function formParams(text: string): Record<string, string> {
  const params: Record<string, string> = Object.create(null) as Record<string, string>;
  const seen = new Set<string>();
  for (const [name, value] of new URLSearchParams(text)) {
    if (seen.has(name)) throw sentTwice(name);
    seen.add(name);
    if (value !== '') params[name] = value;
  }
  return params;
}

function jsonParams(text: string): Record<string, string> {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw invalidRequest('malformed request body');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw invalidRequest('body must be an object');
  const params: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [name, value] of Object.entries(body)) {
    if (typeof value === 'string') {
      if (value !== '') params[name] = value;
    } else if (value !== null && READ_PARAMETERS.has(name)) {
      throw Array.isArray(value) ? sentTwice(name) : invalidRequest(`parameter "${name}" must be a string`);
    }
  }
  return params;
}

const sentTwice = (name: string) => invalidRequest(`parameter ${JSON.stringify(name.slice(0, 40))} sent more than once`);
