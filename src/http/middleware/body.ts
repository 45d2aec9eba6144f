import type { Middleware } from 'koa';
import getRawBody from 'raw-body';
import { invalidRequest } from '../../errors/oauth-error.js';
import { PARAMETERS_THAT_MAY_REPEAT, requestParams, type RequestParams } from '../../domain/request-params.js';
import { isRepeatedHeader } from '../repeated-header.js';

export const MAX_BODY_BYTES = 16 * 1024;

const FORM = 'application/x-www-form-urlencoded';
const JSON_TYPE = 'application/json';

/** The media type of the request without parameters, lower-cased. */
const mediaTypeOf = (contentType: string): string => {
  const end = contentType.indexOf(';');
  return (end === -1 ? contentType : contentType.slice(0, end)).trim().toLowerCase();
};

/** Decodes the body's bytes, refusing any that are not UTF-8 rather than replacing them. */
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A run of percent-escapes in a form body: together they must spell UTF-8, as each value's bytes. */
const ESCAPE_RUN = /(?:%[0-9A-Fa-f]{2})+/g;

/**
 * Whether every percent-escaped run of a form body decodes as UTF-8. URLSearchParams turns a byte
 * that is not (`%E4`, Latin-1's ä) into U+FFFD without a word, so that different wrong bytes
 * reach a password check as the same string.
 */
function escapesAreUtf8(text: string): boolean {
  // Most token requests have no escape at all: a search for '%' is far cheaper than the pattern's.
  if (!text.includes('%')) return true;
  for (const [run] of text.matchAll(ESCAPE_RUN)) {
    try {
      decodeURIComponent(run);
    } catch {
      return false;
    }
  }
  return true;
}

/**
 * Parses form or JSON bodies of at most 16 KiB into `ctx.state.params` (RequestParams). Any other
 * content type is `invalid_request`, and so are a Content-Type sent twice, bytes (or, in a form,
 * percent-escapes, or in JSON, escaped lone surrogates) that are not UTF-8, a compressed body (a
 * Content-Encoding other than identity) and a body that is not an object (RFC 6749 §3.1–3.2). A
 * `charset` parameter is not read: an ASCII body means the same in UTF-8 whatever it is labelled
 * (Apache HttpClient labels its forms ISO-8859-1), and one that is not ASCII must be UTF-8:
 * - a parameter sent without a value (empty, or JSON `null`) is left out, as if omitted;
 * - a parameter sent twice is `invalid_request`, even when one of the two is empty: in a form, and
 *   in JSON a name given twice (which JSON.parse would let the last one win) or an array value;
 *   but for PARAMETERS_THAT_MAY_REPEAT (RFC 8707's `resource`), which the reader judges, given
 *   twice in a form or as an array of strings in JSON;
 * - in JSON, a value that is not a string is `invalid_request` when the parameter is read
 *   (RequestParams.get); a parameter authd does not read is ignored whatever it holds.
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
    if (isRepeatedHeader(ctx.req, 'content-type')) throw invalidRequest('Content-Type sent more than once');
    // A compressed body read as it came would be parsed as form or JSON, and refused as garbled.
    const encoding = ctx.get('content-encoding').trim().toLowerCase();
    if (encoding !== '' && encoding !== 'identity') throw invalidRequest('content encoding is not supported; send the body uncompressed');
    const length = ctx.get('content-length');
    const bytes = await getRawBody(ctx.req, { limit: MAX_BODY_BYTES, ...(length === '' ? {} : { length }) });
    let text: string;
    try {
      text = utf8.decode(bytes);
    } catch {
      throw invalidRequest('the body must be UTF-8');
    }
    if (type === FORM && !escapesAreUtf8(text)) throw invalidRequest('the body must be UTF-8');
    ctx.state.params = type === FORM ? formParams(text) : jsonParams(text);
    await next();
  };
}

function formParams(text: string): RequestParams {
  const values = new Map<string, string>();
  const seen = new Set<string>();
  const repeated = new Set<string>();
  for (const [name, value] of new URLSearchParams(text)) {
    if (seen.has(name)) {
      if (!PARAMETERS_THAT_MAY_REPEAT.has(name)) throw sentTwice(name);
      repeated.add(name);
      continue;
    }
    seen.add(name);
    if (value !== '') values.set(name, value);
  }
  return requestParams(values, new Map(), repeated);
}

function jsonParams(text: string): RequestParams {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw invalidRequest('malformed request body');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw invalidRequest('body must be an object');
  const nameGivenTwice = repeatedName(text);
  if (nameGivenTwice !== undefined) throw sentTwice(nameGivenTwice);
  const values = new Map<string, string>();
  const malformed = new Map<string, string>();
  const repeated = new Set<string>();
  for (const [name, value] of Object.entries(body)) {
    if (!isWellFormed(name) || (typeof value === 'string' && !isWellFormed(value)) || (isListOfStrings(value) && !value.every(isWellFormed))) {
      throw invalidRequest('the body must be UTF-8');
    }
    if (typeof value === 'string') {
      if (value !== '') values.set(name, value);
    } else if (PARAMETERS_THAT_MAY_REPEAT.has(name) && isListOfStrings(value)) {
      // A JSON body's way of sending the parameter more than once.
      const [first] = value;
      if (first !== undefined && first !== '') values.set(name, first);
      if (value.length > 1) repeated.add(name);
    } else if (value !== null) {
      malformed.set(name, Array.isArray(value) ? 'sent more than once' : 'must be a string');
    }
  }
  return requestParams(values, malformed, repeated);
}

const isListOfStrings = (value: unknown): value is string[] => Array.isArray(value) && value.every((item) => typeof item === 'string');

/** A surrogate without its pair: what a JSON escape such as `\ud800` makes, and no UTF-8 can hold. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** String.prototype.isWellFormed (ES2024, past this project's ES2023 lib). */
const isWellFormed = (text: string): boolean => !LONE_SURROGATE.test(text);

const JSON_WHITESPACE = new Set([' ', '\t', '\n', '\r']);

/**
 * The first name that the object in `text` gives twice at its top level, which JSON.parse would
 * have let the last one win. `text` has been parsed already, so it is valid JSON: a scan of its
 * strings and brackets finds the names, each decoded by JSON.parse (`"\u0073cope"` is `scope`).
 */
function repeatedName(text: string): string | undefined {
  const names = new Set<string>();
  let depth = 0;
  for (let at = 0; at < text.length; at += 1) {
    const char = text[at];
    if (char === '{' || char === '[') depth += 1;
    else if (char === '}' || char === ']') depth -= 1;
    else if (char === '"') {
      const start = at;
      for (at += 1; text[at] !== '"'; at += 1) if (text[at] === '\\') at += 1;
      if (depth !== 1) continue;
      let next = at + 1;
      while (JSON_WHITESPACE.has(text[next]!)) next += 1;
      if (text[next] !== ':') continue;
      const name = JSON.parse(text.slice(start, at + 1)) as string;
      if (names.has(name)) return name;
      names.add(name);
    }
  }
  return undefined;
}

const sentTwice = (name: string) => invalidRequest(`parameter ${JSON.stringify(name.slice(0, 40))} sent more than once`);
