import type { RouterInstance } from '@koa/router';
import { settlesWithin } from '../../settles-within.js';

/** One readiness dependency: resolves when healthy, rejects (or times out) when not. */
export interface ReadinessCheck {
  readonly name: string;
  check(): Promise<void>;
}

const CHECK_TIMEOUT_MS = 1500;

/**
 * `/healthz`: the process answers. `/readyz`: every dependency answers, or 503 naming those that
 * fail. Requests that arrive while the checks run share their run: anyone can ask, and a flood
 * of asks must not take the pool's connections from the token requests.
 */
export function healthRoutes(router: RouterInstance, checks: readonly ReadinessCheck[]): void {
  let running: Promise<(readonly [string, boolean])[]> | undefined;
  const checkAll = () =>
    (running ??= Promise.all(checks.map(async ({ name, check }) => [name, await passes(check)] as const)).finally(() => (running = undefined)));
  router
    .get('/healthz', (ctx) => {
      ctx.set('Cache-Control', 'no-store');
      ctx.body = { status: 'ok' };
    })
    .get('/readyz', async (ctx) => {
      const results = await checkAll();
      const failing = results.filter(([, ok]) => !ok).map(([name]) => name);
      ctx.set('Cache-Control', 'no-store');
      ctx.status = failing.length === 0 ? 200 : 503;
      ctx.body = {
        status: failing.length === 0 ? 'ok' : 'unavailable',
        checks: Object.fromEntries(results.map(([name, ok]) => [name, ok ? 'ok' : 'fail'])),
        ...(failing.length === 0 ? {} : { failing }),
      };
    });
}

/** Whether a check resolves within CHECK_TIMEOUT_MS; one that throws, rejects or times out fails. */
async function passes(check: () => Promise<void>): Promise<boolean> {
  const passing = Promise.resolve().then(check).then(
    () => true,
    () => false,
  );
  return (await settlesWithin(passing, CHECK_TIMEOUT_MS)) && (await passing);
}
