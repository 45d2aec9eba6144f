import { basicAuth, fixtures, postForm, type Fixtures } from '../support/fixtures.js';
import { startTestServer, type TestServer } from '../support/server.js';

let server: TestServer;
let seed: Fixtures;
let secret: string;

beforeAll(async () => {
  server = await startTestServer({
    env: { ARGON2_MEMORY_KIB: '32768', ARGON2_TIME_COST: '2', LOGIN_MAX_FAILURES: '1000' },
    passwordQueue: { concurrency: 1, maxQueue: 2 },
  });
  seed = fixtures(server);
  secret = (await seed.addClient({ clientId: 'web', grants: ['password'] }))!;
});
afterAll(async () => {
  await seed.close();
  await server.stop();
});

it('answers 503 temporarily_unavailable with Retry-After when the argon2 queue is full, and serves the rest', async () => {
  const attempts = await Promise.all(
    Array.from({ length: 12 }, (_, i) =>
      postForm(`${server.baseUrl}/token`, { grant_type: 'password', username: `user${i}`, password: 'x' }, { authorization: basicAuth('web', secret) }),
    ),
  );
  const busy = attempts.filter((attempt) => attempt.status === 503);
  const refused = attempts.filter((attempt) => attempt.status === 400);
  expect(busy.length).toBeGreaterThanOrEqual(1);
  expect(refused.length).toBeGreaterThanOrEqual(3);
  expect(busy.length + refused.length).toBe(12);
  for (const attempt of busy) {
    expect(attempt.body).toEqual({ error: 'temporarily_unavailable' });
    expect(attempt.headers.get('retry-after')).toBe('1');
  }
  for (const attempt of refused) expect(attempt.body).toMatchObject({ error: 'invalid_grant' });
  // A 503 is not a failed login: the IP's count holds the refused ones only, and no running attempt.
  expect(await server.redis.client.hgetall('authd:login:attempts:{127.0.0.1}')).toEqual({ e: expect.any(String), f: String(refused.length) });
  const metrics = await (await fetch(`${server.baseUrl}/metrics`)).text();
  expect(metrics).toMatch(/^authd_argon2_queue_depth 0$/m);
});
