import { responseSnapshot } from '../support/http.js';
import { startTestServer, type TestServer } from '../support/server.js';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({ env: { ISSUER: 'https://auth.example.test' } });
});
afterAll(() => server.stop());

describe('GET /.well-known/jwks.json', () => {
  it('publishes the active public key, never a private member, cacheable with an ETag', async () => {
    const response = await fetch(`${server.baseUrl}/.well-known/jwks.json`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(response.headers.get('cache-control')).toBe('public, max-age=300');
    expect(response.headers.get('etag')).toMatch(/^"[^"]+"$/);
    const body = (await response.json()) as { keys: Record<string, unknown>[] };
    expect(body.keys).toHaveLength(1);
    const [key] = body.keys;
    expect(Object.keys(key!).sort()).toEqual(['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
    expect(key).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' });
    expect(key!['kid']).toMatch(/^\d{8}-[0-9a-f]{8}$/);
    expect(key!['x']).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(key!['y']).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('answers 304 with no body to a matching If-None-Match', async () => {
    const first = await fetch(`${server.baseUrl}/.well-known/jwks.json`);
    const etag = first.headers.get('etag')!;
    const second = await fetch(`${server.baseUrl}/.well-known/jwks.json`, { headers: { 'If-None-Match': etag } });
    expect(second.status).toBe(304);
    expect(await second.text()).toBe('');
    expect(second.headers.get('etag')).toBe(etag);
    const stale = await fetch(`${server.baseUrl}/.well-known/jwks.json`, { headers: { 'If-None-Match': '"stale"' } });
    expect(stale.status).toBe(200);
  });

  it('answers the same ahead of koa as the koa route does (a query sends the request to koa)', async () => {
    const etag = (await fetch(`${server.baseUrl}/.well-known/jwks.json`)).headers.get('etag')!;
    const cases: RequestInit[] = [{}, { method: 'HEAD' }, { headers: { 'If-None-Match': etag } }, { headers: { 'If-None-Match': '"stale"' } }];
    for (const init of cases) {
      const [ahead, koa] = await Promise.all(
        ['', '?via=koa'].map(async (query) =>
          responseSnapshot(await fetch(`${server.baseUrl}/.well-known/jwks.json${query}`, { ...init, headers: { ...init.headers, 'X-Request-Id': 'same-id' } })),
        ),
      );
      expect(ahead).toEqual(koa);
    }
  });
});

describe('discovery metadata', () => {
  it.each(['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration'])('%s is RFC 8414 metadata', async (path) => {
    await server.db.query(
      `INSERT INTO clients (client_id, name, grant_types, scopes, audiences, updated_at) VALUES ('m1', 'm1', '{client_credentials}', '{write,read}', '{}', now())`
      + ` ON CONFLICT DO NOTHING`,
    );
    const response = await fetch(`${server.baseUrl}${path}`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      issuer: 'https://auth.example.test',
      token_endpoint: 'https://auth.example.test/token',
      jwks_uri: 'https://auth.example.test/.well-known/jwks.json',
      revocation_endpoint: 'https://auth.example.test/revoke',
      introspection_endpoint: 'https://auth.example.test/introspect',
      grant_types_supported: ['password', 'client_credentials', 'refresh_token'],
      response_types_supported: [],
      scopes_supported: ['read', 'write'],
      token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
      revocation_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
      introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    });
  });
});

describe('discovery metadata of an issuer with a path', () => {
  it.each(['/.well-known/oauth-authorization-server/tenant:a/(b)', '/.well-known/oauth-authorization-server', '/.well-known/openid-configuration'])(
    'is served at %s (RFC 8414 §3.1 puts the path after the well-known suffix)',
    async (path) => {
      const prefixed = await startTestServer({ env: { ISSUER: 'https://example.test/tenant:a/(b)' }, alongside: server });
      try {
        const response = await fetch(`${prefixed.baseUrl}${path}`);
        expect(response.status).toBe(200);
        expect(await response.json()).toMatchObject({ issuer: 'https://example.test/tenant:a/(b)', token_endpoint: 'https://example.test/tenant:a/(b)/token' });
        expect((await fetch(`${prefixed.baseUrl}/.well-known/oauth-authorization-server/tenant:a/other`)).status).toBe(404);
      } finally {
        await prefixed.stop();
      }
    },
  );
});

describe('health, metrics and request handling', () => {
  it('healthz and readyz answer ok with every dependency up', async () => {
    const health = await fetch(`${server.baseUrl}/healthz`);
    expect([health.status, await health.json()]).toEqual([200, { status: 'ok' }]);
    const ready = await fetch(`${server.baseUrl}/readyz`);
    expect([ready.status, await ready.json()]).toEqual([200, { status: 'ok', checks: { postgres: 'ok', redis: 'ok', keys: 'ok' } }]);
  });

  it('counts requests by route and status in /metrics', async () => {
    await fetch(`${server.baseUrl}/healthz`);
    await fetch(`${server.baseUrl}/no/such/path`);
    const text = await (await fetch(`${server.baseUrl}/metrics`)).text();
    expect(text).toMatch(/^authd_http_requests_total\{method="GET",route="\/healthz",status="200"\} [1-9]\d*$/m);
    expect(text).toMatch(/^authd_http_requests_total\{method="GET",route="unmatched",status="404"\} 1$/m);
    expect(text).toMatch(/^authd_http_request_duration_seconds_bucket\{le="0\.1",method="GET",route="\/healthz",status="200"\} [1-9]/m);
    expect(text).toContain('authd_argon2_queue_depth 0');
  });

  it('echoes a sane request id, replaces an unsafe one, and logs one line per request', async () => {
    const sane = await fetch(`${server.baseUrl}/healthz`, { headers: { 'X-Request-Id': 'abc-123' } });
    expect(sane.headers.get('x-request-id')).toBe('abc-123');
    const unsafe = await fetch(`${server.baseUrl}/healthz`, { headers: { 'X-Request-Id': 'a b\tc' } });
    expect(unsafe.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    const line = server.logs.lines.find((entry) => entry['reqId'] === 'abc-123');
    expect(line).toMatchObject({ level: 'info', msg: 'request', method: 'GET', route: '/healthz', status: 200 });
    expect(typeof line!['ms']).toBe('number');
    expect(server.logs.lines.filter((entry) => entry['reqId'] === 'abc-123')).toHaveLength(1);
  });

  it('answers 405 for a wrong method on a known route', async () => {
    const response = await fetch(`${server.baseUrl}/.well-known/jwks.json`, { method: 'DELETE' });
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toContain('GET');
    expect(await response.json()).toEqual({ error: 'invalid_request', error_description: 'method not allowed' });
  });

  it('answers an unknown path, a GET of /token and an unknown method in RFC 6749 JSON, not plain text', async () => {
    const answers = await Promise.all(
      [
        fetch(`${server.baseUrl}/no/such/endpoint`),
        fetch(`${server.baseUrl}/token`),
        fetch(`${server.baseUrl}/token`, { method: 'PROPFIND' }),
      ].map(async (pending) => {
        const response = await pending;
        expect(response.headers.get('cache-control')).toBe('no-store');
        return [response.status, response.headers.get('content-type'), await response.json()];
      }),
    );
    expect(answers).toEqual([
      [404, 'application/json; charset=utf-8', { error: 'invalid_request', error_description: 'no such endpoint' }],
      [405, 'application/json; charset=utf-8', { error: 'invalid_request', error_description: 'method not allowed' }],
      [501, 'application/json; charset=utf-8', { error: 'invalid_request', error_description: 'method not implemented' }],
    ]);
  });
});
