import { randomUUID } from 'node:crypto';
import type { Middleware } from 'koa';

const ACCEPTABLE_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** A sane incoming `X-Request-Id`, or a new one. */
export function requestIdFor(incoming: string | string[] | undefined): string {
  return typeof incoming === 'string' && ACCEPTABLE_ID.test(incoming) ? incoming : randomUUID();
}

/** Takes a sane incoming `X-Request-Id` or makes one, and echoes it on the response. */
export function requestId(): Middleware {
  return async (ctx, next) => {
    const id = requestIdFor(ctx.get('x-request-id'));
    ctx.state.requestId = id;
    ctx.set('X-Request-Id', id);
    await next();
  };
}
