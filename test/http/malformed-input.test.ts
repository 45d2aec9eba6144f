import { connect } from 'node:net';
import fc from 'fast-check';
import { basicAuth, fixtures, type Fixtures } from '../support/fixtures.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { waitUntil } from '../support/wait.js';

let server: TestServer;
let seed: Fixtures;
let svc: string;
let web: string;

beforeAll(async () => {
  server = await startTestServer({ env: { LOGIN_MAX_FAILURES: '1000' } });
  seed = fixtures(server);
  svc = basicAuth('svc', (await seed.addClient({ clientId: 'svc', scopes: ['read'], audiences: ['https://api.example.test'] }))!);
  web = basicAuth('web', (await seed.addClient({ clientId: 'web', grants: ['password', 'refresh_token'], scopes: ['read'] }))!);
  await seed.addUser('alice', 'correct horse battery');
});
afterAll(async () => {
  await seed.close();
  await server.stop();
});

/** A refresh token of the right form that authd never issued: the request goes as far as the lookup. */
const UNKNOWN_REFRESH_TOKEN = `rt_${'A'.repeat(43)}`;

/** Text an attacker may send: any code point (lone surrogates too), or runs of the characters parsers and Postgres trip on. */
const hostile = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 30 }),
  fc.string({ unit: fc.constantFrom('\u0000', '%', '%00', '%zz', '+', '&', '=', ':', '"', '\\', '\n', ' ', 'é', '\ud800', 'a', '_', '.'), maxLength: 30 }),
  fc.constantFrom('__proto__', 'constructor', UNKNOWN_REFRESH_TOKEN, 'eyJhbGciOiJub25lIn0.e30.', 'a'.repeat(5000)),
);

/** What RFC 6749 §5.2 allows in error_description: printable ASCII but '"' and '\\'. */
const RFC6749_DESCRIPTION = /^[\x20-\x21\x23-\x5b\x5d-\x7e]*$/;

/** Posts the parameters as a form or as JSON; the answer must be a deliberate one, never a 5xx. */
async function post(path: string, authorization: string | undefined, params: Record<string, string>, json: boolean) {
  const response = await fetch(`${server.baseUrl}${path}`, {
    method: 'POST',
    headers: {
      'content-type': json ? 'application/json' : 'application/x-www-form-urlencoded',
      ...(authorization === undefined ? {} : { authorization }),
    },
    body: json ? JSON.stringify(params) : new URLSearchParams(params).toString(),
  });
  const text = await response.text();
  // Revocation answers 200 with an empty body (RFC 7009 §2.2); everything else answers JSON.
  const body = (text === '' ? {} : JSON.parse(text)) as Record<string, unknown>;
  return { status: response.status, body };
}

const endpoints: [string, string | undefined, (value: string, other: string) => Record<string, string>][] = [
  ['/token', 'svc', (scope, audience) => ({ grant_type: 'client_credentials', scope, audience })],
  ['/token', 'web', (username, password) => ({ grant_type: 'password', username, password })],
  ['/token', undefined, (clientId, secret) => ({ grant_type: 'client_credentials', client_id: clientId, client_secret: secret })],
  ['/token', undefined, (grantType, clientId) => ({ grant_type: grantType, client_id: clientId })],
  ['/token/refresh', 'web', (token, scope) => ({ refresh_token: token, scope })],
  ['/token/refresh', 'web', (audience) => ({ refresh_token: UNKNOWN_REFRESH_TOKEN, audience })],
  ['/token/refresh', 'web', (resource) => ({ refresh_token: UNKNOWN_REFRESH_TOKEN, resource })],
  ['/revoke', 'svc', (token, hint) => ({ token, token_type_hint: hint })],
  ['/introspect', 'svc', (token, hint) => ({ token, token_type_hint: hint })],
];

describe('hostile parameter values', () => {
  it.each(endpoints)('%s (client %s) answers each with a 2xx or 4xx OAuth body, never a 5xx', async (path, client, params) => {
    const authorization = client === 'svc' ? svc : client === 'web' ? web : undefined;
    await fc.assert(
      fc.asyncProperty(hostile, hostile, fc.boolean(), async (value, other, json) => {
        const { status, body } = await post(path, authorization, params(value, other), json);
        expect(status).toBeLessThan(500);
        if (status >= 400) expect(typeof body['error']).toBe('string');
        if ('error_description' in body) expect(body['error_description']).toMatch(RFC6749_DESCRIPTION);
      }),
      { numRuns: 40 },
    );
  });

  it('names a hostile parameter sent twice in characters RFC 6749 allows in error_description', async () => {
    await fc.assert(
      fc.asyncProperty(hostile, async (name) => {
        fc.pre(name !== '');
        const form = new URLSearchParams([[name, 'a'], [name, 'b']]).toString();
        const response = await fetch(`${server.baseUrl}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form });
        expect(response.status).toBe(400);
        const body = (await response.json()) as Record<string, unknown>;
        expect(body['error']).toBe('invalid_request');
        expect(body['error_description']).toMatch(RFC6749_DESCRIPTION);
      }),
      { numRuns: 60 },
    );
  });

  it.each(['/token', '/token/refresh', '/revoke', '/introspect'])('%s answers a body over 16 KiB with 413 {"error":"invalid_request"}', async (path) => {
    const response = await fetch(`${server.baseUrl}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: svc },
      body: `token=x&pad=${'a'.repeat(17 * 1024)}`,
    });
    expect({ status: response.status, body: await response.json() }).toEqual({ status: 413, body: { error: 'invalid_request' } });
  });

  it('takes a body of exactly 16 KiB and refuses one byte more', async () => {
    const sized = (bytes: number) => {
      const head = 'token=x&pad=';
      return `${head}${'a'.repeat(bytes - head.length)}`;
    };
    const introspect = async (body: string) => {
      const response = await fetch(`${server.baseUrl}/introspect`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: svc },
        body,
      });
      return { status: response.status, body: await response.json() };
    };
    expect(await introspect(sized(16 * 1024))).toEqual({ status: 200, body: { active: false } });
    expect(await introspect(sized(16 * 1024 + 1))).toEqual({ status: 413, body: { error: 'invalid_request' } });
  });

  it('refuses a compressed body instead of parsing its bytes as a form', async () => {
    const { gzipSync } = await import('node:zlib');
    const introspect = async (encoding: string, body: Buffer | string) => {
      const response = await fetch(`${server.baseUrl}/introspect`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-encoding': encoding, authorization: svc },
        body,
      });
      return { status: response.status, body: await response.json() };
    };
    const refused = { status: 400, body: { error: 'invalid_request', error_description: 'content encoding is not supported; send the body uncompressed' } };
    expect(await introspect('gzip', gzipSync('token=x'))).toEqual(refused);
    expect(await introspect('br', 'token=x')).toEqual(refused);
    expect(await introspect('Identity', 'token=x')).toEqual({ status: 200, body: { active: false } });
  });

  it('answers a Content-Length over 16 KiB with 413 at once, without waiting for the body', async () => {
    const socket = connect(Number(new URL(server.baseUrl).port), '127.0.0.1');
    socket.setEncoding('utf8');
    let received = '';
    socket.on('data', (chunk: string) => (received += chunk));
    socket.write(`POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${16 * 1024 + 1}\r\n\r\n`);
    await waitUntil(() => received.includes('\r\n\r\n{'), 5000);
    socket.destroy();
    expect(received).toMatch(/^HTTP\/1\.1 413 /);
    expect(received.slice(received.indexOf('\r\n\r\n') + 4)).toBe('{"error":"invalid_request"}');
  });

  it('answers any Basic credentials, encoded or raw, with an OAuth body, never a 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(hostile, hostile, fc.boolean(), async (id, secret, encoded) => {
        // encodeURIComponent refuses lone surrogates; a client would have sent them as U+FFFD.
        const wellFormed = (text: string) => Buffer.from(text).toString();
        const authorization = encoded ? basicAuth(wellFormed(id), wellFormed(secret)) : `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
        const { status, body } = await post('/token', authorization, { grant_type: 'client_credentials' }, false);
        expect(status).toBe(status === 400 ? 400 : 401);
        expect(typeof body['error']).toBe('string');
      }),
      { numRuns: 60 },
    );
  });

  it('logged no unexpected error on the way', () => {
    expect(server.logs.lines.filter((line) => line['msg'] === 'unexpected error')).toEqual([]);
  });
});
