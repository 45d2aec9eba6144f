import type { Middleware, ParameterizedContext } from 'koa';
import type { Logger } from '../../observability/logger.js';
import type { Metrics } from '../../observability/metrics.js';

/** One answered request, as its log line and metrics tell it. */
export interface AnsweredRequest {
  readonly requestId: string;
  readonly method: string;
  /** The route pattern, never the raw path (which may hold anything). */
  readonly route: string;
  readonly status: number;
  readonly startedAt: bigint;
  readonly clientId?: string;
}

/** One log line and one metrics observation for a request whose response is decided. */
export function recordRequest(logger: Logger, metrics: Metrics, { requestId, method, route, status, startedAt, clientId }: AnsweredRequest): void {
  const seconds = Number(process.hrtime.bigint() - startedAt) / 1e9;
  const labels = { method, route, status: String(status) };
  metrics.httpRequests.inc(labels);
  metrics.httpDuration.observe(labels, seconds);
  logger.info(
    {
      reqId: requestId,
      method,
      route,
      status,
      ms: Math.round(seconds * 1e4) / 10,
      ...(clientId === undefined ? {} : { client_id: clientId }),
    },
    'request',
  );
}

const routeOf = (ctx: ParameterizedContext): string =>
  (ctx as ParameterizedContext & { _matchedRoute?: string | RegExp })._matchedRoute?.toString() ?? 'unmatched';

/** Records every request koa answers, after the response is decided. */
export function observeRequests(logger: Logger, metrics: Metrics): Middleware {
  return async (ctx, next) => {
    const startedAt = process.hrtime.bigint();
    try {
      await next();
    } finally {
      recordRequest(logger, metrics, {
        requestId: ctx.state.requestId as string,
        method: ctx.method,
        route: routeOf(ctx),
        status: ctx.status,
        startedAt,
        clientId: ctx.state.clientId as string | undefined,
      });
    }
  };
}
