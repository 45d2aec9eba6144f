import { bodyParser } from '@koa/bodyparser';
import type { Middleware } from 'koa';
import { invalidRequest } from '../../errors/oauth-error.js';

export const MAX_BODY_BYTES = 16 * 1024;

const parse = bodyParser({
  enableTypes: ['json', 'form'],
  jsonLimit: MAX_BODY_BYTES,
  formLimit: MAX_BODY_BYTES,
  encoding: 'utf-8',
});

/**
 * Parses form or JSON bodies of at most 16 KiB. Any other content type is `invalid_request`;
 * so is a body that is not a flat object of strings, or a parameter sent twice (RFC 6749 §3.2).
 * The parameters land in `ctx.state.params`.
 */
export function parseOAuthBody(): Middleware {
  return async (ctx, next) => {
    if (!ctx.is('application/x-www-form-urlencoded', 'application/json')) {
      throw invalidRequest('content type must be application/x-www-form-urlencoded or application/json');
    }
    await parse(ctx, async () => {
      ctx.state.params = toParams(ctx.request.body);
      await next();
    });
  };
}

function toParams(body: unknown): Record<string, string> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw invalidRequest('body must be an object');
  const params: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [name, value] of Object.entries(body)) {
    if (Array.isArray(value)) throw invalidRequest(`parameter ${JSON.stringify(name.slice(0, 40))} sent more than once`);
    if (typeof value !== 'string') throw invalidRequest(`parameter ${JSON.stringify(name.slice(0, 40))} must be a string`);
    params[name] = value;
  }
  return params;
}
