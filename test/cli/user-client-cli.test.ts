// What test/cli/cli.test.ts leaves out of `authd user` and `authd client`: password input edges,
// every client-option refusal, and that no secret, hash or password is ever printed.
import { createHash } from 'node:crypto';
import argon2 from 'argon2';
import { processEnvironment, runAuthd, type ProcessEnvironment } from '../support/cli.js';

let environment: ProcessEnvironment;
let db: ProcessEnvironment['db'];

beforeAll(async () => {
  environment = await processEnvironment();
  db = environment.db;
});
afterAll(() => environment.cleanup());

const authd = (args: string[], input = '', env: Record<string, string> = {}) => runAuthd({ ...environment.env, ...env }, args, input);

const hashOf = async (username: string) =>
  (await db.query<{ password_hash: string }>('SELECT password_hash FROM users WHERE username = $1', [username]))[0]!.password_hash;

const oneLineError = (result: ReturnType<typeof authd>, message: string) =>
  expect(result).toEqual({ status: 1, stdout: '', stderr: `authd: ${message}\n` });

describe('authd user: the password', () => {
  it('is the first line of stdin without its newline (LF or CRLF), hashed with argon2id', async () => {
    const result = authd(['user', 'add', 'dora'], 'correct horse\r\nsecond line\n');
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/^user: dora\nid: [0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\n$/);
    expect(result.stdout + result.stderr).not.toContain('correct horse');
    const hash = await hashOf('dora');
    expect(hash).toMatch(/^\$argon2id\$/);
    expect(await argon2.verify(hash, 'correct horse')).toBe(true);
  });

  it('may be up to 1024 bytes, counted in bytes, not characters', async () => {
    const longest = 'é'.repeat(512); // 2 bytes each
    expect(authd(['user', 'add', 'erin'], `${longest}\n`).status).toBe(0);
    expect(await argon2.verify(await hashOf('erin'), longest)).toBe(true);
    oneLineError(authd(['user', 'add', 'frank'], `${longest}x\n`), 'the password is longer than 1024 bytes');
    oneLineError(authd(['user', 'add', 'frank'], ''), 'the password is empty');
    expect(await db.query(`SELECT 1 FROM users WHERE username = 'frank'`)).toEqual([]);
  });

  it('is never an argument', () => {
    const result = authd(['user', 'add', 'gina', 'secret-pw'], 'pw\n');
    expect(result.status).toBe(1);
    expect(result.stdout).toBe('');
  });

  it('user password replaces the hash with one of the new password, printing neither', async () => {
    const before = await hashOf('dora');
    const result = authd(['user', 'password', 'DORA'], 'battery staple\n');
    expect(result).toEqual({ status: 0, stdout: 'password changed for dora\n', stderr: '' });
    const after = await hashOf('dora');
    expect(after).not.toBe(before);
    expect(await argon2.verify(after, 'battery staple')).toBe(true);
    oneLineError(authd(['user', 'password', 'nobody'], 'pw\n'), 'no user "nobody"');
  });
});

describe('authd user: names', () => {
  it('refuses a duplicate in another case with one line, leaving the first user alone', async () => {
    const before = await hashOf('dora');
    oneLineError(authd(['user', 'add', 'Dora'], 'pw\n'), 'user "Dora" already exists');
    expect(await hashOf('dora')).toBe(before);
  });

  it('refuses an invalid username', () => {
    oneLineError(authd(['user', 'add', 'trailing '], 'pw\n'), 'a username is 1 to 128 characters, without control characters or surrounding spaces');
    oneLineError(authd(['user', 'add', 'x'.repeat(129)], 'pw\n'), 'a username is 1 to 128 characters, without control characters or surrounding spaces');
  });

  it('user disable finds the user in any case and sets disabled', async () => {
    expect(authd(['user', 'disable', 'ERIN']).status).toBe(0);
    expect(await db.query(`SELECT username, disabled FROM users ORDER BY username`)).toEqual([
      { username: 'dora', disabled: false },
      { username: 'erin', disabled: true },
    ]);
  });
});

describe('authd client secret', () => {
  // `client list` below expects the clients of `client add` alone.
  afterAll(() => db.query(`DELETE FROM clients WHERE client_id LIKE 'rotated%'`));

  it("replaces a confidential client's secret, prints the new one once, and keeps only its SHA-256", async () => {
    const added = authd(['client', 'add', 'rotated']);
    const first = /client_secret: ([A-Za-z0-9_-]{43})/.exec(added.stdout)![1]!;
    const result = authd(['client', 'secret', 'rotated'], '', { LOG_LEVEL: 'info' });
    expect(result.status).toBe(0);
    const [idLine, secretLine, end] = result.stdout.split('\n');
    expect([idLine, end]).toEqual(['client_id: rotated', '']);
    const second = /^client_secret: ([A-Za-z0-9_-]{43})$/.exec(secretLine!)![1]!;
    expect(second).not.toBe(first);
    const audited = result.stderr.trimEnd().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => line['audit'] === true);
    expect(audited).toEqual([expect.objectContaining({ event: 'client_secret_replaced', client_id: 'rotated' })]);
    expect(result.stderr).not.toContain(second);
    expect(await db.query(`SELECT secret_hash FROM clients WHERE client_id = 'rotated'`)).toEqual([
      { secret_hash: createHash('sha256').update(second).digest('hex') },
    ]);
  });

  it('refuses a public client and an unknown one with one line, changing nothing', async () => {
    expect(authd(['client', 'add', 'rotated-public', '--public']).status).toBe(0);
    oneLineError(authd(['client', 'secret', 'rotated-public']), 'client "rotated-public" is public: it has no secret');
    expect(await db.query(`SELECT secret_hash FROM clients WHERE client_id = 'rotated-public'`)).toEqual([{ secret_hash: null }]);
    oneLineError(authd(['client', 'secret', 'nobody']), 'no client "nobody"');
  });
});

describe('authd client add', () => {
  it('stores every option; the secret is printed once and only its SHA-256 is kept', async () => {
    const result = authd([
      'client', 'add', 'reports', '--name', 'Reports job', '--grant', 'client_credentials', '--grant', 'client_credentials',
      '--scope', 'a:read', '--scope', 'b:write', '--audience', 'https://one.example.test', '--audience', 'https://two.example.test',
      '--access-ttl', '3600',
    ]);
    expect(result.status).toBe(0);
    expect(result.stderr).toBe('');
    const lines = result.stdout.split('\n');
    expect(lines).toHaveLength(3); // two lines and the final newline
    expect(lines[0]).toBe('client_id: reports');
    const secret = /^client_secret: ([A-Za-z0-9_-]{43})$/.exec(lines[1]!)![1]!;
    expect(await db.query('SELECT * FROM clients WHERE client_id = $1', ['reports'])).toEqual([{
      client_id: 'reports',
      name: 'Reports job',
      secret_hash: createHash('sha256').update(secret).digest('hex'),
      grant_types: ['client_credentials'],
      scopes: ['a:read', 'b:write'],
      audiences: ['https://one.example.test', 'https://two.example.test'],
      access_token_ttl: 3600,
      created_at: expect.any(Date),
      updated_at: expect.any(Date),
    }]);
  });

  it('a public client prints one line and stores no secret', async () => {
    expect(authd(['client', 'add', 'mobile', '--public', '--grant', 'password', '--access-ttl', '60'])).toEqual({ status: 0, stdout: 'client_id: mobile\n', stderr: '' });
    expect(await db.query(`SELECT name, secret_hash, grant_types, access_token_ttl FROM clients WHERE client_id = 'mobile'`)).toEqual([
      { name: 'mobile', secret_hash: null, grant_types: ['password'], access_token_ttl: 60 },
    ]);
  });

  it.each([
    [['--grant', 'password', '--grant', 'authorization_code'], 'unknown grant "authorization_code"; grants are password, client_credentials, refresh_token'],
    [['--public', '--grant', 'refresh_token', '--grant', 'client_credentials'], 'a public client cannot use client_credentials'],
    [['--scope', 'has"quote'], 'invalid scope "has\\"quote"'],
    [['--scope', 'two words'], 'invalid scope "two words"'],
    [['--audience', ''], 'invalid audience ""'],
    [['--audience', 'https://a.test https://b.test'], 'invalid audience "https://a.test https://b.test"'],
    [['--audience', 'https://a.test/\u0001'], 'invalid audience "https://a.test/\\u0001"'],
  ])('refuses %j with one line and stores nothing', async (options, message) => {
    oneLineError(authd(['client', 'add', 'refused', ...options]), message);
    expect(await db.query(`SELECT 1 FROM clients WHERE client_id = 'refused'`)).toEqual([]);
  });

  it.each([['59'], ['3601'], ['900s'], ['1e3'], ['']])('refuses --access-ttl %j with exit 1 and nothing stored', async (ttl) => {
    const result = authd(['client', 'add', 'refused', '--access-ttl', ttl]);
    expect(result.status).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr.split('\n')[0]).toContain('must be a whole number of seconds from 60 to 3600');
    expect(await db.query(`SELECT 1 FROM clients WHERE client_id = 'refused'`)).toEqual([]);
  });

  it('refuses a client_id outside the pattern', () => {
    oneLineError(authd(['client', 'add', 'has:colon']), 'a client_id is 1 to 128 characters of A-Z a-z 0-9 . _ ~ -');
    oneLineError(authd(['client', 'add', 'x'.repeat(129)]), 'a client_id is 1 to 128 characters of A-Z a-z 0-9 . _ ~ -');
    oneLineError(authd(['client', 'add', '3F2C1B9E-8D4A-4C6B-9E1F-2A3B4C5D6E7F']), 'a client_id may not have the form of a UUID: users are named so in tokens');
  });
});

describe('authd client list', () => {
  it('prints one line per client in client_id order, without any secret or hash', async () => {
    const added = authd(['client', 'add', 'api-gw']);
    const secret = /client_secret: (\S+)/.exec(added.stdout)![1]!;
    const result = authd(['client', 'list']);
    expect(result.status).toBe(0);
    expect(result.stdout.trimEnd().split('\n')).toEqual([
      'api-gw  confidential  grants=client_credentials  scopes=-  audiences=-  access_ttl=default',
      'mobile  public        grants=password  scopes=-  audiences=-  access_ttl=60',
      'reports  confidential  grants=client_credentials  scopes=a:read,b:write  audiences=https://one.example.test,https://two.example.test  access_ttl=3600',
    ]);
    const hashes = await db.query<{ secret_hash: string }>('SELECT secret_hash FROM clients WHERE secret_hash IS NOT NULL');
    expect(hashes).toHaveLength(2);
    for (const { secret_hash } of hashes) expect(result.stdout).not.toContain(secret_hash);
    expect(result.stdout).not.toContain(secret);
  });
});

describe('configuration', () => {
  it('without DATABASE_URL every user and client command stops with one line', () => {
    for (const args of [['client', 'list'], ['user', 'disable', 'dora']]) {
      const result = authd(args, '', { DATABASE_URL: '' });
      expect(result.status).toBe(1);
      expect(result.stdout).toBe('');
      expect(result.stderr).toMatch(/^authd: configuration error: DATABASE_URL .*\n$/);
    }
  });
});
