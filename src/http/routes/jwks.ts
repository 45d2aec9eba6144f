import type { RouterInstance } from '@koa/router';

/** The published key set, serialised once by the keyring. */
export interface JwksSource {
  /** The same object until the keyring changes or reloads the key set (answers are cached per object). */
  jwks(): { readonly body: string; readonly etag: string };
}

/** Resource servers may cache the key set this long; key rotation publishes at least this far ahead. */
export const JWKS_MAX_AGE_SECONDS = 300;

/** Where the key set is published (RFC 8414 `jwks_uri`). */
export const JWKS_PATH = '/.well-known/jwks.json';

/** The whole answer to a GET of the key set: what koa's route and the listener in front of koa both send. */
export interface JwksAnswer {
  readonly status: 200 | 304;
  readonly headers: Readonly<Record<string, string>>;
  /** Absent on 304. */
  readonly body?: string;
}

/** Both answers for one published key set, made once per key set rather than once per request. */
interface JwksAnswers {
  readonly fresh: JwksAnswer;
  readonly notModified: JwksAnswer;
}

const answersByKeySet = new WeakMap<object, JwksAnswers>();

function answersFor(published: ReturnType<JwksSource['jwks']>): JwksAnswers {
  let answers = answersByKeySet.get(published);
  if (answers === undefined) {
    const caching = { 'Cache-Control': `public, max-age=${JWKS_MAX_AGE_SECONDS}`, ETag: published.etag };
    answers = {
      fresh: Object.freeze({ status: 200, headers: Object.freeze({ ...caching, 'Content-Type': 'application/json; charset=utf-8' }), body: published.body }),
      notModified: Object.freeze({ status: 304, headers: Object.freeze(caching) }),
    };
    answersByKeySet.set(published, answers);
  }
  return answers;
}

/** 304 when `ifNoneMatch` (the header's value, or '') names the current key set, else the key set. */
export function answerJwks(keys: JwksSource, ifNoneMatch: string): JwksAnswer {
  const published = keys.jwks();
  const { fresh, notModified } = answersFor(published);
  return matchesIfNoneMatch(ifNoneMatch, published.etag) ? notModified : fresh;
}

export function jwksRoutes(router: RouterInstance, keys: JwksSource): void {
  router.get(JWKS_PATH, (ctx) => {
    const { status, headers, body } = answerJwks(keys, ctx.get('if-none-match'));
    ctx.set(headers);
    ctx.status = status;
    if (body !== undefined) ctx.body = body;
  });
}

/**
 * RFC 9110 §13.1.2 with weak comparison. Not koa's `ctx.fresh`: that also honours a request's
 * `Cache-Control: no-cache`, which fetch() adds to every conditional request it sends by hand.
 */
function matchesIfNoneMatch(header: string, etag: string): boolean {
  if (header === '') return false;
  if (header.trim() === '*') return true;
  const opaque = (tag: string) => tag.trim().replace(/^W\//, '');
  return header.split(',').some((candidate) => opaque(candidate) === opaque(etag));
}
