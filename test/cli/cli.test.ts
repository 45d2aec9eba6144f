import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { processEnvironment, ROOT, runAuthd, runAuthdAsync, type ProcessEnvironment } from '../support/cli.js';
import { TEST_DATABASE_SERVER_URL } from '../support/database.js';
import { closedPort, proxiedUrl } from '../support/net.js';

let environment: ProcessEnvironment;
let db: ProcessEnvironment['db'];
let redis: ProcessEnvironment['redis'];

beforeAll(async () => {
  environment = await processEnvironment();
  ({ db, redis } = environment);
});
afterAll(() => environment.cleanup());

const authd = (args: string[], input = '') => runAuthd(environment.env, args, input);

/**
 * A user with a public client and one live session of it, made through the CLI and SQL: the
 * session's refresh token is stored as `h-<username>`, its access token's jti is `jti-<username>`
 * (10 minutes left).
 */
async function userWithSession(username: string, familyId: string): Promise<void> {
  expect(authd(['user', 'add', username], 'pw\n').status).toBe(0);
  expect(authd(['client', 'add', `${username}-app`, '--public']).status).toBe(0);
  const [{ id }] = (await db.query<{ id: string }>('SELECT id FROM users WHERE username = $1', [username])) as [{ id: string }];
  await db.query(
    `INSERT INTO refresh_tokens (id, token_hash, family_id, user_id, client_id, audience, created_at, expires_at,
                                 family_expires_at, access_token_jti, access_token_expires_at)
     VALUES (gen_random_uuid(), $2, $3, $1, $4, 'aud', now(), now() + interval '1 day',
             now() + interval '2 days', $5, now() + interval '10 minutes')`,
    [id, `h-${username}`, familyId, `${username}-app`, `jti-${username}`],
  );
}

describe('authd user', () => {
  it('adds a user with the password from stdin, never printing it', async () => {
    const result = authd(['user', 'add', 'Alice', '--role', 'admin', '--role', 'ops'], 'hunter2 with spaces\nignored second line\n');
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/^user: Alice\nid: [0-9a-f-]{36}\n$/);
    expect(result.stdout + result.stderr).not.toContain('hunter2');
    const rows = await db.query<{ username: string; password_hash: string; roles: string[]; disabled: boolean }>(
      'SELECT username, password_hash, roles, disabled FROM users',
    );
    expect(rows).toEqual([{ username: 'Alice', password_hash: expect.stringMatching(/^\$argon2id\$v=19\$m=1024,p=1,t=1\$/), roles: ['admin', 'ops'], disabled: false }]);
  });

  it('refuses a duplicate username in another case, an empty password and a bad name with one line and exit 1', () => {
    expect(authd(['user', 'add', 'ALICE'], 'pw\n')).toEqual({ status: 1, stdout: '', stderr: 'authd: user "ALICE" already exists\n' });
    // The name is checked before the password is read: with no password on stdin, the answer is still about the name.
    expect(authd(['user', 'add', 'ALICE'], '')).toEqual({ status: 1, stdout: '', stderr: 'authd: user "ALICE" already exists\n' });
    expect(authd(['user', 'add', 'bob'], '\n')).toEqual({ status: 1, stdout: '', stderr: 'authd: the password is empty\n' });
    expect(authd(['user', 'add', ' bob'], 'pw\n').status).toBe(1);
  });

  it('changes a password and disables a user', async () => {
    const [before] = await db.query<{ password_hash: string }>('SELECT password_hash FROM users');
    expect(authd(['user', 'password', 'alice'], 'new password\n')).toMatchObject({ status: 0, stdout: 'password changed for Alice\n' });
    const [after] = await db.query<{ password_hash: string }>('SELECT password_hash FROM users');
    expect(after!.password_hash).not.toBe(before!.password_hash);
    expect(authd(['user', 'disable', 'alice'])).toEqual({
      status: 0,
      stdout: 'disabled Alice; ended their sessions (0 access tokens denylisted)\n',
      stderr: '',
    });
    expect(await db.query('SELECT disabled FROM users')).toEqual([{ disabled: true }]);
    expect(authd(['user', 'disable', 'nobody'])).toEqual({ status: 1, stdout: '', stderr: 'authd: no user "nobody"\n' });
  });

  it('ends a disabled user\'s sessions and denylists their live access tokens', async () => {
    await userWithSession('erin', '22222222-2222-2222-2222-222222222222');
    expect(authd(['user', 'disable', 'erin'])).toEqual({
      status: 0,
      stdout: 'disabled erin; ended their sessions (1 access tokens denylisted)\n',
      stderr: '',
    });
    expect(await db.query(`SELECT revoked_at IS NOT NULL AS revoked FROM refresh_tokens WHERE token_hash = 'h-erin'`)).toEqual([{ revoked: true }]);
    expect(await db.query(`SELECT reason FROM revocations WHERE jti = 'jti-erin'`)).toEqual([{ reason: 'user_disabled' }]);
    expect(await redis.client.get('authd:revoked:jti-erin')).toBe('user_disabled');
  });
});

describe('authd client', () => {
  it('adds a confidential client, printing the secret once and storing only its SHA-256', async () => {
    const result = authd(['client', 'add', 'billing', '--scope', 'invoices:read', '--audience', 'https://api.example.test', '--access-ttl', '600']);
    expect(result.status).toBe(0);
    const match = /^client_id: billing\nclient_secret: ([A-Za-z0-9_-]{43})\n$/.exec(result.stdout);
    expect(match).not.toBeNull();
    const rows = await db.query('SELECT client_id, secret_hash, grant_types, scopes, audiences, access_token_ttl FROM clients WHERE client_id = $1', ['billing']);
    expect(rows).toEqual([{
      client_id: 'billing',
      secret_hash: createHash('sha256').update(match![1]!).digest('hex'),
      grant_types: ['client_credentials'],
      scopes: ['invoices:read'],
      audiences: ['https://api.example.test'],
      access_token_ttl: 600,
    }]);
  });

  it('adds a public client with no secret', async () => {
    expect(authd(['client', 'add', 'spa', '--public'])).toEqual({ status: 0, stdout: 'client_id: spa\n', stderr: '' });
    expect(await db.query(`SELECT secret_hash, grant_types FROM clients WHERE client_id = 'spa'`)).toEqual([
      { secret_hash: null, grant_types: ['password', 'refresh_token'] },
    ]);
  });

  it.each([
    [['client', 'add', 'x', '--grant', 'implicit'], 'authd: unknown grant "implicit"; grants are password, client_credentials, refresh_token\n'],
    [['client', 'add', 'x', '--public', '--grant', 'client_credentials'], 'authd: a public client cannot use client_credentials\n'],
    [['client', 'add', 'billing'], 'authd: client "billing" already exists\n'],
    [['client', 'add', 'bad id'], 'authd: a client_id is 1 to 128 characters of A-Z a-z 0-9 . _ ~ -\n'],
  ])('refuses %j with one line', (args, stderr) => {
    expect(authd(args)).toEqual({ status: 1, stdout: '', stderr });
  });

  it('refuses an access-ttl out of range', () => {
    const result = authd(['client', 'add', 'x', '--access-ttl', '5']);
    expect(result.status).toBe(1);
    expect(result.stderr.split('\n')[0]).toBe("error: option '--access-ttl <seconds>' argument '5' is invalid. must be a whole number of seconds from 60 to 3600");
  });

  it('lists clients without secrets or hashes', async () => {
    const result = authd(['client', 'list']);
    expect(result.status).toBe(0);
    expect(result.stdout.split('\n')[0]).toBe('billing  confidential  grants=client_credentials  scopes=invoices:read  audiences=https://api.example.test  access_ttl=600');
    const [{ secret_hash }] = (await db.query<{ secret_hash: string }>(`SELECT secret_hash FROM clients WHERE client_id = 'billing'`)) as [{ secret_hash: string }];
    expect(result.stdout).not.toContain(secret_hash);
  });
});

describe('authd sessions', () => {
  it('lists a user\'s sessions and revokes them with their access tokens', async () => {
    await userWithSession('carol', '11111111-1111-1111-1111-111111111111');
    const listed = authd(['sessions', 'list', 'carol']);
    expect(listed.status).toBe(0);
    expect(listed.stdout.split('\n')[1]).toMatch(/^11111111-1111-1111-1111-111111111111  carol-app {12}\S+ \S+  \S+ \S+  \S+ \S+  active$/);
    expect(authd(['sessions', 'revoke', 'carol'])).toEqual({
      status: 0,
      stdout: 'revoked all sessions of carol (1 access tokens denylisted)\n',
      stderr: '',
    });
    expect(authd(['sessions', 'list', 'carol']).stdout.split('\n')[1]).toMatch(/ended$/);
    expect(await db.query(`SELECT reason FROM revocations WHERE jti = 'jti-carol'`)).toEqual([{ reason: 'sessions_revoked' }]);
    expect(await redis.client.get('authd:revoked:jti-carol')).toBe('sessions_revoked');
  });
});

describe('authd sessions with a slow Redis', () => {
  it('waits for Redis before announcing the revocation, instead of leaving it to the next sync', async () => {
    await userWithSession('dave', '33333333-3333-3333-3333-333333333333');
    const { url, proxy } = await proxiedUrl(redis.url, { delayMs: 100 });
    try {
      const result = await runAuthdAsync({ ...environment.env, REDIS_URL: url }, ['sessions', 'revoke', 'dave']);
      expect(result).toEqual({ status: 0, stdout: 'revoked all sessions of dave (1 access tokens denylisted)\n', stderr: '' });
    } finally {
      await proxy.close();
    }
    expect(await redis.client.get('authd:revoked:jti-dave')).toBe('sessions_revoked');
  });

  it('refuses a REDIS_URL database Redis refused (past its count) rather than write the revocations into database 0', () => {
    const url = new URL(redis.url);
    url.pathname = '/99';
    const result = runAuthd({ ...environment.env, REDIS_URL: url.toString() }, ['sessions', 'revoke', 'dave']);
    // Before it, the log line of Redis's own refusal of the SELECT.
    expect([result.status, result.stdout, result.stderr.split('\n').at(-2)]).toEqual([1, '', 'authd: REDIS_URL names database 99, which Redis refused (authd would use database 0)']);
  });
});

describe('authd with a database it cannot use', () => {
  /** The command's answer with DATABASE_URL pointing at `url`. */
  const withDatabase = (url: string, args: string[]) => runAuthd({ ...environment.env, DATABASE_URL: url }, args);
  const serverUrl = (database: string, user = 'postgres') => {
    const url = new URL(TEST_DATABASE_SERVER_URL);
    url.username = user;
    url.pathname = `/${database}`;
    return url.toString();
  };

  it('says in one line what to fix, with the error\'s code and no host, user or password: no server, no database, no tables, a refused user', async () => {
    /** The one line a failed command printed, with the code at its end set apart. */
    const failure = ({ status, stdout, stderr }: ReturnType<typeof runAuthd>) => {
      const [, message, code] = /^authd: (.*) \(([A-Za-z0-9]+)\)\n$/.exec(stderr) ?? [];
      return { status, stdout, message, code: code !== undefined };
    };
    const said = (message: string) => ({ status: 1, stdout: '', message, code: true });
    const nowhere = `postgresql://postgres:S3cret@127.0.0.1:${await closedPort()}/authd`;
    expect(failure(withDatabase(nowhere, ['client', 'list']))).toEqual(said('PostgreSQL could not be reached or could not serve: check DATABASE_URL and that the server is up'));
    const missing = serverUrl(`authd_missing_${process.pid}`);
    const noDatabase = said('the database DATABASE_URL names does not exist: create it (createdb), then run `authd migrate`');
    expect(failure(withDatabase(missing, ['migrate']))).toEqual(noDatabase);
    expect(failure(withDatabase(missing, ['user', 'add', 'erin']))).toEqual(noDatabase);
    const empty = `authd_empty_${process.pid}`;
    await db.query(`CREATE DATABASE ${empty}`);
    try {
      expect(failure(withDatabase(serverUrl(empty), ['client', 'list']))).toEqual(said('the database has no authd tables: run `authd migrate`'));
    } finally {
      await db.query(`DROP DATABASE ${empty}`);
    }
    expect(failure(withDatabase(serverUrl(db.name, `no_such_role_${process.pid}`), ['client', 'list']))).toEqual(
      said("PostgreSQL refused the connection: check DATABASE_URL's user and password, and pg_hba.conf's rules"),
    );
  });
});

describe('authd keys and migrate', () => {
  it('migrate is idempotent', () => {
    expect(authd(['migrate'])).toEqual({ status: 0, stdout: 'database is up to date\n', stderr: '' });
  });

  it('rotates and lists keys, refuses unknown kids', () => {
    expect(authd(['keys', 'list']).stdout).toBe('no keys (authd makes one at first start)\n');
    const rotated = runAuthd({ ...environment.env, LOG_LEVEL: 'info' }, ['keys', 'rotate']);
    expect(rotated.stdout).toMatch(/^created \d{8}-[0-9a-f]{8}; it signs from /);
    // The audit line goes to stderr, written as the command exits.
    const kid = /^created (\S+);/.exec(rotated.stdout)![1];
    expect(rotated.stderr.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>)).toEqual([
      expect.objectContaining({ level: 'info', audit: true, event: 'key_rotation', kid, trigger: 'manual' }),
    ]);
    // Nothing signed before it, so the first key of an empty keyring signs at once.
    expect(authd(['keys', 'list']).stdout).toMatch(new RegExp(`^${kid} {2}active `));
    expect(authd(['keys', 'revoke', '20200101-00000000'])).toEqual({ status: 1, stdout: '', stderr: 'authd: no key "20200101-00000000"\n' });
  });

  it('writes its log lines to stderr at once, before the message of the failure they explain', () => {
    const script = `
      import { cliLogger } from ${JSON.stringify(`${ROOT}dist/src/cli/cli-logger.js`)};
      import { CliError, exitOnError } from ${JSON.stringify(`${ROOT}dist/src/cli/context.js`)};
      cliLogger({ logLevel: 'warn' }).warn('redis connection refused');
      setTimeout(() => exitOnError(new CliError('redis is not ready')), 20);
    `;
    const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 15_000 });
    const [logLine, message, rest] = result.stderr.split('\n');
    expect({ status: result.status, message, rest }).toEqual({ status: 1, message: 'authd: redis is not ready', rest: '' });
    expect(JSON.parse(logLine!)).toMatchObject({ level: 'warn', msg: 'redis connection refused' });
  });

  it('exits when stderr refuses its log lines (a full disk)', () => {
    const fullDisk = openSync('/dev/full', 'w');
    // A keys directory of its own: the one above has a next key already, which a rotation refuses.
    const keysDir = mkdtempSync(join(tmpdir(), 'authd-cli-keys-'));
    try {
      const result = spawnSync(process.execPath, [join(ROOT, 'bin', 'authd.js'), 'keys', 'rotate'], {
        cwd: ROOT,
        env: { ...environment.env, KEYS_DIR: keysDir, LOG_LEVEL: 'info' },
        stdio: ['ignore', 'pipe', fullDisk],
        encoding: 'utf8',
        timeout: 15_000,
      });
      expect({ status: result.status, signal: result.signal }).toEqual({ status: 0, signal: null });
      expect(result.stdout).toMatch(/^created \d{8}-[0-9a-f]{8}; it signs from /);
    } finally {
      closeSync(fullDisk);
      rmSync(keysDir, { recursive: true, force: true });
    }
  });
});
