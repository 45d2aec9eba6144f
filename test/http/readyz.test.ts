import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { startTestServer, type TestServer } from '../support/server.js';

/** A port on 127.0.0.1 that nothing listens on: bind one, note it, close it. */
async function closedPort(): Promise<number> {
  const probe: Server = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

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
