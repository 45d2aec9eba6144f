import type { AddressInfo } from 'node:net';
import Router from '@koa/router';
import Koa from 'koa';
import { healthRoutes } from '../../src/http/routes/health.js';

/**
 * A server with only the health routes and one check, which passes once `finish` is called for its
 * run: the /readyz URL, how many runs began, and `finish` for the latest.
 */
async function serving() {
  const state = { runs: 0, finish: () => undefined as void };
  const check = () => {
    state.runs += 1;
    return new Promise<void>((resolve) => (state.finish = resolve));
  };
  const router = new Router();
  healthRoutes(router, [{ name: 'postgres', check }]);
  const server = new Koa().use(router.routes()).listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/readyz`,
    runs: () => state.runs,
    finish: () => state.finish(),
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

it('runs the readiness checks once for the requests that arrive while they run, and afresh for a request after them', async () => {
  const { url, runs, finish, close } = await serving();
  try {
    const asks = Array.from({ length: 20 }, () => fetch(url));
    while (runs() === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    // Let every request reach the route before the check ends.
    await new Promise((resolve) => setTimeout(resolve, 100));
    finish();
    const answers = await Promise.all(asks.map(async (ask) => [(await ask).status, await (await ask).json()]));
    expect(answers).toEqual(Array(20).fill([200, { status: 'ok', checks: { postgres: 'ok' } }]));
    expect(runs()).toBe(1);

    const after = fetch(url);
    while (runs() === 1) await new Promise((resolve) => setTimeout(resolve, 5));
    finish();
    expect((await after).status).toBe(200);
    expect(runs()).toBe(2);
  } finally {
    await close();
  }
});

it('answers fail for a check that does not end in time, and starts no other run of it while that one has not ended', async () => {
  const { url, runs, finish, close } = await serving();
  const unavailable = [503, { status: 'unavailable', checks: { postgres: 'fail' }, failing: ['postgres'] }];
  const ask = async () => {
    const answer = await fetch(url);
    return [answer.status, await answer.json()];
  };
  try {
    expect(await ask()).toEqual(unavailable);
    expect(await ask()).toEqual(unavailable);
    expect(runs()).toBe(1);
    finish();
    expect(await ask()).toEqual(unavailable);
    expect(runs()).toBe(2);
    finish();
  } finally {
    await close();
  }
});
