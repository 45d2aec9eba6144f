import { familyIdOf } from '../support/database.js';
import { basicAuth, fixtures, postForm, type Fixtures } from '../support/fixtures.js';
import { claimsOf, jtiOf } from '../support/jwt.js';
import { tokensIssued } from '../support/metrics.js';
import { startTestServer, type TestServer } from '../support/server.js';

/** A clock the test moves; the server reads all lifetimes from it. */
let now = Date.now();
const clock = { now: () => now };

let server: TestServer;
let seed: Fixtures;
let webSecret: string;
let otherSecret: string;
let rsSecret: string;

beforeAll(async () => {
  server = await startTestServer({
    clock,
    env: { REFRESH_TOKEN_TTL: '3600', REFRESH_FAMILY_MAX_AGE: '7200', LOGIN_MAX_FAILURES: '1000' },
  });
  seed = fixtures(server);
  await seed.addUser('alice', 'pw-alice', { roles: ['reader'] });
  webSecret = (await seed.addClient({ clientId: 'web', grants: ['password', 'refresh_token'], scopes: ['read', 'write'] }))!;
  otherSecret = (await seed.addClient({ clientId: 'other', grants: ['password', 'refresh_token'], scopes: ['read'] }))!;
  rsSecret = (await seed.addClient({ clientId: 'rs' }))!;
});
afterAll(async () => {
  await seed.close();
  await server.stop();
});

const auth = (clientId = 'web', secret = webSecret) => ({ authorization: basicAuth(clientId, secret) });
const login = async () => {
  const { status, body } = await postForm(`${server.baseUrl}/token`, { grant_type: 'password', username: 'alice', password: 'pw-alice' }, auth());
  expect(status).toBe(200);
  return body as { access_token: string; refresh_token: string };
};
const refresh = (refreshToken: string, extra: Record<string, string> = {}, headers = auth()) =>
  postForm(`${server.baseUrl}/token/refresh`, { refresh_token: refreshToken, ...extra }, headers);
const familyRows = (refreshToken: string) =>
  server.db.query<{ revoked_at: Date | null; used_at: Date | null }>(
    `SELECT revoked_at, used_at FROM refresh_tokens WHERE family_id =
       (SELECT family_id FROM refresh_tokens WHERE token_hash = encode(sha256($1::bytea), 'hex'))`,
    [refreshToken],
  );
const introspect = async (token: string) => (await postForm(`${server.baseUrl}/introspect`, { token }, auth('rs', rsSecret))).body;
const revokedJtis = async () => (await server.db.query<{ jti: string }>('SELECT jti FROM revocations')).map((row) => row.jti);

beforeEach(() => {
  now = Date.now();
});

describe('refresh rotation', () => {
  it('returns a new pair in the same family and spends the old token', async () => {
    const first = await login();
    const issuedBefore = await tokensIssued(server.baseUrl, 'refresh_token');
    const { status, headers, body } = await refresh(first.refresh_token);
    expect(status).toBe(200);
    expect(await tokensIssued(server.baseUrl, 'refresh_token')).toBe(issuedBefore + 1);
    expect(headers.get('cache-control')).toBe('no-store');
    expect(Object.keys(body).sort()).toEqual(['access_token', 'expires_in', 'refresh_token', 'scope', 'token_type']);
    expect(body['refresh_token']).not.toBe(first.refresh_token);
    expect(body['refresh_token']).toMatch(/^rt_[A-Za-z0-9_-]{43}$/);
    // The new access token is the session's: its user, roles, client, scope and audience.
    const session = (token: string) => {
      const { sub, roles, client_id, scope, aud, iss } = claimsOf(token);
      return { sub, roles, client_id, scope, aud, iss };
    };
    expect(session(body['access_token'] as string)).toEqual(session(first.access_token));
    expect(session(body['access_token'] as string)).toMatchObject({ roles: ['reader'], client_id: 'web', scope: 'read write' });
    expect(jtiOf(body['access_token'] as string)).not.toBe(jtiOf(first.access_token));
    const rows = await familyRows(first.refresh_token);
    expect(rows).toHaveLength(2);
    expect(rows.filter((row) => row.used_at !== null)).toHaveLength(1);
  });

  it('also works as grant_type=refresh_token at /token, and may narrow but not widen scope', async () => {
    const first = await login();
    const narrowed = await postForm(`${server.baseUrl}/token`, { grant_type: 'refresh_token', refresh_token: first.refresh_token, scope: 'read' }, auth());
    expect(narrowed).toMatchObject({ status: 200, body: { scope: 'read' } });
    const widened = await refresh(narrowed.body['refresh_token'] as string, { scope: 'read delete' });
    expect(widened).toMatchObject({ status: 400, body: { error: 'invalid_scope' } });
    expect((await refresh(narrowed.body['refresh_token'] as string)).body['scope']).toBe('read write');
  });

  it('leaves out of its tokens the scopes the client has lost since the login, and refuses them asked for by name', async () => {
    const narrowedSecret = (await seed.addClient({ clientId: 'narrowed', grants: ['password', 'refresh_token'], scopes: ['read', 'write'] }))!;
    const as = auth('narrowed', narrowedSecret);
    const loggedIn = await postForm(`${server.baseUrl}/token`, { grant_type: 'password', username: 'alice', password: 'pw-alice' }, as);
    expect(loggedIn.body['scope']).toBe('read write');
    await server.db.query(`UPDATE clients SET scopes = '{read}' WHERE client_id = 'narrowed'`);
    now += 11_000; // past the 10 s client cache

    const askedFor = await refresh(loggedIn.body['refresh_token'] as string, { scope: 'write' }, as);
    expect([askedFor.status, askedFor.body['error']]).toEqual([400, 'invalid_scope']);
    // Refused before the token was spent: it still rotates.
    const rotated = await refresh(loggedIn.body['refresh_token'] as string, {}, as);
    expect(rotated).toMatchObject({ status: 200, body: { scope: 'read' } });
    expect(claimsOf(rotated.body['access_token'] as string)['scope']).toBe('read');
    // The session keeps what the user granted: given back to the client, the scope returns.
    await server.db.query(`UPDATE clients SET scopes = '{read,write}' WHERE client_id = 'narrowed'`);
    now += 11_000;
    expect((await refresh(rotated.body['refresh_token'] as string, {}, as)).body['scope']).toBe('read write');
  });

  it('refuses a malformed scope (a NUL byte, a quote, spaces alone) with invalid_scope and leaves the token live', async () => {
    const first = await login();
    for (const scope of ['re\u0000ad', 'read "write"', ' ']) {
      const answer = await refresh(first.refresh_token, { scope });
      expect([answer.status, answer.body['error']]).toEqual([400, 'invalid_scope']);
    }
    expect((await refresh(first.refresh_token)).status).toBe(200);
  });

  it('refuses an audience other than the session’s with invalid_target and leaves the token live (RFC 8707)', async () => {
    const first = await login();
    const elsewhere = await refresh(first.refresh_token, { audience: 'https://elsewhere.example.test' });
    expect([elsewhere.status, elsewhere.body]).toEqual([400, { error: 'invalid_target', error_description: 'audience is not that of the refresh token' }]);
    expect((await familyRows(first.refresh_token)).map((row) => row.used_at)).toEqual([null]);
    const same = await refresh(first.refresh_token, { audience: 'http://localhost:8080' });
    expect(same.status).toBe(200);
    expect(claimsOf(same.body['access_token'] as string)['aud']).toBe('http://localhost:8080');
  });

  it('refuses an audience or resource no client can have (a NUL byte, a control character, a space) with invalid_target before any lookup', async () => {
    const first = await login();
    const unknown = `rt_${'A'.repeat(43)}`;
    for (const token of [first.refresh_token, unknown]) {
      for (const target of ['\u0000', 'https://api.example.test/\u0000', 'https://api.example.test/\u0001', 'http://localhost:8080\u007f', 'https://api.example.test/ x']) {
        for (const name of ['audience', 'resource']) {
          const answer = await refresh(token, { [name]: target });
          expect([name, target, answer.status, answer.body['error']]).toEqual([name, target, 400, 'invalid_target']);
        }
      }
    }
    expect(server.logs.lines.filter((line) => line['msg'] === 'unexpected error')).toEqual([]);
    expect((await familyRows(first.refresh_token)).map((row) => row.used_at)).toEqual([null]);
    expect((await refresh(first.refresh_token)).status).toBe(200);
  });

  it('refuses a token presented by another client, leaves its family alone, and tells the audit log', async () => {
    const first = await login();
    const familyId = await familyIdOf(server.db, first.refresh_token);
    expect(await refresh(first.refresh_token, {}, auth('other', otherSecret))).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect((await familyRows(first.refresh_token)).every((row) => row.revoked_at === null)).toBe(true);
    const told = server.logs.lines.filter((line) => line['event'] === 'token_of_another_client' && line['family_id'] === familyId);
    expect(told).toEqual([expect.objectContaining({ audit: true, token_type: 'refresh_token', client_id: 'other', owner_client_id: 'web' })]);
    expect((await refresh(first.refresh_token)).status).toBe(200);
  });

  it('does not count a spent token presented by another client as reuse: the family stays live', async () => {
    const first = await login();
    const next = await refresh(first.refresh_token);
    expect(next.status).toBe(200);
    expect(await refresh(first.refresh_token, {}, auth('other', otherSecret))).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect((await familyRows(first.refresh_token)).map((row) => row.revoked_at)).toEqual([null, null]);
    expect((await refresh(next.body['refresh_token'] as string)).status).toBe(200);
  });

  it('writes no token, secret, hash or Authorization value into its logs across login, refresh, introspection and revocation', async () => {
    const first = await login();
    const next = (await refresh(first.refresh_token)).body as { access_token: string; refresh_token: string };
    const rsAuth = auth('rs', rsSecret);
    expect((await postForm(`${server.baseUrl}/introspect`, { token: next.access_token }, rsAuth)).status).toBe(200);
    expect((await postForm(`${server.baseUrl}/revoke`, { token: next.refresh_token }, auth())).status).toBe(200);
    const logs = server.logs.raw();
    for (const event of ['login_succeeded', 'family_revoked', '"route":"/introspect"']) expect(logs).toContain(event);
    for (const secret of [first.access_token, first.refresh_token, next.access_token, next.refresh_token, webSecret, rsSecret, 'pw-alice']) {
      expect(logs).not.toContain(secret);
    }
    expect(logs).not.toContain(auth().authorization.slice('Basic '.length));
    expect(logs).not.toContain(rsAuth.authorization.slice('Basic '.length));
    // What the database keeps instead: the refresh tokens' SHA-256, the clients' secret hashes, the argon2 hash.
    const hashes = [
      ...(await server.db.query<{ hash: string }>('SELECT token_hash AS hash FROM refresh_tokens')),
      ...(await server.db.query<{ hash: string }>('SELECT secret_hash AS hash FROM clients WHERE secret_hash IS NOT NULL')),
      ...(await server.db.query<{ hash: string }>('SELECT password_hash AS hash FROM users')),
    ].map((row) => row.hash);
    expect(hashes.length).toBeGreaterThanOrEqual(6);
    for (const hash of hashes) expect(logs).not.toContain(hash);
  });

  it('refuses garbage and unknown tokens with invalid_grant', async () => {
    for (const token of ['garbage', `rt_${'A'.repeat(43)}`]) {
      expect(await refresh(token)).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    }
  });

  it('introspects a spent token as inactive, without counting it as reuse', async () => {
    const first = await login();
    const next = (await refresh(first.refresh_token)).body['refresh_token'] as string;
    expect(await introspect(first.refresh_token)).toEqual({ active: false });
    expect(await introspect(next)).toMatchObject({ active: true, token_type: 'refresh_token' });
    expect((await refresh(next)).status).toBe(200);
  });

  it('expires after the idle lifetime', async () => {
    const first = await login();
    now += 3600 * 1000 - 1;
    expect(await introspect(first.refresh_token)).toMatchObject({ active: true });
    now += 1; // the idle lifetime's end itself
    expect(await introspect(first.refresh_token)).toEqual({ active: false });
    expect(await refresh(first.refresh_token)).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
  });

  it('never extends past the family maximum age', async () => {
    let current = (await login()).refresh_token;
    for (let hop = 0; hop < 3; hop += 1) {
      now += 3000 * 1000;
      const result = await refresh(current);
      if (hop < 2) {
        expect(result.status).toBe(200);
        current = result.body['refresh_token'] as string;
      } else {
        expect(result).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
      }
    }
    const rows = await server.db.query<{ expires_at: Date; family_expires_at: Date }>(
      `SELECT expires_at, family_expires_at FROM refresh_tokens WHERE token_hash = encode(sha256($1::bytea), 'hex')`,
      [current],
    );
    expect(rows[0]!.expires_at.getTime()).toBeLessThanOrEqual(rows[0]!.family_expires_at.getTime());
    expect(await introspect(current)).toEqual({ active: false });
  });

  it('refuses the refresh of a disabled user', async () => {
    await seed.addUser('bob', 'pw-bob');
    const { body } = await postForm(`${server.baseUrl}/token`, { grant_type: 'password', username: 'bob', password: 'pw-bob' }, auth());
    await server.db.query(`UPDATE users SET disabled = true WHERE username = 'bob'`);
    expect(await refresh(body['refresh_token'] as string)).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
  });
});

describe('reuse detection (grace 0)', () => {
  it('revokes the whole family and denylists its live access tokens when a spent token comes back', async () => {
    const first = await login();
    const second = await refresh(first.refresh_token);
    const secondAccess = second.body['access_token'] as string;

    const reuse = await refresh(first.refresh_token);
    expect(reuse).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect((await familyRows(first.refresh_token)).every((row) => row.revoked_at !== null)).toBe(true);
    expect(await revokedJtis()).toEqual(expect.arrayContaining([jtiOf(first.access_token), jtiOf(secondAccess)]));
    expect(await server.redis.client.get(`authd:revoked:${jtiOf(secondAccess)}`)).toBe('refresh_reuse');

    expect(await refresh(second.body['refresh_token'] as string)).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    const introspection = await postForm(`${server.baseUrl}/introspect`, { token: secondAccess }, { authorization: basicAuth('rs', rsSecret) });
    expect(introspection).toMatchObject({ status: 200, body: { active: false } });

    expect(server.logs.lines.find((line) => line['event'] === 'refresh_reuse_detected')).toMatchObject({ audit: true, client_id: 'web' });
    const metrics = await (await fetch(`${server.baseUrl}/metrics`)).text();
    expect(metrics).toMatch(/^authd_refresh_reuse_detected_total [1-9]/m);
  });

  it('leaves an access token revoked before its family as it was recorded: reason kept in Postgres and Redis, not counted again', async () => {
    const first = await login();
    const revoked = await postForm(`${server.baseUrl}/revoke`, { token: first.access_token }, auth());
    expect(revoked.status).toBe(200);
    const second = await refresh(first.refresh_token);
    const secondAccess = second.body['access_token'] as string;
    const familyId = await familyIdOf(server.db, first.refresh_token);

    expect(await refresh(first.refresh_token)).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    const reasons = async (jti: string) => [
      (await server.db.query<{ reason: string }>('SELECT reason FROM revocations WHERE jti = $1', [jti]))[0]?.reason,
      await server.redis.client.get(`authd:revoked:${jti}`),
    ];
    expect(await reasons(jtiOf(first.access_token))).toEqual(['revoked', 'revoked']);
    expect(await reasons(jtiOf(secondAccess))).toEqual(['refresh_reuse', 'refresh_reuse']);
    const alert = server.logs.lines.find((line) => line['event'] === 'refresh_reuse_detected' && line['family_id'] === familyId);
    expect(alert).toMatchObject({ access_tokens_denylisted: 1 });
  });

  it('revokes what is live of a family whose old tokens outlived their access tokens, and refuses them afterwards without another alert', async () => {
    const first = await login();
    const second = await refresh(first.refresh_token);
    // Past the access tokens' 15 minutes and the 2 minutes a revocation still covers them (for hosts
    // whose clocks run behind): the client refreshes, as clients do.
    now += 18 * 60_000;
    const third = await refresh(second.body['refresh_token'] as string);
    expect(third.status).toBe(200);
    const thirdAccess = third.body['access_token'] as string;
    const reuseAlerts = () => server.logs.lines.filter((line) => line['event'] === 'refresh_reuse_detected' && line['family_id'] === familyId);
    const familyId = await familyIdOf(server.db, first.refresh_token);

    expect(await refresh(first.refresh_token)).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect(reuseAlerts()).toEqual([expect.objectContaining({ access_tokens_denylisted: 1 })]);
    expect(await server.redis.client.get(`authd:revoked:${jtiOf(thirdAccess)}`)).toBe('refresh_reuse');
    expect(await refresh(third.body['refresh_token'] as string)).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    // The two spent tokens whose access tokens had expired are left unmarked; the live one is revoked.
    const rows = await familyRows(first.refresh_token);
    expect([rows.length, rows.filter((row) => row.revoked_at !== null).length]).toEqual([3, 1]);

    // Each old token presented again is refused like a revoked one: the family has nothing left to revoke.
    for (const old of [first.refresh_token, second.body['refresh_token'] as string]) {
      expect(await refresh(old)).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    }
    expect(reuseAlerts()).toHaveLength(1);
  });

  it('lets exactly one of 20 concurrent refreshes of one token succeed, and the others\' reuse end the family (5 rounds)', async () => {
    for (let round = 0; round < 5; round += 1) {
      const { refresh_token } = await login();
      const results = await Promise.all(Array.from({ length: 20 }, () => refresh(refresh_token)));
      const statuses = results.map((result) => result.status).sort();
      expect(statuses.filter((status) => status === 200)).toHaveLength(1);
      expect(statuses.filter((status) => status === 400)).toHaveLength(19);
      for (const result of results.filter((r) => r.status !== 200)) expect(result.body).toMatchObject({ error: 'invalid_grant' });
      // With no grace, each loser presented a spent token: reuse, which ends the family, the winner's new token with it.
      const winner = results.find((result) => result.status === 200)!.body as { refresh_token: string };
      expect((await familyRows(refresh_token)).every((row) => row.revoked_at !== null)).toBe(true);
      expect(await refresh(winner.refresh_token)).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    }
  });
});
