import Router from '@koa/router';
import type { Registry } from 'prom-client';

/** Prometheus text exposition of the app's registry. */
export function metricsRoutes(registry: Registry): Router {
  return new Router().get('/metrics', async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.type = registry.contentType;
    ctx.body = await registry.metrics();
  });
}
