import type { RouterInstance } from '@koa/router';

/** One readiness dependency: resolves when healthy, rejects (or times out) when not. */
export interface ReadinessCheck {
  readonly name: string;
  check(): Promise<void>;
}

const CHECK_TIMEOUT_MS = 1500;

/** `/healthz`: the process answers. `/readyz`: every dependency answers, or 503 naming those that fail. */
export function healthRoutes(router: RouterInstance, checks: readonly ReadinessCheck[]): void {
  router
    .get('/healthz', (ctx) => {
      ctx.set('Cache-Control', 'no-store');
      ctx.body = { status: 'ok' };
    })
    .get('/readyz', async (ctx) => {
      const results = await Promise.all(checks.map(async ({ name, check }) => [name, await passes(check)] as const));
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

async function passes(check: () => Promise<void>): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('timed out')), CHECK_TIMEOUT_MS);
  });
  try {
    await Promise.race([check(), timeout]);
    return true;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}
