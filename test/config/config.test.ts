import { ConfigError, loadConfig } from '../../src/config/config.js';

const failure = (env: Record<string, string>): string => {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('expected loadConfig to throw');
};

describe('loadConfig', () => {
  it('applies the documented defaults', () => {
    const config = loadConfig({});
    expect(config).toEqual({
      nodeEnv: 'development',
      port: 8080,
      host: '127.0.0.1',
      issuer: 'http://localhost:8080',
      databaseUrl: undefined,
      redisUrl: undefined,
      keysDir: './keys',
      accessTokenTtl: 900,
      refreshTokenTtl: 1_209_600,
      refreshFamilyMaxAge: 2_592_000,
      refreshReuseGrace: 0,
      keyRotationInterval: 2_592_000,
      argon2: { memoryCost: 19_456, timeCost: 2, parallelism: 1 },
      loginMaxFailures: 5,
      loginLockSeconds: 900,
      corsOrigins: [],
      trustedProxies: 0,
      logLevel: 'info',
      threadpoolSize: 4,
    });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('parses every variable', () => {
    const config = loadConfig({
      PORT: '9000',
      HOST: '0.0.0.0',
      ISSUER: 'https://auth.example.com',
      DATABASE_URL: 'postgresql://u:p@db:5432/authd',
      REDIS_URL: 'rediss://cache:6380/2',
      KEYS_DIR: '/var/lib/authd/keys',
      ACCESS_TOKEN_TTL: '600',
      REFRESH_TOKEN_TTL: '3600',
      REFRESH_FAMILY_MAX_AGE: '86400',
      REFRESH_REUSE_GRACE: '10',
      KEY_ROTATION_INTERVAL: '0',
      ARGON2_MEMORY_KIB: '65536',
      ARGON2_TIME_COST: '3',
      ARGON2_PARALLELISM: '2',
      LOGIN_MAX_FAILURES: '10',
      LOGIN_LOCK_SECONDS: '60',
      CORS_ORIGINS: 'https://a.example.com, http://localhost:3000',
      TRUST_PROXY: 'true',
      LOG_LEVEL: 'warn',
      UV_THREADPOOL_SIZE: '17',
    });
    expect(config).toMatchObject({
      port: 9000,
      host: '0.0.0.0',
      issuer: 'https://auth.example.com',
      databaseUrl: 'postgresql://u:p@db:5432/authd',
      redisUrl: 'rediss://cache:6380/2',
      accessTokenTtl: 600,
      refreshReuseGrace: 10,
      keyRotationInterval: 0,
      argon2: { memoryCost: 65536, timeCost: 3, parallelism: 2 },
      corsOrigins: ['https://a.example.com', 'http://localhost:3000'],
      trustedProxies: 1,
      logLevel: 'warn',
      threadpoolSize: 17,
    });
  });

  it('reads TRUST_PROXY as a number of proxies: true is one, false none', () => {
    expect([undefined, 'false', '0', 'true', '1', '2', '10'].map((value) => loadConfig(value === undefined ? {} : { TRUST_PROXY: value }).trustedProxies)).toEqual([
      0, 0, 0, 1, 1, 2, 10,
    ]);
  });

  it('takes lifetimes and rotation intervals of a few seconds, as tests of expiry set them', () => {
    const config = loadConfig({ ACCESS_TOKEN_TTL: '1', REFRESH_TOKEN_TTL: '2', REFRESH_FAMILY_MAX_AGE: '3', KEY_ROTATION_INTERVAL: '60' });
    expect([config.accessTokenTtl, config.refreshTokenTtl, config.refreshFamilyMaxAge, config.keyRotationInterval]).toEqual([1, 2, 3, 60]);
  });

  it('takes a Postgres URL without a host (a Unix socket named by ?host=), with or without a user', () => {
    expect(loadConfig({ DATABASE_URL: 'postgresql:///authd?host=/var/run/postgresql' }).databaseUrl).toBe('postgresql:///authd?host=/var/run/postgresql');
    const refusal = 'DATABASE_URL must be a URL with scheme postgres:// or postgresql:// and a host, or ?host= naming a socket directory';
    // Without its '//', a URL's password would be a path: it is hidden all the same.
    expect(failure({ DATABASE_URL: 'postgres:authd:S3cret@db.example.com:5432/authd' })).toBe(`${refusal} (got "postgres:***@db.example.com:5432/authd")`);
    expect(failure({ DATABASE_URL: 'postgresql:///authd' })).toBe(`${refusal} (got "postgresql:///authd")`);
    // A user and no host, as node-postgres reads it: the socket's user, not the OS user's name.
    expect(loadConfig({ DATABASE_URL: 'postgresql://postgres@/authd?host=/var/run/postgresql' }).databaseUrl).toBe(
      'postgresql://postgres@/authd?host=/var/run/postgresql',
    );
    expect(failure({ DATABASE_URL: 'postgresql://postgres:S3cret@/authd' })).toBe(`${refusal} (got "postgresql://***@/authd")`);
    expect(failure({ REDIS_URL: 'redis://user@/0?host=/tmp' })).toMatch(/^REDIS_URL must be a URL with scheme redis:\/\/ or rediss:\/\//);
    expect(failure({ REDIS_URL: 'redis:///0' })).toMatch(/^REDIS_URL must be a URL with scheme redis:\/\/ or rediss:\/\//);
  });

  it('treats empty values as unset', () => {
    expect(loadConfig({ PORT: '', CORS_ORIGINS: '' }).port).toBe(8080);
  });

  it.each([
    [{ PORT: 'abc' }, 'PORT must be a whole number (got "abc")'],
    [{ PORT: '70000' }, 'PORT must be at most 65535 (got "70000")'],
    [{ ACCESS_TOKEN_TTL: '-5' }, 'ACCESS_TOKEN_TTL must be at least 1 (got "-5")'],
    [{ ACCESS_TOKEN_TTL: '7200' }, 'ACCESS_TOKEN_TTL must be at most 3600 (got "7200")'],
    [{ REFRESH_TOKEN_TTL: '1.5' }, 'REFRESH_TOKEN_TTL must be a whole number (got "1.5")'],
    [{ CORS_ORIGINS: '*' }, 'CORS_ORIGINS must list exact origins like https://app.example.com (scheme, host, optional port; no path, no *) (got "*")'],
    [{ CORS_ORIGINS: 'https://a.example.com/path' }, 'CORS_ORIGINS must list exact origins'],
    [{ DATABASE_URL: 'not a url' }, 'DATABASE_URL must be a URL with scheme postgres:// or postgresql:// and a host, or ?host= naming a socket directory (got "not a url")'],
    [{ DATABASE_URL: 'mysql://u:hunter2@db/authd' }, 'DATABASE_URL must be a URL with scheme postgres:// or postgresql:// and a host, or ?host= naming a socket directory (got "mysql://u:***@db/authd")'],
    [{ DATABASE_URL: 'postgres://u:p#ss@db/authd' }, 'DATABASE_URL must be a URL with scheme postgres:// or postgresql:// and a host, or ?host= naming a socket directory (got "postgres://***@db/authd")'],
    [{ DATABASE_URL: 'postgres://:1234#secret@db' }, 'DATABASE_URL must be a URL with scheme postgres:// or postgresql:// and a host, or ?host= naming a socket directory (got "postgres://***@db")'],
    [{ REDIS_URL: 'redis://:p/ss@w@cache:6379' }, 'REDIS_URL must be a URL with scheme redis:// or rediss:// (got "redis://***@cache:6379")'],
    [{ REDIS_URL: 'http://cache' }, 'REDIS_URL must be a URL with scheme redis:// or rediss://'],
    [{ ISSUER: 'https://auth.example.com/' }, 'ISSUER must be an http(s) URL without a trailing slash'],
    [{ ISSUER: 'auth.example.com' }, 'ISSUER must be a URL with scheme http:// or https:// (got "auth.example.com")'],
    [{ ISSUER: 'https://user@/auth' }, 'ISSUER must be a URL with scheme http:// or https:// (got "https://***@/auth")'],
    [{ ISSUER: 'https://:S3cret@auth.example.com' }, 'ISSUER must be an http(s) URL without a trailing slash, query, fragment or credentials (got "https://:***@auth.example.com/")'],
    [{ ISSUER: 'https://@auth.example.com' }, 'ISSUER must be an http(s) URL without a trailing slash, query, fragment or credentials'],
    [{ DATABASE_URL: 'postgresql://postgres@/authd?host=' }, 'DATABASE_URL must be a URL with scheme postgres:// or postgresql://'],
    [{ DATABASE_URL: 'postgresql:///authd?host=/var/run/postgresql&host=' }, 'DATABASE_URL must be a URL with scheme postgres:// or postgresql://'],
    [{ DATABASE_URL: 'postgresql://authd@/authd?password=S3cret' }, 'DATABASE_URL must be a URL with scheme postgres:// or postgresql:// and a host, or ?host= naming a socket directory (got "postgresql://***@/authd?password=***")'],
    [{ REDIS_URL: 'http://cache?password=S3cret&db=1' }, 'REDIS_URL must be a URL with scheme redis:// or rediss:// (got "http://cache?password=***&db=1")'],
    [{ REDIS_URL: 'redis://:p%zz@cache:6379' }, 'REDIS_URL must have its user and password percent-encoded (a % as %25) (got "redis://:***@cache:6379")'],
    [{ REDIS_URL: 'redis://:S3cret@cache:6379/abc' }, 'REDIS_URL must name its database, if any, by number (redis://host:6379/0) (got "redis://:***@cache:6379/abc")'],
    [{ REDIS_URL: 'redis://cache:6379?db=two' }, 'REDIS_URL must name its database, if any, by number (redis://host:6379/0)'],
    [{ DATABASE_URL: 'postgres://authd:p%ff@db/authd' }, 'DATABASE_URL must have its user and password percent-encoded (a % as %25) (got "postgres://authd:***@db/authd")'],
    [{ ISSUER: 'https://us%e9r@auth.example.com' }, 'ISSUER must be an http(s) URL without a trailing slash, query, fragment or credentials'],
    [{ DATABASE_URL: 'postgresql://us%e9r@/authd?host=/var/run/postgresql' }, 'DATABASE_URL must have its user and password percent-encoded (a % as %25) (got "postgresql://***@/authd?host=/var/run/postgresql")'],
    [{ ACCESS_TOKEN_TTL: '0' }, 'ACCESS_TOKEN_TTL must be at least 1 (got "0")'],
    [{ REFRESH_FAMILY_MAX_AGE: '0' }, 'REFRESH_FAMILY_MAX_AGE must be at least 1 (got "0")'],
    [{ KEY_ROTATION_INTERVAL: '-1' }, 'KEY_ROTATION_INTERVAL must be at least 0 (got "-1")'],
    [{ TRUST_PROXY: 'yes' }, 'TRUST_PROXY must be true, false or the number of proxies in front of authd (0 to 10) (got "yes")'],
    [{ TRUST_PROXY: '11' }, 'TRUST_PROXY must be true, false or the number of proxies in front of authd (0 to 10) (got "11")'],
    [{ TRUST_PROXY: '-1' }, 'TRUST_PROXY must be true, false or the number of proxies in front of authd (0 to 10)'],
    [{ LOG_LEVEL: 'verbose' }, 'LOG_LEVEL'],
    [{ LOGIN_MAX_FAILURES: '0' }, 'LOGIN_MAX_FAILURES must be at least 1'],
    [{ UV_THREADPOOL_SIZE: 'many' }, 'UV_THREADPOOL_SIZE must be a whole number (got "many")'],
    [{ UV_THREADPOOL_SIZE: '1' }, 'UV_THREADPOOL_SIZE must be at least 2'],
    [{ UV_THREADPOOL_SIZE: '1025' }, 'UV_THREADPOOL_SIZE must be at most 1024'],
  ])('refuses %j', (env, message) => {
    const text = failure(env);
    expect(text.startsWith(message)).toBe(true);
    expect(text).not.toContain('\n');
  });

  it('never echoes a database password', () => {
    expect(failure({ DATABASE_URL: 'mysql://u:hunter2@db/authd' })).not.toContain('hunter2');
  });

  describe('NODE_ENV=production', () => {
    const complete = { NODE_ENV: 'production', DATABASE_URL: 'postgresql://db/authd', REDIS_URL: 'redis://cache', ISSUER: 'https://auth.example.com' };

    it('starts with services and an https issuer', () => {
      expect(loadConfig(complete).issuer).toBe('https://auth.example.com');
    });

    it.each([
      [{ DATABASE_URL: '' }, 'DATABASE_URL is required when NODE_ENV=production'],
      [{ REDIS_URL: '' }, 'REDIS_URL is required when NODE_ENV=production'],
      [{ ISSUER: 'http://auth.example.com' }, 'ISSUER must be https:// when NODE_ENV=production (http is allowed for localhost and 127.0.0.1 only)'],
      [{ ISSUER: 'http://[::1]:8080' }, 'ISSUER must be https:// when NODE_ENV=production (http is allowed for localhost and 127.0.0.1 only)'],
    ])('refuses %j', (override, message) => {
      expect(failure({ ...complete, ...override })).toBe(message);
    });

    it.each(['http://localhost:8080', 'http://127.0.0.1:8080'])('allows the local issuer %s', (issuer) => {
      expect(loadConfig({ ...complete, ISSUER: issuer }).issuer).toBe(issuer);
    });
  });
});
