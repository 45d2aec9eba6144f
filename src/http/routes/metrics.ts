import type { RouterInstance } from '@koa/router';
import type { Registry } from 'prom-client';

/** Prometheus text exposition of the app's registry. */
export function metricsRoutes(router: RouterInstance, registry: Registry): void {
  router.get('/metrics', async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.type = registry.contentType;
    ctx.body = await registry.metrics();
  });
}
