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
 * fail. A check never runs beside itself: an ask that comes while it runs shares that run, and
 * once CHECK_TIMEOUT_MS have passed answers `fail` without starting another; the next run starts
 * after that one has ended. Anyone can ask, and a flood of asks must not take the pool's
 * connections from the token requests (a query to a Postgres that does not answer holds its
 * connection until the statement's timeout).
 */
export function healthRoutes(router: RouterInstance, checks: readonly ReadinessCheck[]): void {
  const running = new Map<ReadinessCheck, Promise<boolean>>();
  const passing = (readiness: ReadinessCheck): Promise<boolean> => {
    let run = running.get(readiness);
    if (run === undefined) {
      run = Promise.resolve()
        .then(() => readiness.check())
        .then(
          () => true,
          () => false,
        )
        .finally(() => running.delete(readiness));
      running.set(readiness, run);
    }
    return run;
  };
  const checkAll = () => Promise.all(checks.map(async (check) => [check.name, await passesInTime(passing(check))] as const));
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

/** Whether a check's run passes within CHECK_TIMEOUT_MS; one that throws, rejects or times out fails. */
async function passesInTime(run: Promise<boolean>): Promise<boolean> {
  return (await settlesWithin(run, CHECK_TIMEOUT_MS)) && (await run);
}
