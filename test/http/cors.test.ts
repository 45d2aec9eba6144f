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

  it('marks the key set as varying by Origin whether or not a request sends one', async () => {
    for (const path of ['/.well-known/jwks.json', '/.well-known/jwks.json?via=koa']) {
      const response = await fetch(`${server.baseUrl}${path}`);
      expect([response.status, response.headers.get('vary')]).toEqual([200, 'Origin']);
    }
  });

  it('gives other origins no CORS headers', async () => {
    for (const origin of ['https://evil.example.test', 'https://app.example.test.evil.test', 'null']) {
      const response = await fetch(`${server.baseUrl}/.well-known/jwks.json`, { headers: { Origin: origin } });
      expect(response.headers.get('access-control-allow-origin')).toBeNull();
    }
  });
});
