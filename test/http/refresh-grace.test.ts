import { familyIdOf } from '../support/database.js';
import { basicAuth, fixtures, postForm, type Fixtures } from '../support/fixtures.js';
import { startTestServer, type TestServer } from '../support/server.js';

let now = Date.now();
const clock = { now: () => now };

let server: TestServer;
let seed: Fixtures;
let secret: string;

beforeAll(async () => {
  server = await startTestServer({ clock, env: { REFRESH_REUSE_GRACE: '30' } });
  seed = fixtures(server);
  await seed.addUser('alice', 'pw-alice');
  secret = (await seed.addClient({ clientId: 'web', grants: ['password', 'refresh_token'] }))!;
});
afterAll(async () => {
  await seed.close();
  await server.stop();
});

const auth = () => ({ authorization: basicAuth('web', secret) });
const login = async () =>
  (await postForm(`${server.baseUrl}/token`, { grant_type: 'password', username: 'alice', password: 'pw-alice' }, auth())).body as {
    refresh_token: string;
  };
const refresh = (token: string) => postForm(`${server.baseUrl}/token/refresh`, { refresh_token: token }, auth());
const rowOf = async (token: string) =>
  (
    await server.db.query<{ revoked_at: Date | null; used_at: Date | null }>(
      `SELECT revoked_at, used_at FROM refresh_tokens WHERE token_hash = encode(sha256($1::bytea), 'hex')`,
      [token],
    )
  )[0]!;

const liveInFamilyOf = (token: string) =>
  server.db.query(
    `SELECT id FROM refresh_tokens WHERE family_id = (SELECT family_id FROM refresh_tokens WHERE token_hash = encode(sha256($1::bytea), 'hex'))
       AND used_at IS NULL AND revoked_at IS NULL`,
    [token],
  );
const jtiOf = (jwt: string) => (JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as { jti: string }).jti;

beforeEach(() => {
  now = Date.now();
});

describe('REFRESH_REUSE_GRACE=30', () => {
  it('exchanges the most recently spent token again inside the window and revokes the earlier successor', async () => {
    const t1 = (await login()).refresh_token;
    const t2 = (await refresh(t1)).body['refresh_token'] as string;
    now += 10_000;
    const retry = await refresh(t1);
    expect(retry.status).toBe(200);
    const t2b = retry.body['refresh_token'] as string;
    expect(t2b).not.toBe(t2);
    expect((await rowOf(t2)).revoked_at).not.toBeNull();
    expect(await refresh(t2)).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect((await rowOf(t2b)).revoked_at).toBeNull();
  });

  it('refuses the successor a grace exchange replaced, keeps the family, and tells the audit log that two parties held the token', async () => {
    const t1 = (await login()).refresh_token;
    const t2 = (await refresh(t1)).body['refresh_token'] as string;
    now += 10_000;
    const t2b = (await refresh(t1)).body['refresh_token'] as string;
    const familyId = await familyIdOf(server.db, t1);
    const told = () => server.logs.lines.filter((line) => line['event'] === 'refresh_superseded_presented' && line['family_id'] === familyId);
    expect(told()).toHaveLength(0);

    const refused = await refresh(t2);
    expect([refused.status, refused.body]).toStrictEqual([400, { error: 'invalid_grant', error_description: 'refresh token is invalid, expired or revoked' }]);
    expect(told()).toEqual([expect.objectContaining({ audit: true, client_id: 'web', level: 'info' })]);
    expect(server.logs.lines.filter((line) => line['event'] === 'refresh_reuse_detected' && line['family_id'] === familyId)).toHaveLength(0);
    expect(await liveInFamilyOf(t1)).toHaveLength(1);
    const t3 = (await refresh(t2b)).body['refresh_token'] as string;
    expect(t3).toMatch(/^rt_/);

    // Once the family is revoked, its revoked tokens are refused without the line.
    expect((await postForm(`${server.baseUrl}/revoke`, { token: t3 }, auth())).status).toBe(200);
    expect(await refresh(t2)).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect(await refresh(t3)).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect(told()).toHaveLength(1);
  });

  it('refuses the grace exchange for another audience with invalid_target and leaves the successor live', async () => {
    const t1 = (await login()).refresh_token;
    const t2 = (await refresh(t1)).body['refresh_token'] as string;
    now += 10_000;
    const elsewhere = await postForm(`${server.baseUrl}/token/refresh`, { refresh_token: t1, audience: 'https://elsewhere.example.test' }, auth());
    expect([elsewhere.status, elsewhere.body['error']]).toEqual([400, 'invalid_target']);
    expect((await rowOf(t2)).revoked_at).toBeNull();
    expect((await refresh(t2)).status).toBe(200);
  });

  it('treats the same token after the window as reuse and kills the family', async () => {
    const t1 = (await login()).refresh_token;
    const t2 = (await refresh(t1)).body['refresh_token'] as string;
    now += 31_000;
    expect(await refresh(t1)).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect((await rowOf(t2)).revoked_at).not.toBeNull();
  });

  it('treats an older spent token as reuse even inside the window', async () => {
    const t1 = (await login()).refresh_token;
    const t2 = (await refresh(t1)).body['refresh_token'] as string;
    const t3 = (await refresh(t2)).body['refresh_token'] as string;
    expect(await refresh(t1)).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect((await rowOf(t3)).revoked_at).not.toBeNull();
    expect(await refresh(t3)).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
  });

  it('under concurrent grace exchanges of one token, leaves one live token and denylists every replaced successor', async () => {
    const t1 = (await login()).refresh_token;
    const first = await refresh(t1);
    const a2 = first.body['access_token'] as string;
    now += 10_000;
    const answers = await Promise.all(Array.from({ length: 10 }, () => refresh(t1)));
    expect(answers.map((answer) => answer.status)).toEqual(Array(10).fill(200));
    const issued = answers.map((answer) => answer.body['refresh_token'] as string);
    const rows: Awaited<ReturnType<typeof rowOf>>[] = [];
    for (const token of issued) rows.push(await rowOf(token));
    expect(rows.filter((row) => row.revoked_at === null && row.used_at === null)).toHaveLength(1);
    expect(await liveInFamilyOf(t1)).toHaveLength(1);
    expect((await rowOf(first.body['refresh_token'] as string)).revoked_at).not.toBeNull();
    expect(await server.redis.client.get(`authd:revoked:${jtiOf(a2)}`)).toBe('revoked');
    const dead = issued.filter((_, i) => rows[i]!.revoked_at !== null);
    expect(dead).toHaveLength(9);
    for (const token of dead) expect(await refresh(token)).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
  });

  it('keeps at most one live token per family after a grace exchange', async () => {
    const t1 = (await login()).refresh_token;
    await refresh(t1);
    await refresh(t1);
    expect(await liveInFamilyOf(t1)).toHaveLength(1);
  });
});
