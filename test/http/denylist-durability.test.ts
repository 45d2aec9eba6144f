import { basicAuth, fixtures, postForm, type Fixtures } from '../support/fixtures.js';
import { jtiOf } from '../support/jwt.js';
import { closedPort } from '../support/net.js';
import { startTestServer, type TestServer, type TestServerOptions } from '../support/server.js';

/** A server of its own with one confidential client `svc`, for each describe block. */
function serverWithClient(options: () => Promise<TestServerOptions>) {
  const state = {} as { server: TestServer; seed: Fixtures; auth: { authorization: string } };
  beforeAll(async () => {
    state.server = await startTestServer(await options());
    state.seed = fixtures(state.server);
    state.auth = { authorization: basicAuth('svc', (await state.seed.addClient({ clientId: 'svc' }))!) };
  });
  afterAll(async () => {
    await state.seed.close();
    await state.server.stop();
  });
  return state;
}

describe('with Redis up', () => {
  const state = serverWithClient(async () => ({}));

  it('re-seeds Redis when it starts, whether Redis was ready before or after the keyring loaded', async () => {
    const { server } = state;
    const seeded = () => server.logs.lines.some((line) => line['msg'] === 'denylist: Redis seeded from Postgres');
    for (let attempt = 0; attempt < 100 && !seeded(); attempt += 1) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(seeded()).toBe(true);
    expect(await server.redis.client.exists('authd:denylist:seeded')).toBe(1);
  });

  it('keeps a revoked token revoked after FLUSHDB once authd re-seeds Redis from Postgres', async () => {
    const { server, auth } = state;
    const token = (await postForm(`${server.baseUrl}/token`, { grant_type: 'client_credentials' }, auth)).body['access_token'] as string;
    expect((await postForm(`${server.baseUrl}/revoke`, { token }, auth)).status).toBe(200);
    await server.redis.client.flushdb();
    expect(await server.redis.client.exists(`authd:revoked:${jtiOf(token)}`)).toBe(0);
    await server.running.syncDenylist();
    expect(await server.redis.client.get(`authd:revoked:${jtiOf(token)}`)).toBe('revoked');
    expect((await postForm(`${server.baseUrl}/introspect`, { token }, auth)).body).toEqual({ active: false });
  });

  it('answers revocation checks from its in-process copy, and says so in /metrics', async () => {
    const { server, auth } = state;
    const metrics = async () => (await fetch(`${server.baseUrl}/metrics`)).text();
    for (let attempt = 0; attempt < 100 && !/^authd_denylist_copy_complete 1$/m.test(await metrics()); attempt += 1) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const token = (await postForm(`${server.baseUrl}/token`, { grant_type: 'client_credentials' }, auth)).body['access_token'] as string;
    expect((await postForm(`${server.baseUrl}/revoke`, { token }, auth)).status).toBe(200);
    // Gone from Redis, still revoked: the answer comes from memory.
    await server.redis.client.del(`authd:revoked:${jtiOf(token)}`);
    expect((await postForm(`${server.baseUrl}/introspect`, { token }, auth)).body).toEqual({ active: false });
    const text = await metrics();
    expect(text).toMatch(/^authd_denylist_copy_complete 1$/m);
    expect(Number(/^authd_denylist_copy_entries (\d+)$/m.exec(text)?.[1])).toBeGreaterThanOrEqual(1);
  });

  it('catches Redis up with revocations recorded elsewhere (Postgres only)', async () => {
    const { server } = state;
    const expires = new Date(Date.now() + 600_000);
    await server.db.query(`INSERT INTO revocations (jti, expires_at, reason, revoked_at) VALUES ('from-cli', $1, 'sessions_revoked', now())`, [expires]);
    await server.running.syncDenylist();
    expect(await server.redis.client.get('authd:revoked:from-cli')).toBe('sessions_revoked');
  });
});

describe('with Redis unreachable', () => {
  const state = serverWithClient(async () => ({ env: { REDIS_URL: `redis://127.0.0.1:${await closedPort()}` } }));

  it('still records a revocation in Postgres and introspection answers from Postgres', async () => {
    const { server, auth } = state;
    const issued = await postForm(`${server.baseUrl}/token`, { grant_type: 'client_credentials' }, auth);
    expect(issued.status).toBe(200);
    const token = issued.body['access_token'] as string;
    expect((await postForm(`${server.baseUrl}/introspect`, { token }, auth)).body).toMatchObject({ active: true });
    expect((await postForm(`${server.baseUrl}/revoke`, { token }, auth)).status).toBe(200);
    expect(await server.db.query('SELECT reason FROM revocations WHERE jti = $1', [jtiOf(token)])).toEqual([{ reason: 'revoked' }]);
    expect((await postForm(`${server.baseUrl}/introspect`, { token }, auth)).body).toEqual({ active: false });
    expect(await (await fetch(`${server.baseUrl}/metrics`)).text()).toMatch(/^authd_denylist_copy_complete 0$/m);
  });
});
