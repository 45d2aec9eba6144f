import { basicAuth, fixtures, postForm, type Fixtures } from '../support/fixtures.js';
import { startTestServer, type TestServer } from '../support/server.js';

// TRUST_PROXY is off, the default: X-Forwarded-For is whatever the client chose to write.
let server: TestServer;
let seed: Fixtures;
let secret: string;

beforeAll(async () => {
  server = await startTestServer({ env: { LOGIN_MAX_FAILURES: '3' } });
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

it('counts failures by the connection\'s address without TRUST_PROXY, so a new X-Forwarded-For on every guess does not escape the lock', async () => {
  for (let i = 0; i < 3; i += 1) expect((await login('wrong', `203.0.113.${i}`)).status).toBe(400);
  expect(await login('correct horse battery', '203.0.113.99')).toMatchObject({ status: 429, body: { error: 'too_many_requests' } });
  const failures = server.logs.lines.filter((line) => line['event'] === 'login_failed');
  expect(failures.map((line) => line['ip'])).toEqual(['127.0.0.1', '127.0.0.1', '127.0.0.1']);
});
