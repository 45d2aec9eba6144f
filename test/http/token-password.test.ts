import { createHash } from 'node:crypto';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import pg from 'pg';
import { basicAuth, fixtures, postForm, type Fixtures } from '../support/fixtures.js';
import { claimsOf } from '../support/jwt.js';
import { refusesHugeAllocations } from '../support/memory.js';
import { metricValue, tokensIssued } from '../support/metrics.js';
import { startTestServer, type TestServer } from '../support/server.js';

let server: TestServer;
let seed: Fixtures;
let appSecret: string;
let aliceId: string;

beforeAll(async () => {
  // Logins beyond a pair's remaining failures wait up to 15 s for a place, not 2, so that on a
  // loaded machine they still meet the lock the running ones set rather than give up as busy.
  server = await startTestServer({ env: { ISSUER: 'https://auth.example.test', TRUST_PROXY: 'true', LOGIN_MAX_FAILURES: '3' }, loginBusyWaitMs: 15_000 });
  seed = fixtures(server);
  aliceId = (await seed.addUser('Alice', 'correct horse battery', { roles: ['admin', 'ops'] })).id;
  const disabled = await seed.addUser('mallory', 'correct horse battery');
  await server.db.query('UPDATE users SET disabled = true WHERE id = $1', [disabled.id]);
  appSecret = (await seed.addClient({
    clientId: 'web',
    grants: ['password', 'refresh_token'],
    scopes: ['read', 'write'],
    audiences: ['https://api.example.test', 'https://other.example.test'],
  }))!;
});
afterAll(async () => {
  await seed.close();
  await server.stop();
});

/** A login from a given client IP (TRUST_PROXY is on in this file). */
const login = (username: string, password: string, ip = '198.51.100.7', extra: Record<string, string> = {}) =>
  postForm(`${server.baseUrl}/token`, { grant_type: 'password', username, password, ...extra }, {
    authorization: basicAuth('web', appSecret),
    'x-forwarded-for': ip,
  });

describe('grant_type=password', () => {
  it('issues an RFC 9068 access token that verifies against the published JWKS, and a refresh token', async () => {
    const issuedBefore = await tokensIssued(server.baseUrl, 'password');
    const { status, headers, body } = await login('alice', 'correct horse battery', '198.51.100.1');
    expect(status).toBe(200);
    expect(await tokensIssued(server.baseUrl, 'password')).toBe(issuedBefore + 1);
    expect(headers.get('cache-control')).toBe('no-store');
    expect(headers.get('pragma')).toBe('no-cache');
    expect(Object.keys(body).sort()).toEqual(['access_token', 'expires_in', 'refresh_token', 'scope', 'token_type']);
    expect(body).toMatchObject({ token_type: 'Bearer', expires_in: 900, scope: 'read write' });
    expect(body['refresh_token']).toMatch(/^rt_[A-Za-z0-9_-]{43}$/);

    const jwks = createRemoteJWKSet(new URL(`${server.baseUrl}/.well-known/jwks.json`));
    const { payload, protectedHeader } = await jwtVerify(body['access_token'] as string, jwks, {
      issuer: 'https://auth.example.test',
      audience: 'https://api.example.test',
      typ: 'at+jwt',
      algorithms: ['ES256'],
    });
    expect(Object.keys(protectedHeader).sort()).toEqual(['alg', 'kid', 'typ']);
    expect(Object.keys(payload).sort()).toEqual(['aud', 'client_id', 'exp', 'iat', 'iss', 'jti', 'nbf', 'roles', 'scope', 'sub']);
    expect(payload).toMatchObject({ sub: aliceId, client_id: 'web', scope: 'read write', roles: ['admin', 'ops'] });
    expect(payload.exp! - payload.iat!).toBe(900);
    expect(payload.nbf).toBe(payload.iat);
    expect(payload.jti).toMatch(/^[A-Za-z0-9_-]{22}$/);

    const rows = await server.db.query<{ token_hash: string; access_token_jti: string; user_id: string; scope: string[]; audience: string }>(
      'SELECT token_hash, access_token_jti, user_id, scope, audience FROM refresh_tokens WHERE access_token_jti = $1',
      [payload.jti],
    );
    expect(rows).toEqual([{
      token_hash: createHash('sha256').update(body['refresh_token'] as string).digest('hex'),
      access_token_jti: payload.jti,
      user_id: aliceId,
      scope: ['read', 'write'],
      audience: 'https://api.example.test',
    }]);
    const leaked = await server.db.query(`SELECT 1 FROM refresh_tokens WHERE token_hash = $1`, [body['refresh_token']]);
    expect(leaked).toHaveLength(0);
  });

  it('narrows scope and picks a listed audience on request', async () => {
    const { status, body } = await login('ALICE', 'correct horse battery', '198.51.100.1', { scope: 'read', audience: 'https://other.example.test' });
    expect(status).toBe(200);
    expect(body['scope']).toBe('read');
    const header = decodeProtectedHeader(body['access_token'] as string);
    expect(header.typ).toBe('at+jwt');
    expect(claimsOf(body['access_token'] as string)['aud']).toBe('https://other.example.test');
  });

  it('refuses a scope or audience the client does not have', async () => {
    expect(await login('alice', 'correct horse battery', '198.51.100.1', { scope: 'read admin' })).toMatchObject({
      status: 400,
      body: { error: 'invalid_scope' },
    });
    expect(await login('alice', 'correct horse battery', '198.51.100.1', { audience: 'https://evil.example.test' })).toMatchObject({
      status: 400,
      body: { error: 'invalid_target' },
    });
  });

  it('gives one identical answer for a wrong password, an unknown user and a disabled user', async () => {
    const answers = await Promise.all([
      login('alice', 'wrong', '203.0.113.1'),
      login('nobody', 'correct horse battery', '203.0.113.2'),
      login('mallory', 'correct horse battery', '203.0.113.3'),
    ]);
    for (const answer of answers) {
      expect(answer.status).toBe(400);
      expect(answer.body).toEqual({ error: 'invalid_grant', error_description: 'invalid username or password' });
      expect(answer.headers.get('cache-control')).toBe('no-store');
    }
  });

  it('tells /metrics nothing about which: a wrong password, an unknown user and a disabled user count alike', async () => {
    const loginSamples = async () => (await (await fetch(`${server.baseUrl}/metrics`)).text()).split('\n').filter((line) => line.startsWith('authd_login_'));
    const failuresBefore = await metricValue(server.baseUrl, 'authd_login_failures_total');
    const tries = [['alice', 'wrong', '203.0.113.30'], ['nobody', 'correct horse battery', '203.0.113.31'], ['mallory', 'correct horse battery', '203.0.113.32']] as const;
    for (const [username, password, ip] of tries) {
      const before = await loginSamples();
      expect((await login(username, password, ip)).status).toBe(400);
      const changed = (await loginSamples()).filter((line) => !before.includes(line));
      expect(changed.map((line) => line.split(' ')[0])).toEqual(['authd_login_failures_total']);
    }
    expect(await metricValue(server.baseUrl, 'authd_login_failures_total')).toBe(failuresBefore + 3);
    // The reason stays in the audit log, which only the operator reads.
    const reasons = server.logs.lines
      .filter((line) => line['event'] === 'login_failed' && tries.some(([, , ip]) => line['ip'] === ip))
      .map((line) => line['reason']);
    expect(reasons).toEqual(['bad_password', 'unknown_user', 'disabled']);
  });

  it('logs at most 128 characters of a username, however long the one sent', async () => {
    const ip = '203.0.113.40';
    const long = '\u0001'.repeat(5_000); // 15 KB as a form: within the body limit
    for (let i = 0; i < 4; i += 1) expect((await login(long, 'wrong', ip)).status).toBe(i < 3 ? 400 : 429);
    const lines = server.logs.lines.filter((line) => line['ip'] === ip && line['audit'] === true);
    expect(lines.map((line) => line['event'])).toEqual(['login_failed', 'login_failed', 'login_failed', 'login_locked', 'login_locked']);
    for (const line of lines) expect(line['username']).toBe(`${'\u0001'.repeat(128)}…`);
  });

  it('treats a username no user can have (a NUL byte, other control characters) as an unknown user', async () => {
    const ips = ['203.0.113.20', '203.0.113.21', '203.0.113.22'];
    for (const [index, username] of ['ali\u0000ce', 'alice\n', '\u007falice'].entries()) {
      const answer = await login(username, 'correct horse battery', ips[index]);
      expect([answer.status, answer.body]).toEqual([400, { error: 'invalid_grant', error_description: 'invalid username or password' }]);
    }
    const audited = server.logs.lines.filter((line) => line['event'] === 'login_failed' && ips.includes(line['ip'] as string));
    expect(audited.map((line) => [line['username'], line['reason']])).toEqual([['ali\u0000ce', 'unknown_user'], ['alice\n', 'unknown_user'], ['\u007falice', 'unknown_user']]);
  });

  (refusesHugeAllocations ? it : it.skip)('answers 503 with Retry-After and a warning when argon2 cannot run, counting no failure even past the lock limit', async () => {
    const user = await seed.addUser('oom', 'correct horse battery');
    // A stored cost of 4 TiB: argon2's allocation really fails, as on a host out of memory.
    await server.db.query(`UPDATE users SET password_hash = regexp_replace(password_hash, 'm=[0-9]+', 'm=4294967295') WHERE id = $1`, [user.id]);
    const linesBefore = server.logs.lines.length;
    for (let attempt = 0; attempt < 4; attempt += 1) {
      const answer = await login('oom', 'correct horse battery', '198.51.100.60');
      expect([answer.status, answer.body, answer.headers.get('retry-after')]).toEqual([503, { error: 'temporarily_unavailable' }, '5']);
    }
    const lines = server.logs.lines.slice(linesBefore);
    expect(lines.filter((line) => line['msg'] === 'password check failed')).toEqual(
      Array(4).fill(expect.objectContaining({ level: 'warn', err: expect.objectContaining({ message: 'argon2 could not run: Memory allocation error' }) })),
    );
    expect(lines.filter((line) => line['event'] === 'login_failed' || line['event'] === 'login_locked')).toEqual([]);
    expect(server.logs.raw()).not.toContain('correct horse battery');
  });

  it('locks a (username, IP) pair after LOGIN_MAX_FAILURES, even for the right password, and not other IPs', async () => {
    for (let i = 0; i < 3; i += 1) expect((await login('alice', 'wrong', '203.0.113.50')).status).toBe(400);
    const locked = await login('alice', 'correct horse battery', '203.0.113.50');
    expect(locked.status).toBe(429);
    expect(locked.body).toEqual({ error: 'too_many_requests' });
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(Number(locked.headers.get('retry-after'))).toBeLessThanOrEqual(900);
    expect((await login('alice', 'correct horse battery', '203.0.113.51')).status).toBe(200);
    const audit = server.logs.lines.filter((line) => line['ip'] === '203.0.113.50' && line['audit'] === true);
    expect(audit.map((line) => [line['event'], line['username']])).toEqual([
      ['login_failed', 'alice'],
      ['login_failed', 'alice'],
      ['login_failed', 'alice'],
      ['login_locked', 'alice'],
      ['login_locked', 'alice'],
    ]);
  });

  it('answers a password longer than any can be (1,025 bytes) as a wrong one, but counts it toward no lock and stores nothing for it', async () => {
    const tooLong = 'x'.repeat(1025);
    const throttleKeys = async () => (await server.redis.client.keys('*login*')).sort();
    const keysBefore = await throttleKeys();
    for (let i = 0; i < 5; i += 1) {
      const answer = await login(`nobody-${i}`, tooLong, '203.0.113.60');
      expect([answer.status, answer.body]).toEqual([400, { error: 'invalid_grant', error_description: 'invalid username or password' }]);
    }
    for (let i = 0; i < 5; i += 1) expect((await login('alice', tooLong, '203.0.113.60')).status).toBe(400);
    expect(await throttleKeys()).toEqual(keysBefore);
    expect((await login('alice', 'correct horse battery', '203.0.113.60')).status).toBe(200);
  });

  it('tries only LOGIN_MAX_FAILURES of the guesses for one pair sent at once, and refuses the rest with the lock before any password work', async () => {
    const ip = '203.0.113.80';
    const answers = await Promise.all(Array.from({ length: 10 }, () => login('alice', 'wrong', ip)));
    expect(answers.map((answer) => answer.status).sort()).toEqual([400, 400, 400, 429, 429, 429, 429, 429, 429, 429]);
    for (const answer of answers.filter(({ status }) => status === 429)) {
      expect(answer.body).toEqual({ error: 'too_many_requests' });
      // Each waited while the three ran, and met the lock their failures set: what is left of 900 s.
      const retryAfter = Number(answer.headers.get('retry-after'));
      expect(retryAfter).toBeGreaterThan(800);
      expect(retryAfter).toBeLessThanOrEqual(900);
    }
    expect(server.logs.lines.filter((line) => line['event'] === 'login_failed' && line['ip'] === ip)).toHaveLength(3);
    const locked = await login('alice', 'correct horse battery', ip);
    expect(locked.status).toBe(429);
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(800);
  });

  it('locks an unknown and a disabled user after LOGIN_MAX_FAILURES as it locks a real one: the lock tells no one which exist', async () => {
    const answersOf = async (username: string, ip: string) => {
      const statuses = [];
      for (let i = 0; i < 3; i += 1) statuses.push((await login(username, 'wrong', ip)).status);
      const locked = await login(username, 'wrong', ip);
      return { statuses, locked: locked.status, body: locked.body, retryAfter: Number(locked.headers.get('retry-after')) > 800 };
    };
    const expected = { statuses: [400, 400, 400], locked: 429, body: { error: 'too_many_requests' }, retryAfter: true };
    expect(await answersOf('alice', '203.0.113.91')).toEqual(expected);
    expect(await answersOf('nobody-here', '203.0.113.92')).toEqual(expected);
    expect(await answersOf('mallory', '203.0.113.93')).toEqual(expected);
  });

  it('lets one user log in many times at once with the right password: all of them succeed, none gets 429', async () => {
    const answers = await Promise.all(Array.from({ length: 10 }, () => login('alice', 'correct horse battery', '203.0.113.81')));
    expect(answers.map((answer) => answer.status)).toEqual(Array(10).fill(200));
    expect(new Set(answers.map((answer) => answer.body['refresh_token'])).size).toBe(10);
  });

  it('takes the client IP from the proxy-appended end of X-Forwarded-For, so a forged entry does not escape the lock', async () => {
    const forged = (i: number) => `10.9.8.${i}, 203.0.113.70`;
    for (let i = 0; i < 3; i += 1) expect((await login('alice', 'wrong', forged(i))).status).toBe(400);
    expect((await login('alice', 'correct horse battery', forged(99))).status).toBe(429);
    const failures = server.logs.lines.filter((line) => line['event'] === 'login_failed' && String(line['ip']).endsWith('203.0.113.70'));
    expect(failures.map((line) => line['ip'])).toEqual(['203.0.113.70', '203.0.113.70', '203.0.113.70']);
  });

  it.each([
    ['203.0.113.71', (port: number) => `203.0.113.71:${port}`],
    ['2001:db8:71::1', (port: number) => `[2001:db8:71::1]:${port}`],
  ])('counts %s as one client whatever port the proxy writes after it, so a new connection per guess does not escape the lock', async (address, withPort) => {
    for (let port = 50_000; port < 50_003; port += 1) expect((await login('alice', 'wrong', withPort(port))).status).toBe(400);
    expect((await login('alice', 'correct horse battery', withPort(50_003))).status).toBe(429);
    const failures = server.logs.lines.filter((line) => line['event'] === 'login_failed' && String(line['ip']).includes(address));
    expect(failures.map((line) => line['ip'])).toEqual([address, address, address]);
  });

  it('answers a login whose user is disabled after it was read as for a disabled user, and keeps no session of it', async () => {
    const racer = await seed.addUser('racer', 'correct horse battery');
    // An `authd user disable` in flight: its UPDATE made, not yet committed.
    const disabling = new pg.Client({ connectionString: server.db.url });
    await disabling.connect();
    try {
      await disabling.query('BEGIN');
      await disabling.query('UPDATE users SET disabled = true WHERE id = $1', [racer.id]);
      const answer = login('racer', 'correct horse battery', '198.51.100.30');
      // The login read the user as enabled, checked the password, and now waits to store its session.
      await server.db.blockedOnALock('the login');
      await disabling.query('COMMIT');
      expect(await answer).toMatchObject({ status: 400, body: { error: 'invalid_grant', error_description: 'invalid username or password' } });
    } finally {
      await disabling.end();
    }
    expect(await server.db.query('SELECT 1 FROM refresh_tokens WHERE user_id = $1', [racer.id])).toEqual([]);
    const failures = server.logs.lines.filter((line) => line['event'] === 'login_failed' && line['username'] === 'racer');
    expect(failures.map((line) => line['reason'])).toEqual(['disabled']);
  });

  it('resets the pair counter on success', async () => {
    const ip = '203.0.113.60';
    for (let i = 0; i < 2; i += 1) await login('alice', 'wrong', ip);
    expect((await login('alice', 'correct horse battery', ip)).status).toBe(200);
    for (let i = 0; i < 2; i += 1) expect((await login('alice', 'wrong', ip)).status).toBe(400);
    expect((await login('alice', 'correct horse battery', ip)).status).toBe(200);
  });

  it('re-hashes a password made with older argon2 parameters after a successful login', async () => {
    const user = await seed.addUser('legacy', 'old but gold', { cost: { memoryCost: 2048, timeCost: 1 } });
    const before = await server.db.query<{ password_hash: string }>('SELECT password_hash FROM users WHERE id = $1', [user.id]);
    expect(before[0]!.password_hash).toContain('$m=2048,p=1,t=1$');
    expect((await login('legacy', 'old but gold', '198.51.100.9')).status).toBe(200);
    const after = await server.db.query<{ password_hash: string }>('SELECT password_hash FROM users WHERE id = $1', [user.id]);
    expect(after[0]!.password_hash).toContain('$m=4096,p=1,t=1$');
    expect((await login('legacy', 'old but gold', '198.51.100.9')).status).toBe(200);
  });

  it('requires username and password', async () => {
    expect(await login('', 'x')).toMatchObject({ status: 400, body: { error: 'invalid_request', error_description: 'username is required' } });
    expect(await login('alice', '')).toMatchObject({ status: 400, body: { error: 'invalid_request', error_description: 'password is required' } });
  });

  it('writes audit lines without the password or tokens', async () => {
    const { body } = await login('alice', 'correct horse battery', '198.51.100.77');
    const raw = server.logs.raw();
    expect(raw).not.toContain('correct horse battery');
    expect(raw).not.toContain(body['refresh_token'] as string);
    expect(raw).not.toContain(body['access_token'] as string);
    expect(raw).not.toContain(appSecret);
    expect(server.logs.lines.find((line) => line['event'] === 'login_succeeded' && line['ip'] === '198.51.100.77')).toMatchObject({
      audit: true,
      sub: aliceId,
      client_id: 'web',
    });
  });
});
