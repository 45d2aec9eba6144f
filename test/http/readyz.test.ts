import { closedPort } from '../support/net.js';
import { startTestServer, type TestServer } from '../support/server.js';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({ env: { REDIS_URL: `redis://127.0.0.1:${await closedPort()}` } });
});
afterAll(() => server.stop());

it('readyz is 503 naming redis when Redis is unreachable, and healthz stays 200', async () => {
  const ready = await fetch(`${server.baseUrl}/readyz`);
  expect(ready.status).toBe(503);
  expect(await ready.json()).toEqual({
    status: 'unavailable',
    checks: { postgres: 'ok', redis: 'fail', keys: 'ok' },
    failing: ['redis'],
  });
  expect((await fetch(`${server.baseUrl}/healthz`)).status).toBe(200);
});
