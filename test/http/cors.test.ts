import { fixtures, postForm, type Fixtures } from '../support/fixtures.js';
import { responseSnapshot } from '../support/http.js';
import { startTestServer, type TestServer } from '../support/server.js';

let server: TestServer;
let seed: Fixtures;

beforeAll(async () => {
  server = await startTestServer({ env: { CORS_ORIGINS: 'https://app.example.test', LOGIN_MAX_FAILURES: '2' } });
  seed = fixtures(server);
  await seed.addUser('dana', 'pw-dana');
  await seed.addClient({ clientId: 'spa', public: true, grants: ['password', 'refresh_token'] });
});
afterAll(async () => {
  await seed.close();
  await server.stop();
});

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
      expect([token.status, await token.json(), corsHeaders(token)]).toEqual([
        400,
        { error: 'invalid_request', error_description: 'requests from web pages of this origin are not accepted' },
        [],
      ]);
      const preflight = await fetch(`${server.baseUrl}/token`, {
        method: 'OPTIONS',
        headers: { Origin: origin, 'Access-Control-Request-Method': 'POST' },
      });
      expect(corsHeaders(preflight)).toEqual([]);
    }
  });

  it("refuses other sites' pages before anything runs: their wrong passwords count no failure toward a lock", async () => {
    const login = (password: string, headers: Record<string, string> = {}) =>
      postForm(`${server.baseUrl}/token`, { grant_type: 'password', client_id: 'spa', username: 'dana', password }, headers);
    const pages: Record<string, string>[] = [
      { Origin: 'https://evil.example.test' },
      { Origin: 'HTTP://evil.example.test' },
      // A sandboxed frame, or a redirect from another site.
      { Origin: 'null' },
      { Origin: 'null', 'Sec-Fetch-Site': 'cross-site' },
    ];
    for (const headers of pages) {
      for (let attempt = 0; attempt < 3; attempt += 1) expect((await login('wrong', headers)).status).toBe(400);
    }
    expect(await server.redis.client.keys('*login*')).toEqual([]);
    expect((await login('pw-dana')).status).toBe(200);
  });

  it("accepts the issuer's own origin (also as null from its own no-referrer pages), a listed one and other schemes (a browser extension's)", async () => {
    const pages: Record<string, string>[] = [
      { Origin: new URL(server.config.issuer).origin },
      { Origin: 'null', 'Sec-Fetch-Site': 'same-origin' },
      { Origin: 'https://app.example.test' },
      { Origin: 'chrome-extension://abcdefghijklmnop' },
    ];
    for (const headers of pages) {
      const answer = await postForm(`${server.baseUrl}/token`, { grant_type: 'password', client_id: 'spa', username: 'dana', password: 'pw-dana' }, headers);
      expect([headers, answer.status]).toEqual([headers, 200]);
    }
  });
});
