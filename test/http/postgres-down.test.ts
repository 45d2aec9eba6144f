import { basicAuth, postForm } from '../support/fixtures.js';
import { TEST_DATABASE_SERVER_URL } from '../support/database.js';
import { closedPort, proxiedUrl, type TcpProxy } from '../support/net.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { waitUntil } from '../support/wait.js';

/** Clients are cached for 10 s, so requests naming a client reach Postgres only for an unknown one. */
const someClient = basicAuth('web', 'not-a-secret-of-anyone');

const expectUnavailable = (answer: { status: number; headers: Headers; body: unknown }) => {
  expect(answer.status).toBe(503);
  expect(answer.body).toEqual({ error: 'temporarily_unavailable' });
  expect(answer.headers.get('retry-after')).toBe('5');
  expect(answer.headers.get('cache-control')).toBe('no-store');
};

describe('with Postgres unreachable (connection refused)', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { DATABASE_URL: `postgresql://postgres:db-password@127.0.0.1:${await closedPort()}/authd` } });
  });
  afterAll(() => server.stop());

  it('answers 503 temporarily_unavailable with Retry-After on every endpoint that needs it, and logs no 500', async () => {
    expectUnavailable(await postForm(`${server.baseUrl}/token`, { grant_type: 'client_credentials' }, { authorization: someClient }));
    expectUnavailable(await postForm(`${server.baseUrl}/token`, { grant_type: 'password', username: 'alice', password: 'pw' }, { authorization: someClient }));
    expectUnavailable(await postForm(`${server.baseUrl}/token/refresh`, { refresh_token: `rt_${'A'.repeat(43)}` }, { authorization: someClient }));
    expectUnavailable(await postForm(`${server.baseUrl}/revoke`, { token: 'whatever' }, { authorization: someClient }));
    const metadata = await fetch(`${server.baseUrl}/.well-known/oauth-authorization-server`);
    expect(metadata.status).toBe(503);
    expect(metadata.headers.get('retry-after')).toBe('5');

    expect(server.logs.lines.filter((line) => line['msg'] === 'unexpected error')).toEqual([]);
    const warnings = server.logs.lines.filter((line) => line['msg'] === 'database unavailable');
    expect(warnings.length).toBeGreaterThanOrEqual(5);
    expect(server.logs.raw()).not.toContain('db-password');
    // The JWKS needs no database.
    expect((await fetch(`${server.baseUrl}/.well-known/jwks.json`)).status).toBe(200);
  });
});

describe('with Postgres accepting connections but never answering', () => {
  let proxy: TcpProxy;
  let server: TestServer;
  beforeAll(async () => {
    const silent = await proxiedUrl(TEST_DATABASE_SERVER_URL);
    proxy = silent.proxy;
    proxy.silence();
    server = await startTestServer({ env: { DATABASE_URL: silent.url } });
  });
  afterAll(async () => {
    await Promise.all([server.stop(), proxy.close()]);
  });

  it('gives up connecting and answers 503 instead of hanging', async () => {
    expectUnavailable(await postForm(`${server.baseUrl}/token`, { grant_type: 'client_credentials' }, { authorization: someClient }));
  }, 15_000);
});

describe('with Postgres ending authd\'s idle connections (a restart, a failover)', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server.stop());

  it('logs each dropped connection once, and the next request gets a new one', async () => {
    const unknownClient = () => postForm(`${server.baseUrl}/token`, { grant_type: 'client_credentials' }, { authorization: someClient });
    expect((await unknownClient()).status).toBe(401);
    const [{ ended }] = await server.db.query<{ ended: number }>(
      // Client backends only: an autovacuum worker on this database (likely while CI creates many) is not authd's.
      `SELECT count(*)::int AS ended FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend') AS t`,
    );
    expect(ended).toBeGreaterThanOrEqual(1);
    const dropped = () => server.logs.lines.filter((line) => line['msg'] === 'postgres connection error');
    await waitUntil(() => dropped().length >= ended, 5000);
    await new Promise((resolve) => setTimeout(resolve, 200));
    // One line per connection, never more; one the pool was closing itself (idle for 10 s, which a
    // loaded machine can reach before this point) ends without an error, so fewer is possible.
    expect(dropped().length).toBeGreaterThanOrEqual(1);
    expect(dropped().length).toBeLessThanOrEqual(ended);
    expect(dropped()[0]).toMatchObject({ level: 'warn', err: { message: 'terminating connection due to administrator command' } });
    expect((await unknownClient()).status).toBe(401);
  });
});
