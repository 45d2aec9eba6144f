import { createHmac, createPrivateKey, generateKeyPairSync, sign } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { familyIdOf } from '../support/database.js';
import { basicAuth, fixtures, postForm, type Fixtures } from '../support/fixtures.js';
import { metricValue } from '../support/metrics.js';
import { startTestServer, type TestServer } from '../support/server.js';

let server: TestServer;
let seed: Fixtures;
const secrets: Record<string, string> = {};

beforeAll(async () => {
  server = await startTestServer();
  seed = fixtures(server);
  await seed.addUser('alice', 'pw-alice', { roles: ['reader'] });
  secrets['web'] = (await seed.addClient({ clientId: 'web', grants: ['password', 'refresh_token'], scopes: ['read'] }))!;
  secrets['svc'] = (await seed.addClient({ clientId: 'svc', scopes: ['read'], audiences: ['https://api.example.test'] }))!;
  secrets['rs'] = (await seed.addClient({ clientId: 'rs' }))!;
  await seed.addClient({ clientId: 'spa', public: true, grants: ['password', 'refresh_token'] });
});
afterAll(async () => {
  await seed.close();
  await server.stop();
});

const as = (clientId: string) => ({ authorization: basicAuth(clientId, secrets[clientId]!) });
const introspect = async (token: string) => (await postForm(`${server.baseUrl}/introspect`, { token }, as('rs'))).body;
const revoke = (token: string, clientId: string, hint?: string) =>
  postForm(`${server.baseUrl}/revoke`, { token, ...(hint ? { token_type_hint: hint } : {}) }, as(clientId));
const serviceToken = async () =>
  (await postForm(`${server.baseUrl}/token`, { grant_type: 'client_credentials' }, as('svc'))).body['access_token'] as string;
const userTokens = async () =>
  (await postForm(`${server.baseUrl}/token`, { grant_type: 'password', username: 'alice', password: 'pw-alice' }, as('web'))).body as {
    access_token: string;
    refresh_token: string;
  };
const parts = (jwt: string) => jwt.split('.') as [string, string, string];
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

describe('POST /introspect', () => {
  it('reports an access token active with its claims and token_type', async () => {
    const token = await serviceToken();
    const body = await introspect(token);
    const claims = JSON.parse(Buffer.from(parts(token)[1], 'base64url').toString()) as Record<string, unknown>;
    expect(body).toEqual({ ...claims, active: true, token_type: 'access_token' });
  });

  it('answers with Cache-Control: no-store and Pragma: no-cache, active or not', async () => {
    for (const token of [await serviceToken(), 'garbage']) {
      const { headers } = await postForm(`${server.baseUrl}/introspect`, { token }, as('rs'));
      expect([headers.get('cache-control'), headers.get('pragma')]).toEqual(['no-store', 'no-cache']);
    }
  });

  it('reports a refresh token with client_id, sub, scope and exp only', async () => {
    const { refresh_token } = await userTokens();
    const body = await introspect(refresh_token);
    expect(Object.keys(body).sort()).toEqual(['active', 'client_id', 'exp', 'scope', 'sub', 'token_type']);
    expect(body).toMatchObject({ active: true, token_type: 'refresh_token', client_id: 'web', scope: 'read' });
    expect(JSON.stringify(body)).not.toMatch(/[0-9a-f]{64}/);
  });

  it("reports a disabled user's refresh token inactive before their sessions are revoked, and lets another client's /revoke pass it by", async () => {
    await seed.addUser('carol', 'pw-carol');
    const { refresh_token: refreshToken } = (
      await postForm(`${server.baseUrl}/token`, { grant_type: 'password', username: 'carol', password: 'pw-carol' }, as('web'))
    ).body as { refresh_token: string };
    expect(await introspect(refreshToken)).toMatchObject({ active: true });
    // What `user disable` commits first; its sessions' revocation follows in another transaction.
    await server.db.query("UPDATE users SET disabled = true WHERE username = 'carol'");
    expect(await introspect(refreshToken)).toEqual({ active: false });
    expect((await revoke(refreshToken, 'svc')).status).toBe(200);
    expect(await server.db.query('SELECT revoked_at FROM refresh_tokens WHERE user_id = (SELECT id FROM users WHERE username = $1)', ['carol'])).toEqual([
      { revoked_at: null },
    ]);
  });

  it('requires a confidential client', async () => {
    const token = await serviceToken();
    const publicClient = await postForm(`${server.baseUrl}/introspect`, { token, client_id: 'spa' });
    expect(publicClient).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
    const wrong = await postForm(`${server.baseUrl}/introspect`, { token }, { authorization: basicAuth('rs', 'nope') });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('www-authenticate')).toContain('Basic');
  });

  describe('attacks on verification all come back {active:false}', () => {
    it('alg none', async () => {
      const [header, payload] = parts(await serviceToken());
      const decoded = JSON.parse(Buffer.from(header, 'base64url').toString()) as Record<string, unknown>;
      expect(await introspect(`${b64({ ...decoded, alg: 'none' })}.${payload}.`)).toEqual({ active: false });
    });

    it('alg confusion: HS256 keyed with the public key', async () => {
      const [header, payload] = parts(await serviceToken());
      const { kid } = JSON.parse(Buffer.from(header, 'base64url').toString()) as { kid: string };
      const jwks = (await (await fetch(`${server.baseUrl}/.well-known/jwks.json`)).json()) as { keys: unknown[] };
      const forgedHeader = b64({ alg: 'HS256', typ: 'at+jwt', kid });
      const mac = createHmac('sha256', JSON.stringify(jwks.keys[0])).update(`${forgedHeader}.${payload}`).digest('base64url');
      expect(await introspect(`${forgedHeader}.${payload}.${mac}`)).toEqual({ active: false });
    });

    it('a foreign key under our kid', async () => {
      const [header] = parts(await serviceToken());
      const { kid } = JSON.parse(Buffer.from(header, 'base64url').toString()) as { kid: string };
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const now = Math.floor(Date.now() / 1000);
      const forged = `${b64({ alg: 'ES256', typ: 'at+jwt', kid })}.${b64({ iss: 'http://localhost:8080', sub: 'svc', aud: 'x', exp: now + 600, iat: now, jti: 'forged', client_id: 'svc' })}`;
      const signature = sign('sha256', Buffer.from(forged), { key: privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url');
      expect(await introspect(`${forged}.${signature}`)).toEqual({ active: false });
    });

    it.each(['../../etc/passwd', '__proto__', 'constructor', 'x'.repeat(5000)])('kid injection %#', async (kid) => {
      const [, payload, signature] = parts(await serviceToken());
      expect(await introspect(`${b64({ alg: 'ES256', typ: 'at+jwt', kid })}.${payload}.${signature}`)).toEqual({ active: false });
    });

    describe('signed with our own private key, so that only the header is wrong', () => {
      const signedWithOurKey = async (header: Record<string, unknown>) => {
        const [ourHeader, payload] = parts(await serviceToken());
        const { kid } = JSON.parse(Buffer.from(ourHeader, 'base64url').toString()) as { kid: string };
        const { privateKey } = JSON.parse(await readFile(join(server.keysDir, `${kid}.json`), 'utf8')) as { privateKey: string };
        const signingInput = `${b64({ alg: 'ES256', typ: 'at+jwt', kid, ...header })}.${payload}`;
        const signature = sign('sha256', Buffer.from(signingInput), { key: createPrivateKey(privateKey), dsaEncoding: 'ieee-p1363' });
        return { kid, token: `${signingInput}.${signature.toString('base64url')}` };
      };

      it.each([['at+jwt'], ['application/at+jwt'], ['AT+JWT']])('typ %p is accepted (RFC 9068 §4; the control: the forgery is otherwise valid)', async (typ) => {
        const { token } = await signedWithOurKey({ typ });
        expect(await introspect(token)).toMatchObject({ active: true, client_id: 'svc' });
      });

      it.each([
        ['a file name', (kid: string) => `${kid}.json`],
        ['a relative path', (kid: string) => `./${kid}`],
        ['a path through the keys directory', (kid: string) => `../${basename(server.keysDir)}/${kid}`],
        ['a trailing space', (kid: string) => `${kid} `],
        ['a trailing NUL', (kid: string) => `${kid}\u0000`],
        ['a trailing slash', (kid: string) => `${kid}/`],
      ])('a kid naming our key by %s', async (_, variant) => {
        const { kid } = await signedWithOurKey({});
        const { token } = await signedWithOurKey({ kid: variant(kid) });
        expect(await introspect(token)).toEqual({ active: false });
      });

      it.each([['JWT'], ['jwt'], ['application/jwt'], ['at+jwt; x=y'], [undefined]])('typ %p', async (typ) => {
        const { token } = await signedWithOurKey({ typ });
        expect(await introspect(token)).toEqual({ active: false });
      });
    });

    it('a tampered payload, a wrong typ, garbage and an empty-looking token', async () => {
      const [header, payload, signature] = parts(await serviceToken());
      const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
      expect(await introspect(`${header}.${b64({ ...claims, sub: 'admin' })}.${signature}`)).toEqual({ active: false });
      const jwtHeader = JSON.parse(Buffer.from(header, 'base64url').toString()) as Record<string, unknown>;
      expect(await introspect(`${b64({ ...jwtHeader, typ: 'JWT' })}.${payload}.${signature}`)).toEqual({ active: false });
      expect(await introspect('not.a.jwt')).toEqual({ active: false });
      expect(await introspect('rt_short')).toEqual({ active: false });
    });
  });

  it('never puts a key file private member in any response', async () => {
    const files = (await readdir(server.keysDir)).filter((name) => name.endsWith('.json'));
    const { privateKey } = JSON.parse(await readFile(join(server.keysDir, files[0]!), 'utf8')) as { privateKey: string };
    const jwks = await (await fetch(`${server.baseUrl}/.well-known/jwks.json`)).text();
    expect(jwks).not.toContain(privateKey.split('\n')[1]!);
    expect(jwks).not.toContain('"d"');
  });
});

describe('POST /revoke', () => {
  it('denylists an access token until its expiry: introspection false, Redis key with TTL ≤ remaining life', async () => {
    const token = await serviceToken();
    const { jti, exp } = JSON.parse(Buffer.from(parts(token)[1], 'base64url').toString()) as { jti: string; exp: number };
    const response = await revoke(token, 'svc', 'access_token');
    expect(response.status).toBe(200);
    expect(response.body).toBe('');
    expect(await introspect(token)).toEqual({ active: false });
    expect(await server.redis.client.get(`authd:revoked:${jti}`)).toBe('revoked');
    const ttl = await server.redis.client.ttl(`authd:revoked:${jti}`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(exp - Math.floor(Date.now() / 1000) + 1);
    const rows = await server.db.query<{ reason: string; expires_at: Date }>('SELECT reason, expires_at FROM revocations WHERE jti = $1', [jti]);
    expect(rows).toEqual([{ reason: 'revoked', expires_at: new Date(exp * 1000) }]);
  });

  it('denylists a token whose nbf is still ahead of its clock (issued by an instance whose clock runs ahead)', async () => {
    const [header, payload] = parts(await serviceToken());
    const { kid } = JSON.parse(Buffer.from(header, 'base64url').toString()) as { kid: string };
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as { jti: string; nbf: number; iat: number; exp: number };
    const ahead = { ...claims, jti: `${claims.jti}-ahead`, nbf: claims.nbf + 30, iat: claims.iat + 30, exp: claims.exp + 30 };
    const { privateKey } = JSON.parse(await readFile(join(server.keysDir, `${kid}.json`), 'utf8')) as { privateKey: string };
    const signingInput = `${header}.${b64(ahead)}`;
    const signature = sign('sha256', Buffer.from(signingInput), { key: createPrivateKey(privateKey), dsaEncoding: 'ieee-p1363' });
    const token = `${signingInput}.${signature.toString('base64url')}`;
    expect(await introspect(token)).toEqual({ active: false });

    expect((await revoke(token, 'rs')).status).toBe(400);
    expect(await server.redis.client.get(`authd:revoked:${ahead.jti}`)).toBeNull();
    expect((await revoke(token, 'svc')).status).toBe(200);
    expect(await server.redis.client.get(`authd:revoked:${ahead.jti}`)).toBe('revoked');
    const rows = await server.db.query<{ expires_at: Date }>('SELECT expires_at FROM revocations WHERE jti = $1', [ahead.jti]);
    expect(rows).toEqual([{ expires_at: new Date(ahead.exp * 1000) }]);
  });

  it('denylists a token expired here by less than the skew margin (a clock behind may still take it), and not one expired longer', async () => {
    const [header, payload] = parts(await serviceToken());
    const { kid } = JSON.parse(Buffer.from(header, 'base64url').toString()) as { kid: string };
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as { jti: string; nbf: number; iat: number; exp: number };
    const { privateKey } = JSON.parse(await readFile(join(server.keysDir, `${kid}.json`), 'utf8')) as { privateKey: string };
    const now = Math.floor(Date.now() / 1000);
    const expiredAgo = (seconds: number, jti: string) => {
      const signingInput = `${header}.${b64({ ...claims, jti, iat: now - 900, nbf: now - 900, exp: now - seconds })}`;
      const signature = sign('sha256', Buffer.from(signingInput), { key: createPrivateKey(privateKey), dsaEncoding: 'ieee-p1363' });
      return `${signingInput}.${signature.toString('base64url')}`;
    };
    const revokedRows = (jti: string) => server.db.query<{ reason: string; expires_at: Date }>('SELECT reason, expires_at FROM revocations WHERE jti = $1', [jti]);

    // Another client's: an invalid token to it (200), left alone.
    expect(await revoke(expiredAgo(30, `${claims.jti}-lately`), 'rs')).toMatchObject({ status: 200, body: '' });
    expect(await revokedRows(`${claims.jti}-lately`)).toEqual([]);
    expect((await revoke(expiredAgo(30, `${claims.jti}-lately`), 'svc')).status).toBe(200);
    expect(await revokedRows(`${claims.jti}-lately`)).toEqual([{ reason: 'revoked', expires_at: new Date((now - 30) * 1000) }]);
    expect((await revoke(expiredAgo(300, `${claims.jti}-long-ago`), 'svc')).status).toBe(200);
    expect(await revokedRows(`${claims.jti}-long-ago`)).toEqual([]);
  });

  it('counts the revocations it makes by token type in /metrics, and not the no-ops', async () => {
    const revoked = (type: string) => metricValue(server.baseUrl, `authd_revocations_total{token_type="${type}"}`);
    const before = [await revoked('access_token'), await revoked('refresh_token')];
    const linesBefore = server.logs.lines.length;
    const accessToken = await serviceToken();
    const { refresh_token: refreshToken } = await userTokens();
    // Each revoked twice (a logout sent again): the second changes nothing, and is neither counted nor audited.
    for (let time = 0; time < 2; time += 1) {
      expect((await revoke(accessToken, 'svc')).status).toBe(200);
      expect((await revoke(refreshToken, 'web')).status).toBe(200);
    }
    expect((await revoke('garbage', 'svc')).status).toBe(200);
    expect((await revoke(`rt_${'C'.repeat(43)}`, 'svc')).status).toBe(200);
    expect([await revoked('access_token'), await revoked('refresh_token')]).toEqual([before[0]! + 1, before[1]! + 1]);
    const audited = server.logs.lines.slice(linesBefore).filter((line) => line['audit'] === true).map((line) => line['event']);
    expect(audited.filter((event) => event === 'token_revoked' || event === 'family_revoked').sort()).toEqual(['family_revoked', 'token_revoked']);
  });

  it('counts and audits once an access token revoked by many requests at once', async () => {
    const revoked = () => metricValue(server.baseUrl, 'authd_revocations_total{token_type="access_token"}');
    const before = await revoked();
    const linesBefore = server.logs.lines.length;
    const token = await serviceToken();
    const { jti } = JSON.parse(Buffer.from(parts(token)[1], 'base64url').toString()) as { jti: string };
    // Twelve connections open first, so that the twelve revocations reach the server together.
    await Promise.all(Array.from({ length: 12 }, () => revoke('garbage', 'svc')));
    const answers = await Promise.all(Array.from({ length: 12 }, () => revoke(token, 'svc')));
    expect(answers.map((answer) => answer.status)).toEqual(Array(12).fill(200));
    expect(await revoked()).toBe(before + 1);
    const audited = server.logs.lines.slice(linesBefore).filter((line) => line['event'] === 'token_revoked' && line['jti'] === jti);
    expect(audited).toHaveLength(1);
    expect(await server.redis.client.get(`authd:revoked:${jti}`)).toBe('revoked');
  });

  it('revokes a refresh token family with its access tokens, whatever the hint says', async () => {
    const { access_token, refresh_token } = await userTokens();
    expect((await revoke(refresh_token, 'web', 'access_token')).status).toBe(200);
    expect(await introspect(refresh_token)).toEqual({ active: false });
    expect(await introspect(access_token)).toEqual({ active: false });
    expect(await postForm(`${server.baseUrl}/token/refresh`, { refresh_token }, as('web'))).toMatchObject({ status: 400 });
  });

  it('refuses a valid token of another client with 400 unauthorized_client and leaves it alone', async () => {
    const token = await serviceToken();
    expect(await revoke(token, 'web')).toMatchObject({ status: 400, body: { error: 'unauthorized_client' } });
    expect(await introspect(token)).toMatchObject({ active: true });
    const { refresh_token } = await userTokens();
    expect(await revoke(refresh_token, 'svc')).toMatchObject({ status: 400, body: { error: 'unauthorized_client' } });
    expect(await introspect(refresh_token)).toMatchObject({ active: true });
  });

  it("tells the audit log of every revocation of another client's token, live or not: the answer tells its sender which", async () => {
    const linesBefore = server.logs.lines.length;
    const told = () => server.logs.lines.slice(linesBefore).filter((line) => line['event'] === 'token_of_another_client');
    const access = await serviceToken();
    const { jti } = JSON.parse(Buffer.from(parts(access)[1], 'base64url').toString()) as { jti: string };
    const { refresh_token: spent } = await userTokens();
    const familyId = await familyIdOf(server.db, spent);
    expect((await postForm(`${server.baseUrl}/token/refresh`, { refresh_token: spent }, as('web'))).status).toBe(200);

    expect((await revoke(access, 'web')).status).toBe(400);
    expect((await revoke(spent, 'svc')).status).toBe(200);
    expect(told()).toEqual([
      expect.objectContaining({ audit: true, token_type: 'access_token', jti, client_id: 'web', owner_client_id: 'svc' }),
      expect.objectContaining({ audit: true, token_type: 'refresh_token', family_id: familyId, client_id: 'svc', owner_client_id: 'web' }),
    ]);
    expect(told().map((line) => JSON.stringify(line)).join('\n')).not.toContain(access.split('.')[2]!);
  });

  it("answers another client's spent, revoked or family-revoked token as an unknown one: 200, and nothing changes", async () => {
    const { refresh_token: spent } = await userTokens();
    const rotated = await postForm(`${server.baseUrl}/token/refresh`, { refresh_token: spent }, as('web'));
    const successor = rotated.body['refresh_token'] as string;
    const revokedToken = await serviceToken();
    expect((await revoke(revokedToken, 'svc')).status).toBe(200);
    const before = await server.db.query('SELECT jti FROM revocations ORDER BY jti');

    expect(await revoke(spent, 'svc')).toMatchObject({ status: 200, body: '' });
    expect(await revoke(revokedToken, 'web')).toMatchObject({ status: 200, body: '' });
    expect(await introspect(successor)).toMatchObject({ active: true, client_id: 'web' });
    expect(await server.db.query('SELECT jti FROM revocations ORDER BY jti')).toEqual(before);

    expect((await revoke(successor, 'web')).status).toBe(200);
    const familyRevoked = await server.db.query('SELECT jti FROM revocations ORDER BY jti');
    expect(await revoke(successor, 'svc')).toMatchObject({ status: 200, body: '' });
    expect(await server.db.query('SELECT jti FROM revocations ORDER BY jti')).toEqual(familyRevoked);
  });

  it('answers 200 with no effect for garbage, unknown and foreign tokens', async () => {
    const [header] = parts(await serviceToken());
    const { kid } = JSON.parse(Buffer.from(header, 'base64url').toString()) as { kid: string };
    const now = Math.floor(Date.now() / 1000);
    const foreignInput = `${b64({ alg: 'ES256', typ: 'at+jwt', kid })}.${b64({ iss: 'http://localhost:8080', sub: 'svc', aud: 'x', exp: now + 600, iat: now, jti: 'foreign', client_id: 'svc' })}`;
    const foreignSignature = sign('sha256', Buffer.from(foreignInput), { key: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey, dsaEncoding: 'ieee-p1363' });
    const before = await server.db.query('SELECT jti FROM revocations ORDER BY jti');
    for (const token of ['garbage', `rt_${'B'.repeat(43)}`, 'a.b.c', `${foreignInput}.${foreignSignature.toString('base64url')}`]) {
      expect(await revoke(token, 'svc')).toMatchObject({ status: 200, body: '' });
    }
    expect(await server.db.query('SELECT jti FROM revocations ORDER BY jti')).toEqual(before);
    expect(await server.redis.client.exists('authd:revoked:foreign')).toBe(0);
  });

  it("revoking a spent refresh token ends its family: the live successor and the successor's access token", async () => {
    const { refresh_token: spent } = await userTokens();
    const rotated = await postForm(`${server.baseUrl}/token/refresh`, { refresh_token: spent }, as('web'));
    const successor = rotated.body['refresh_token'] as string;
    const { jti } = JSON.parse(Buffer.from(parts(rotated.body['access_token'] as string)[1], 'base64url').toString()) as { jti: string };
    expect(await revoke(spent, 'web')).toMatchObject({ status: 200, body: '' });
    expect(await introspect(successor)).toEqual({ active: false });
    expect(await postForm(`${server.baseUrl}/token/refresh`, { refresh_token: successor }, as('web'))).toMatchObject({
      status: 400,
      body: { error: 'invalid_grant' },
    });
    expect(await server.redis.client.get(`authd:revoked:${jti}`)).toBe('family_revoked');
    expect(await server.db.query('SELECT reason FROM revocations WHERE jti = $1', [jti])).toEqual([{ reason: 'family_revoked' }]);
  });

  it('requires client authentication and a token parameter', async () => {
    expect(await postForm(`${server.baseUrl}/revoke`, { token: 'x' })).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
    expect(await postForm(`${server.baseUrl}/revoke`, {}, as('svc'))).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
  });

  it('lets a public client revoke its own refresh token', async () => {
    const login = await postForm(`${server.baseUrl}/token`, { grant_type: 'password', username: 'alice', password: 'pw-alice', client_id: 'spa' });
    const refreshToken = login.body['refresh_token'] as string;
    expect((await postForm(`${server.baseUrl}/revoke`, { token: refreshToken, client_id: 'spa' })).status).toBe(200);
    expect(await introspect(refreshToken)).toEqual({ active: false });
  });
});
