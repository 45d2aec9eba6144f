import type { Context } from 'koa';

/** An AbortSignal that fires when the client disconnects before its response has been sent. */
export function abandonedSignal(ctx: Context): AbortSignal {
  const controller = new AbortController();
  const { res } = ctx;
  if (ctx.req.socket.destroyed) {
    controller.abort();
  } else {
    res.once('close', () => {
      if (!res.writableFinished) controller.abort();
    });
  }
  return controller.signal;
}
