import type { Middleware, ParameterizedContext } from 'koa';
import type { Logger } from '../../observability/logger.js';
import type { Metrics } from '../../observability/metrics.js';

/** The route pattern (never the raw path, which may hold anything) for labels and logs. */
const routeOf = (ctx: ParameterizedContext): string =>
  (ctx as ParameterizedContext & { _matchedRoute?: string | RegExp })._matchedRoute?.toString() ?? 'unmatched';

/** One log line and one metrics observation per request, after the response is decided. */
export function observeRequests(logger: Logger, metrics: Metrics): Middleware {
  return async (ctx, next) => {
    const started = process.hrtime.bigint();
    try {
      await next();
    } finally {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const labels = { method: ctx.method, route: routeOf(ctx), status: String(ctx.status) };
      metrics.httpRequests.inc(labels);
      metrics.httpDuration.observe(labels, seconds);
      logger.info(
        {
          reqId: ctx.state.requestId,
          method: ctx.method,
          route: labels.route,
          status: ctx.status,
          ms: Math.round(seconds * 1e4) / 10,
          ...(ctx.state.clientId === undefined ? {} : { client_id: ctx.state.clientId }),
        },
        'request',
      );
    }
  };
}
