import { responseSnapshot } from '../support/http.js';
import { startTestServer, type TestServer } from '../support/server.js';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({ env: { CORS_ORIGINS: 'https://app.example.test' } });
});
afterAll(() => server.stop());

describe('CORS_ORIGINS', () => {
  it('allows exactly the listed origin, preflight included', async () => {
    const allowed = await fetch(`${server.baseUrl}/.well-known/jwks.json`, { headers: { Origin: 'https://app.example.test' } });
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://app.example.test');
    const preflight = await fetch(`${server.baseUrl}/token`, {
      method: 'OPTIONS',
      headers: { Origin: 'https://app.example.test', 'Access-Control-Request-Method': 'POST' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-methods')).toBe('GET,POST');
  });

  it('answers the key set the same ahead of koa as the koa route does, varying by Origin', async () => {
    const headers = { 'X-Request-Id': 'same-id' };
    const [ahead, koa] = await Promise.all(
      ['', '?via=koa'].map(async (query) => responseSnapshot(await fetch(`${server.baseUrl}/.well-known/jwks.json${query}`, { headers }))),
    );
    expect(ahead).toEqual(koa);
    expect([ahead!.status, ahead!.headers['vary']]).toEqual([200, 'Origin']);
  });

  it('lets the listed origin read Retry-After and WWW-Authenticate on an error', async () => {
    const answer = await fetch(`${server.baseUrl}/token`, {
      method: 'POST',
      headers: { Origin: 'https://app.example.test', 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from('nobody:wrong').toString('base64')}` },
      body: 'grant_type=client_credentials',
    });
    expect(answer.status).toBe(401);
    expect(answer.headers.get('www-authenticate')).not.toBeNull();
    expect(answer.headers.get('access-control-allow-origin')).toBe('https://app.example.test');
    expect(answer.headers.get('access-control-expose-headers')).toBe('Retry-After,WWW-Authenticate');
  });

  it('never allows credentials, even for the listed origin', async () => {
    const answer = await fetch(`${server.baseUrl}/token`, {
      method: 'POST',
      headers: { Origin: 'https://app.example.test', 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials',
    });
    expect(answer.headers.get('access-control-allow-origin')).toBe('https://app.example.test');
    expect(answer.headers.get('access-control-allow-credentials')).toBeNull();
  });

  const corsHeaders = (response: Response) => [...response.headers.keys()].filter((name) => name.startsWith('access-control-'));

  it('gives other origins no CORS headers: on the key set, on a token request, and on a preflight', async () => {
    for (const origin of ['https://evil.example.test', 'https://app.example.test.evil.test', 'null', 'https://APP.example.test']) {
      const keySet = await fetch(`${server.baseUrl}/.well-known/jwks.json`, { headers: { Origin: origin } });
      expect(corsHeaders(keySet)).toEqual([]);
      const token = await fetch(`${server.baseUrl}/token`, {
        method: 'POST',
        headers: { Origin: origin, 'content-type': 'application/x-www-form-urlencoded' },
        body: 'grant_type=client_credentials',
      });
      expect([token.status, corsHeaders(token)]).toEqual([401, []]);
      const preflight = await fetch(`${server.baseUrl}/token`, {
        method: 'OPTIONS',
        headers: { Origin: origin, 'Access-Control-Request-Method': 'POST' },
      });
      expect(corsHeaders(preflight)).toEqual([]);
    }
  });
});
