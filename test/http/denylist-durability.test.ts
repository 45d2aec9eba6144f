import { createServer, type AddressInfo } from 'node:net';
import { basicAuth, fixtures, postForm, type Fixtures } from '../support/fixtures.js';
import { startTestServer, type TestServer } from '../support/server.js';

async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

const jtiOf = (jwt: string) => (JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as { jti: string }).jti;

describe('with Redis up', () => {
  let server: TestServer;
  let seed: Fixtures;
  let secret: string;
  beforeAll(async () => {
    server = await startTestServer();
    seed = fixtures(server);
    secret = (await seed.addClient({ clientId: 'svc' }))!;
  });
  afterAll(async () => {
    await seed.close();
    await server.stop();
  });

  it('keeps a revoked token revoked after FLUSHDB once authd re-seeds Redis from Postgres', async () => {
    const auth = { authorization: basicAuth('svc', secret) };
    const token = (await postForm(`${server.baseUrl}/token`, { grant_type: 'client_credentials' }, auth)).body['access_token'] as string;
    expect((await postForm(`${server.baseUrl}/revoke`, { token }, auth)).status).toBe(200);
    await server.redis.client.flushdb();
    expect(await server.redis.client.exists(`authd:revoked:${jtiOf(token)}`)).toBe(0);
    await server.running.syncDenylist();
    expect(await server.redis.client.get(`authd:revoked:${jtiOf(token)}`)).toBe('revoked');
    expect((await postForm(`${server.baseUrl}/introspect`, { token }, auth)).body).toEqual({ active: false });
  });

  it('catches Redis up with revocations recorded elsewhere (Postgres only)', async () => {
    const expires = new Date(Date.now() + 600_000);
    await server.db.query(`INSERT INTO revocations (jti, expires_at, reason, revoked_at) VALUES ('from-cli', $1, 'sessions_revoked', now())`, [expires]);
    await server.running.syncDenylist();
    expect(await server.redis.client.get('authd:revoked:from-cli')).toBe('sessions_revoked');
  });
});

describe('with Redis unreachable', () => {
  let server: TestServer;
  let seed: Fixtures;
  let secret: string;
  beforeAll(async () => {
    server = await startTestServer({ env: { REDIS_URL: `redis://127.0.0.1:${await closedPort()}` } });
    seed = fixtures(server);
    secret = (await seed.addClient({ clientId: 'svc' }))!;
  });
  afterAll(async () => {
    await seed.close();
    await server.stop();
  });

  it('still records a revocation in Postgres and introspection answers from Postgres', async () => {
    const auth = { authorization: basicAuth('svc', secret) };
    const issued = await postForm(`${server.baseUrl}/token`, { grant_type: 'client_credentials' }, auth);
    expect(issued.status).toBe(200);
    const token = issued.body['access_token'] as string;
    expect((await postForm(`${server.baseUrl}/introspect`, { token }, auth)).body).toMatchObject({ active: true });
    expect((await postForm(`${server.baseUrl}/revoke`, { token }, auth)).status).toBe(200);
    expect(await server.db.query('SELECT reason FROM revocations WHERE jti = $1', [jtiOf(token)])).toEqual([{ reason: 'revoked' }]);
    expect((await postForm(`${server.baseUrl}/introspect`, { token }, auth)).body).toEqual({ active: false });
  });
});
