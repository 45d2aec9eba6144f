import { basicAuth, fixtures, postForm, type Fixtures } from '../support/fixtures.js';
import { startTestServer, type TestServer } from '../support/server.js';

/** A server with `env`, the user alice and a password client; `login` sends X-Forwarded-For as given. */
function serverWithAlice(env: Record<string, string>) {
  const state = {} as { server: TestServer; seed: Fixtures; secret: string };
  beforeAll(async () => {
    state.server = await startTestServer({ env: { LOGIN_MAX_FAILURES: '3', ...env } });
    state.seed = fixtures(state.server);
    await state.seed.addUser('alice', 'correct horse battery');
    state.secret = (await state.seed.addClient({ clientId: 'web', grants: ['password'] }))!;
  });
  afterAll(async () => {
    await state.seed.close();
    await state.server.stop();
  });
  return {
    login: (password: string, forwardedFor: string) =>
      postForm(`${state.server.baseUrl}/token`, { grant_type: 'password', username: 'alice', password }, {
        authorization: basicAuth('web', state.secret),
        'x-forwarded-for': forwardedFor,
      }),
    failedFrom: () => state.server.logs.lines.filter((line) => line['event'] === 'login_failed').map((line) => line['ip']),
  };
}

describe('without TRUST_PROXY, the default: X-Forwarded-For is whatever the client chose to write', () => {
  const { login, failedFrom } = serverWithAlice({});

  it('counts failures by the connection\'s address, so a new X-Forwarded-For on every guess does not escape the lock', async () => {
    for (let i = 0; i < 3; i += 1) expect((await login('wrong', `203.0.113.${i}`)).status).toBe(400);
    expect(await login('correct horse battery', '203.0.113.99')).toMatchObject({ status: 429, body: { error: 'too_many_requests' } });
    expect(failedFrom()).toEqual(['127.0.0.1', '127.0.0.1', '127.0.0.1']);
  });
});

describe('with TRUST_PROXY=2: a CDN, then a load balancer, each appending the address it saw', () => {
  const { login, failedFrom } = serverWithAlice({ TRUST_PROXY: '2' });

  it('takes the client address the outer proxy saw, two entries from the end, so neither a forged entry nor the proxy\'s own escapes the lock', async () => {
    // The client's forged entry, the client as the CDN saw it, the CDN's edge as the load balancer saw it.
    const forwarded = (forged: number, edge: number) => `10.9.8.${forged}, 203.0.113.60, 198.51.100.${edge}`;
    for (let i = 0; i < 3; i += 1) expect((await login('wrong', forwarded(i, i))).status).toBe(400);
    expect(await login('correct horse battery', forwarded(99, 99))).toMatchObject({ status: 429, body: { error: 'too_many_requests' } });
    // Another client behind the same edge is not locked with it.
    expect((await login('correct horse battery', '203.0.113.61, 198.51.100.0')).status).toBe(200);
    expect(failedFrom()).toEqual(['203.0.113.60', '203.0.113.60', '203.0.113.60']);
  });
});
