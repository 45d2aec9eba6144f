import { basicAuth, fixtures, postForm, type Fixtures } from '../support/fixtures.js';
import { startTestServer, type TestServer } from '../support/server.js';

// Two proxies in front of authd (a CDN, then a load balancer), each appending the address it saw.
let server: TestServer;
let seed: Fixtures;
let secret: string;

beforeAll(async () => {
  server = await startTestServer({ env: { TRUST_PROXY: '2', LOGIN_MAX_FAILURES: '3' } });
  seed = fixtures(server);
  await seed.addUser('alice', 'correct horse battery');
  secret = (await seed.addClient({ clientId: 'web', grants: ['password'] }))!;
});
afterAll(async () => {
  await seed.close();
  await server.stop();
});

const login = (password: string, forwardedFor: string) =>
  postForm(`${server.baseUrl}/token`, { grant_type: 'password', username: 'alice', password }, {
    authorization: basicAuth('web', secret),
    'x-forwarded-for': forwardedFor,
  });

it('takes the client address the outer proxy saw, two entries from the end, so neither a forged entry nor the proxy\'s own escapes the lock', async () => {
  // The client's forged entry, the client as the CDN saw it, the CDN's edge as the load balancer saw it.
  const forwarded = (forged: number, edge: number) => `10.9.8.${forged}, 203.0.113.60, 198.51.100.${edge}`;
  for (let i = 0; i < 3; i += 1) expect((await login('wrong', forwarded(i, i))).status).toBe(400);
  expect(await login('correct horse battery', forwarded(99, 99))).toMatchObject({ status: 429, body: { error: 'too_many_requests' } });
  // Another client behind the same edge is not locked with it.
  expect((await login('correct horse battery', '203.0.113.61, 198.51.100.0')).status).toBe(200);
  const failures = server.logs.lines.filter((line) => line['event'] === 'login_failed');
  expect(failures.map((line) => line['ip'])).toEqual(['203.0.113.60', '203.0.113.60', '203.0.113.60']);
});
