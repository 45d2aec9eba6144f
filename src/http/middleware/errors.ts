import type { Middleware } from 'koa';
import { OAuthError, temporarilyUnavailable } from '../../errors/oauth-error.js';
import { describeError, type Logger } from '../../observability/logger.js';
import { isDatabaseUnavailable } from '../../stores/database-unavailable.js';

/** What body parsing and koa throw: http-errors with a status and `expose`. */
interface HttpError {
  status: number;
  expose?: boolean;
}

const isHttpError = (error: unknown): error is HttpError =>
  typeof error === 'object' && error !== null && typeof (error as HttpError).status === 'number';

/** Seconds a client is asked to wait while Postgres cannot be reached. */
const DATABASE_RETRY_AFTER = 5;

/** What the router answers without a body (no such route, a method the route lacks), in words. */
const UNROUTED: Readonly<Record<number, string>> = { 404: 'no such endpoint', 405: 'method not allowed', 501: 'method not implemented' };

/**
 * The one place errors become responses, every one RFC 6749 §5.2 JSON with `no-store`: OAuthError
 * as it says; client errors from body parsing as `invalid_request` (413 kept for oversized bodies);
 * Postgres out of reach as 503 `temporarily_unavailable` with Retry-After and a warning (so is an
 * OAuthError with a `cause`: the failure behind it is logged, never shown); the
 * router's 404, 405 and 501 as `invalid_request`; anything else as a generic 500 `server_error`
 * and a log line without secrets.
 */
export function handleErrors(logger: Logger): Middleware {
  const noStore = (ctx: Parameters<Middleware>[0]) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.set('Pragma', 'no-cache');
  };
  return async (ctx, next) => {
    try {
      await next();
      const { status } = ctx;
      const unrouted = ctx.body === undefined || ctx.body === null ? UNROUTED[status] : undefined;
      if (unrouted !== undefined) {
        ctx.body = { error: 'invalid_request', error_description: unrouted };
        ctx.status = status; // koa's default 404 is not explicit: a body alone would make it 200
        noStore(ctx); // 404 and 405 are cacheable by default (RFC 9110 §15.1)
      }
    } catch (error) {
      let oauthError = asOAuthError(error);
      if (oauthError === undefined && isDatabaseUnavailable(error)) {
        logger.warn({ reqId: ctx.state.requestId, err: describeError(error) }, 'database unavailable');
        oauthError = temporarilyUnavailable(DATABASE_RETRY_AFTER);
      }
      if (oauthError === undefined) {
        logger.error({ reqId: ctx.state.requestId, err: describeError(error) }, 'unexpected error');
        ctx.status = 500;
        ctx.body = { error: 'server_error', error_description: 'unexpected error' };
        noStore(ctx);
        return;
      }
      const { options } = oauthError;
      if (options.cause !== undefined) logger.warn({ reqId: ctx.state.requestId, err: describeError(options.cause) }, oauthError.description);
      ctx.status = oauthError.status;
      ctx.body = options.omitDescription
        ? { error: oauthError.code }
        : { error: oauthError.code, error_description: oauthError.description };
      if (options.retryAfter !== undefined) ctx.set('Retry-After', String(Math.max(1, Math.ceil(options.retryAfter))));
      if (options.basicChallenge && oauthError.status === 401) ctx.set('WWW-Authenticate', 'Basic realm="authd", charset="UTF-8"');
      noStore(ctx);
    }
  };
}

function asOAuthError(error: unknown): OAuthError | undefined {
  if (error instanceof OAuthError) return error;
  if (!isHttpError(error) || error.status >= 500 || error.expose === false) return undefined;
  if (error.status === 413) return new OAuthError('invalid_request', 'request body too large', { status: 413, omitDescription: true });
  return new OAuthError('invalid_request', error.status === 415 ? 'unsupported content type' : 'malformed request body');
}
