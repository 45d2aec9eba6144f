import { request as httpRequest } from 'node:http';
import { basicAuth, fixtures, postForm, type Fixtures } from '../support/fixtures.js';
import { claimsOf } from '../support/jwt.js';
import { tokensIssued } from '../support/metrics.js';
import { startTestServer, type TestServer } from '../support/server.js';

let server: TestServer;
let seed: Fixtures;
let serviceSecret: string;
let shortSecret: string;

beforeAll(async () => {
  server = await startTestServer();
  seed = fixtures(server);
  serviceSecret = (await seed.addClient({ clientId: 'svc', scopes: ['read', 'write'], audiences: ['https://api.example.test'] }))!;
  shortSecret = (await seed.addClient({ clientId: 'short', accessTokenTtl: 120 }))!;
  await seed.addClient({ clientId: 'spa', public: true, grants: ['password', 'refresh_token', 'client_credentials'] });
});
afterAll(async () => {
  await seed.close();
  await server.stop();
});

const token = (params: Record<string, string>, headers: Record<string, string> = {}) => postForm(`${server.baseUrl}/token`, params, headers);

describe('grant_type=client_credentials', () => {
  it('authenticates with HTTP Basic and issues a token for the client itself, no refresh token', async () => {
    const { status, headers, body } = await token({ grant_type: 'client_credentials' }, { authorization: basicAuth('svc', serviceSecret) });
    expect(status).toBe(200);
    expect(headers.get('cache-control')).toBe('no-store');
    expect(headers.get('pragma')).toBe('no-cache');
    expect(Object.keys(body).sort()).toEqual(['access_token', 'expires_in', 'scope', 'token_type']);
    expect(body).toMatchObject({ token_type: 'Bearer', expires_in: 900, scope: 'read write' });
    const claims = claimsOf(body['access_token'] as string);
    expect(claims).toMatchObject({ sub: 'svc', client_id: 'svc', aud: 'https://api.example.test', iss: 'http://localhost:8080' });
    expect(claims).not.toHaveProperty('roles');
  });

  it('counts the tokens it issues by grant type in /metrics, and not the refusals', async () => {
    const issued = () => tokensIssued(server.baseUrl, 'client_credentials');
    const before = await issued();
    expect((await token({ grant_type: 'client_credentials' }, { authorization: basicAuth('svc', serviceSecret) })).status).toBe(200);
    expect((await token({ grant_type: 'client_credentials' }, { authorization: basicAuth('svc', 'wrong') })).status).toBe(401);
    expect((await token({ grant_type: 'client_credentials', scope: 'admin' }, { authorization: basicAuth('svc', serviceSecret) })).status).toBe(400);
    expect(await issued()).toBe(before + 1);
  });

  it('caps a client\'s own access-token lifetime at 3600 s, whatever its row says', async () => {
    const longSecret = (await seed.addClient({ clientId: 'long', accessTokenTtl: 86_400 }))!;
    const { status, body } = await token({ grant_type: 'client_credentials' }, { authorization: basicAuth('long', longSecret) });
    expect([status, body['expires_in']]).toEqual([200, 3600]);
    const claims = claimsOf(body['access_token'] as string);
    expect((claims['exp'] as number) - (claims['iat'] as number)).toBe(3600);
  });

  it('refuses a body client_id that is not the Basic header\'s, and accepts the same one', async () => {
    const basic = { authorization: basicAuth('svc', serviceSecret) };
    expect(await token({ grant_type: 'client_credentials', client_id: 'short' }, basic)).toMatchObject({
      status: 400,
      body: { error: 'invalid_request', error_description: 'client_id does not match the Authorization header' },
    });
    expect((await token({ grant_type: 'client_credentials', client_id: 'svc' }, basic)).status).toBe(200);
  });

  it('authenticates with client_secret_post, in a JSON body too', async () => {
    expect((await token({ grant_type: 'client_credentials', client_id: 'svc', client_secret: serviceSecret })).status).toBe(200);
    const response = await fetch(`${server.baseUrl}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ grant_type: 'client_credentials', client_id: 'svc', client_secret: serviceSecret, scope: 'read' }),
    });
    expect(response.status).toBe(200);
    expect(((await response.json()) as Record<string, unknown>)['scope']).toBe('read');
  });

  it('uses the client access-token lifetime override and the issuer as audience when the client lists none', async () => {
    const { body } = await token({ grant_type: 'client_credentials' }, { authorization: basicAuth('short', shortSecret) });
    expect(body['expires_in']).toBe(120);
    expect(body).not.toHaveProperty('scope');
    const claims = claimsOf(body['access_token'] as string);
    expect((claims['exp'] as number) - (claims['iat'] as number)).toBe(120);
    expect(claims['aud']).toBe('http://localhost:8080');
    expect(claims).not.toHaveProperty('scope');
    // Asked for by name, that default audience is the client's too.
    const named = await token({ grant_type: 'client_credentials', audience: 'http://localhost:8080' }, { authorization: basicAuth('short', shortSecret) });
    expect(named.status).toBe(200);
    expect(claimsOf(named.body['access_token'] as string)['aud']).toBe('http://localhost:8080');
    expect(await token({ grant_type: 'client_credentials', audience: 'http://localhost:8080' }, { authorization: basicAuth('svc', serviceSecret) })).toMatchObject({
      status: 400,
      body: { error: 'invalid_target' },
    });
  });

  it('refuses public clients with unauthorized_client', async () => {
    expect(await token({ grant_type: 'client_credentials', client_id: 'spa' })).toMatchObject({
      status: 400,
      body: { error: 'unauthorized_client' },
    });
  });
});

describe('client authentication', () => {
  it('answers a wrong Basic secret with 401 invalid_client and a Basic challenge', async () => {
    const { status, headers, body } = await token({ grant_type: 'client_credentials' }, { authorization: basicAuth('svc', 'wrong') });
    expect(status).toBe(401);
    expect(body).toEqual({ error: 'invalid_client', error_description: 'client authentication failed' });
    expect(headers.get('www-authenticate')).toBe('Basic realm="authd", charset="UTF-8"');
  });

  it('answers a wrong post secret, an unknown client and a secret sent by a public client with 401 and no challenge', async () => {
    const attempts: Record<string, string>[] = [
      { client_id: 'svc', client_secret: 'wrong' },
      { client_id: 'ghost', client_secret: 'x' },
      { client_id: 'spa', client_secret: 'anything' },
      { client_id: 'svc' },
    ];
    for (const params of attempts) {
      const { status, headers, body } = await token({ grant_type: 'client_credentials', ...params });
      expect(status).toBe(401);
      expect(body['error']).toBe('invalid_client');
      expect(headers.get('www-authenticate')).toBeNull();
    }
  });

  it('answers a client_id no client can have (a NUL byte, a space, 129 characters) with 401 invalid_client, never a 500', async () => {
    for (const clientId of ['sv\u0000c', 'svc ', 'a'.repeat(129)]) {
      const posted = await token({ grant_type: 'client_credentials', client_id: clientId, client_secret: serviceSecret });
      expect([posted.status, posted.body]).toEqual([401, { error: 'invalid_client', error_description: 'client authentication failed' }]);
      const basic = await token({ grant_type: 'client_credentials' }, { authorization: basicAuth(clientId, serviceSecret) });
      expect([basic.status, basic.body['error']]).toEqual([401, 'invalid_client']);
      expect(basic.headers.get('www-authenticate')).toBe('Basic realm="authd", charset="UTF-8"');
    }
  });

  it('refuses two authentication methods at once and a malformed Basic header', async () => {
    expect(await token({ grant_type: 'client_credentials', client_secret: serviceSecret }, { authorization: basicAuth('svc', serviceSecret) }))
      .toMatchObject({ status: 400, body: { error: 'invalid_request' } });
    const malformed = await token({ grant_type: 'client_credentials' }, { authorization: 'Basic !!!' });
    expect(malformed.status).toBe(401);
    expect(malformed.headers.get('www-authenticate')).toContain('Basic');
  });

  it('takes Basic credentials after more than one space (RFC 9110 §11.4)', async () => {
    const spaced = basicAuth('svc', serviceSecret).replace('Basic ', 'Basic   ');
    expect((await token({ grant_type: 'client_credentials' }, { authorization: spaced })).status).toBe(200);
  });

  it('takes an empty Basic secret as none: a public client passes, a confidential one does not', async () => {
    const refresh = { grant_type: 'refresh_token', refresh_token: `rt_${'A'.repeat(43)}` };
    expect(await token(refresh, { authorization: basicAuth('spa', '') })).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    const confidential = await token({ grant_type: 'client_credentials' }, { authorization: basicAuth('svc', '') });
    expect([confidential.status, confidential.body]).toEqual([401, { error: 'invalid_client', error_description: 'client authentication failed' }]);
    expect(confidential.headers.get('www-authenticate')).toBe('Basic realm="authd", charset="UTF-8"');
  });

  it('refuses a grant the client is not registered for', async () => {
    expect(await token({ grant_type: 'password', username: 'a', password: 'b' }, { authorization: basicAuth('svc', serviceSecret) }))
      .toMatchObject({ status: 400, body: { error: 'unauthorized_client' } });
  });

  it('takes RFC 8707 resource as the audience asked for; audience and resource must agree', async () => {
    const auth = { authorization: basicAuth('svc', serviceSecret) };
    const asResource = await token({ grant_type: 'client_credentials', resource: 'https://api.example.test' }, auth);
    expect(asResource.status).toBe(200);
    expect(claimsOf(asResource.body['access_token'] as string)['aud']).toBe('https://api.example.test');
    expect(await token({ grant_type: 'client_credentials', resource: 'https://x.example.test' }, auth)).toMatchObject({ status: 400, body: { error: 'invalid_target' } });
    for (const resource of ['api.example.test', 'https://api.example.test#part']) {
      const answer = await token({ grant_type: 'client_credentials', resource }, auth);
      expect([answer.status, answer.body]).toEqual([400, { error: 'invalid_target', error_description: 'resource must be an absolute URI without a fragment' }]);
    }
    const both = await token({ grant_type: 'client_credentials', audience: 'https://api.example.test', resource: 'https://x.example.test' }, auth);
    expect([both.status, both.body]).toEqual([400, { error: 'invalid_target', error_description: 'audience and resource name different targets' }]);
  });

  it('refuses more than one resource with invalid_target (RFC 8707 §2): a token has one audience', async () => {
    const post = (body: string, type: string) =>
      fetch(`${server.baseUrl}/token`, { method: 'POST', headers: { 'content-type': type, authorization: basicAuth('svc', serviceSecret) }, body });
    const oneAudience = { error: 'invalid_target', error_description: 'a token has one audience: send one resource' };
    const answers = [
      await post('grant_type=client_credentials&resource=https%3A%2F%2Fapi.example.test&resource=https%3A%2F%2Fx.example.test', 'application/x-www-form-urlencoded'),
      await post('grant_type=client_credentials&resource=https%3A%2F%2Fapi.example.test&resource=https%3A%2F%2Fapi.example.test', 'application/x-www-form-urlencoded'),
      await post(JSON.stringify({ grant_type: 'client_credentials', resource: ['https://api.example.test', 'https://x.example.test'] }), 'application/json'),
    ];
    for (const answer of answers) expect([answer.status, await answer.json()]).toEqual([400, oneAudience]);
    // One resource in a JSON list is one resource; any other parameter sent twice is still malformed.
    const single = await post(JSON.stringify({ grant_type: 'client_credentials', resource: ['https://api.example.test'] }), 'application/json');
    expect(single.status).toBe(200);
    const scopeTwice = await post('grant_type=client_credentials&scope=read&scope=read', 'application/x-www-form-urlencoded');
    expect([scopeTwice.status, await scopeTwice.json()]).toEqual([400, { error: 'invalid_request', error_description: "parameter 'scope' sent more than once" }]);
  });

  it('refuses scopes and audiences the client does not have', async () => {
    const auth = { authorization: basicAuth('svc', serviceSecret) };
    expect(await token({ grant_type: 'client_credentials', scope: 'read delete' }, auth)).toMatchObject({ status: 400, body: { error: 'invalid_scope' } });
    // RFC 6749 §3.3: a scope is one or more tokens; a value of spaces alone asks for none, and is malformed.
    for (const scope of [' ', '   ']) {
      const answer = await token({ grant_type: 'client_credentials', scope }, auth);
      expect([answer.status, answer.body]).toEqual([400, { error: 'invalid_scope', error_description: 'scope must name at least one scope' }]);
    }
    expect(await token({ grant_type: 'client_credentials', audience: 'https://x.example.test' }, auth)).toMatchObject({
      status: 400,
      body: { error: 'invalid_target' },
    });
  });
});

describe('request handling at /token', () => {
  it('names unsupported and missing grant types', async () => {
    expect(await token({ grant_type: 'implicit', client_id: 'spa' })).toMatchObject({ status: 400, body: { error: 'unsupported_grant_type' } });
    expect(await token({ client_id: 'spa' })).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
  });

  it('refuses other content types and a missing body type with invalid_request', async () => {
    for (const headers of [{ 'content-type': 'text/plain' }, {} as Record<string, string>]) {
      const response = await fetch(`${server.baseUrl}/token`, { method: 'POST', headers, body: 'grant_type=client_credentials' });
      expect(response.status).toBe(400);
      expect(((await response.json()) as Record<string, unknown>)['error']).toBe('invalid_request');
    }
  });

  it('answers a body over 16 KiB with 413 {"error":"invalid_request"}', async () => {
    const response = await fetch(`${server.baseUrl}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `grant_type=client_credentials&pad=${'a'.repeat(17 * 1024)}`,
    });
    expect(response.status).toBe(413);
    expect(await response.json()).toEqual({ error: 'invalid_request' });
  });

  it('accepts a body just under 16 KiB', async () => {
    const params = { grant_type: 'client_credentials', client_id: 'svc', client_secret: serviceSecret };
    const base = new URLSearchParams(params).toString();
    const response = await fetch(`${server.baseUrl}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `${base}&pad=${'a'.repeat(16 * 1024 - base.length - 5)}`,
    });
    expect(response.status).toBe(200);
  });

  it('reads the media type case-insensitively, with parameters, for forms and JSON alike', async () => {
    const params = { grant_type: 'client_credentials', client_id: 'svc', client_secret: serviceSecret };
    const form = await fetch(`${server.baseUrl}/token`, {
      method: 'POST',
      headers: { 'content-type': 'Application/X-WWW-Form-Urlencoded ; charset=UTF-8' },
      body: new URLSearchParams(params).toString(),
    });
    expect(form.status).toBe(200);
    const json = await fetch(`${server.baseUrl}/token`, { method: 'POST', headers: { 'content-type': 'application/json; charset=utf-8' }, body: JSON.stringify(params) });
    expect(json.status).toBe(200);
  });

  /** A POST to /token with `headers` as given (a list value is sent as that many header lines) and `body` as bytes. */
  const rawPost = (headers: Record<string, string | string[]>, body: Buffer) =>
    new Promise<{ status: number; body: unknown }>((resolve, reject) => {
      const request = httpRequest(`${server.baseUrl}/token`, { method: 'POST', headers }, (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: JSON.parse(text) as unknown }));
      });
      request.on('error', reject);
      request.end(body);
    });

  it('refuses a second Authorization or Content-Type, which node would drop, with 400 invalid_request', async () => {
    const form = 'application/x-www-form-urlencoded';
    const body = Buffer.from('grant_type=client_credentials');
    const basic = basicAuth('svc', serviceSecret);
    expect(await rawPost({ 'content-type': form, authorization: [basic, basicAuth('spa', '')] }, body)).toEqual({
      status: 400,
      body: { error: 'invalid_request', error_description: 'Authorization sent more than once' },
    });
    expect(await rawPost({ 'content-type': [form, 'application/json'], authorization: basic }, body)).toEqual({
      status: 400,
      body: { error: 'invalid_request', error_description: 'Content-Type sent more than once' },
    });
    expect((await rawPost({ 'content-type': form, authorization: basic }, body)).status).toBe(200);
  });

  it('takes UTF-8 bodies only: bytes, percent-escapes or JSON escapes that are not UTF-8 are 400 invalid_request, whatever the charset says', async () => {
    const auth = { authorization: basicAuth('svc', serviceSecret) };
    const notUtf8 = { status: 400, body: { error: 'invalid_request', error_description: 'the body must be UTF-8' } };
    const form = (charset: string) => ({ ...auth, 'content-type': `application/x-www-form-urlencoded${charset}` });
    const json = { ...auth, 'content-type': 'application/json' };
    const latin1Scope = Buffer.concat([Buffer.from('grant_type=client_credentials&scope=r'), Buffer.from([0xe4]), Buffer.from('d')]);
    expect(await rawPost(form('; charset=ISO-8859-1'), latin1Scope)).toEqual(notUtf8);
    expect(await rawPost(form(''), latin1Scope)).toEqual(notUtf8);
    expect(await rawPost(form(''), Buffer.from('grant_type=client_credentials&scope=r%E4d'))).toEqual(notUtf8);
    expect(await rawPost(json, Buffer.concat([Buffer.from('{"grant_type":"client_credentials","x":"'), Buffer.from([0xff]), Buffer.from('"}')]))).toEqual(notUtf8);
    for (const escaped of ['"\\ud800"', '"a\\udfffb"', '["\\ud800"]']) {
      expect([escaped, await rawPost(json, Buffer.from(`{"grant_type":"client_credentials","scope":${escaped}}`))]).toEqual([escaped, notUtf8]);
    }
    // An ASCII body means the same in UTF-8 whatever its label says (Apache HttpClient sends ISO-8859-1).
    for (const charset of ['; charset=UTF-8', ';charset="utf-8"', '; charset=utf8', '; charset=ISO-8859-1', '']) {
      // A UTF-8 escape passes: the scope it spells is merely not the client's.
      const accented = await rawPost(form(charset), Buffer.from('grant_type=client_credentials&scope=r%C3%A9ad'));
      expect([charset, accented.status, (accented.body as { error: string }).error]).toEqual([charset, 400, 'invalid_scope']);
      expect([charset, (await rawPost(form(charset), Buffer.from('grant_type=client_credentials&scope=read'))).status]).toEqual([charset, 200]);
    }
  });

  it('stops reading a chunked body at 16 KiB (no Content-Length to trust) with 413 {"error":"invalid_request"}', async () => {
    const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const request = httpRequest(`${server.baseUrl}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' } }, (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text }));
      });
      request.on('error', reject);
      request.write('grant_type=client_credentials&pad=');
      for (let chunk = 0; chunk < 20; chunk += 1) request.write('a'.repeat(1024));
      request.end();
    });
    expect(status).toBe(413);
    expect(JSON.parse(body)).toEqual({ error: 'invalid_request' });
  });

  it("sends no CORS headers when CORS_ORIGINS is unset, preflight or not, and takes POSTs from another site's pages for none", async () => {
    const origin = { origin: 'https://evil.example.test' };
    const preflight = await fetch(`${server.baseUrl}/token`, { method: 'OPTIONS', headers: { ...origin, 'access-control-request-method': 'POST' } });
    const post = await token({ grant_type: 'client_credentials' }, { ...origin, authorization: basicAuth('svc', serviceSecret) });
    expect([post.status, post.body]).toEqual([400, { error: 'invalid_request', error_description: 'requests from web pages of this origin are not accepted' }]);
    const sameSite = await token({ grant_type: 'client_credentials' }, { origin: new URL(server.config.issuer).origin, authorization: basicAuth('svc', serviceSecret) });
    expect(sameSite.status).toBe(200);
    for (const headers of [preflight.headers, post.headers, sameSite.headers]) {
      expect([...headers.keys()].filter((name) => name.startsWith('access-control-'))).toEqual([]);
    }
  });

  it('treats a parameter sent without a value as omitted (RFC 6749 §3.1), in a form and in JSON', async () => {
    const basic = { authorization: basicAuth('svc', serviceSecret) };
    const form = await postForm(`${server.baseUrl}/token`, { grant_type: 'client_credentials', scope: '', audience: '' }, basic);
    expect(form.status).toBe(200);
    expect(form.body['scope']).toBe('read write');
    expect(claimsOf(form.body['access_token'] as string)).toMatchObject({ scope: 'read write', aud: 'https://api.example.test' });

    const bare = await fetch(`${server.baseUrl}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...basic },
      body: 'grant_type=client_credentials&scope&audience',
    });
    expect(bare.status).toBe(200);
    expect(((await bare.json()) as Record<string, unknown>)['scope']).toBe('read write');

    const json = await fetch(`${server.baseUrl}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ grant_type: 'client_credentials', client_id: 'svc', client_secret: serviceSecret, scope: null, audience: '' }),
    });
    expect(json.status).toBe(200);
    expect(((await json.json()) as Record<string, unknown>)['scope']).toBe('read write');

    // An empty client_secret leaves a public client public (it gets the public client's answer, not
    // 401 invalid_client); an empty client_id beside Basic is no client_id.
    expect(await token({ grant_type: 'client_credentials', client_id: 'spa', client_secret: '' })).toMatchObject({
      status: 400,
      body: { error: 'unauthorized_client' },
    });
    expect((await token({ grant_type: 'client_credentials', client_id: '' }, basic)).status).toBe(200);
    expect(await token({ grant_type: '', client_id: 'spa' })).toMatchObject({ status: 400, body: { error: 'invalid_request', error_description: 'grant_type is required' } });
  });

  it('ignores JSON parameters it does not read, whatever their value (RFC 6749 §3.2)', async () => {
    const response = await fetch(`${server.baseUrl}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ grant_type: 'client_credentials', client_id: 'svc', client_secret: serviceSecret, x: 1, extra: { a: 1 }, list: ['a', 'b'], flag: true }),
    });
    expect(response.status).toBe(200);
    // A name repeated inside a nested value, or a name's text inside a string, is no repeated parameter.
    const nested = await fetch(`${server.baseUrl}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: `{"grant_type":"client_credentials","client_id":"svc","client_secret":${JSON.stringify(serviceSecret)},"x":{"scope":1,"scope":[{"scope":2}]},"note":"\\"scope\\": \\"write\\"","scope":"read"}`,
    });
    expect(nested.status).toBe(200);
    expect(((await nested.json()) as Record<string, unknown>)['scope']).toBe('read');
  });

  it('answers malformed JSON, non-object JSON, non-string values and repeated parameters with 400 invalid_request', async () => {
    const send = (body: string, type = 'application/json') =>
      fetch(`${server.baseUrl}/token`, { method: 'POST', headers: { 'content-type': type }, body });
    for (const response of await Promise.all([
      send('{"grant_type": '),
      send('["client_credentials"]'),
      send('{"grant_type": 5}'),
      send('{"grant_type": ["client_credentials"]}'),
      send(JSON.stringify({ grant_type: 'client_credentials', client_id: 'svc', client_secret: serviceSecret, scope: { read: true } })),
      send(JSON.stringify({ grant_type: 'client_credentials', client_id: 'svc', client_secret: serviceSecret, audience: ['a', 'b'] })),
      send('{"grant_type": "client_credentials", "client_id": 5}'),
      send('grant_type=client_credentials&grant_type=password', 'application/x-www-form-urlencoded'),
      send('grant_type=client_credentials&client_id=svc&scope&scope=read', 'application/x-www-form-urlencoded'),
      send('{"grant_type": "client_credentials", "scope": "write", "scope": "read"}'),
      send('{"grant_type": "client_credentials", "\\u0073cope": "write", "scope": "read"}'),
      send('{"grant_type": "client_credentials", "scope": "", "scope" : "read"}'),
      send('grant_type[a]=x', 'application/x-www-form-urlencoded'),
    ])) {
      expect(response.status).toBe(400);
      const body = (await response.json()) as Record<string, unknown>;
      expect(body['error']).toBe('invalid_request');
      expect(JSON.stringify(body)).not.toMatch(/at .*\.(js|ts)|SyntaxError/);
    }
  });
});
