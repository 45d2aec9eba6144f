import { z } from 'zod';
import { DEFAULT_THREADPOOL_SIZE } from '../passwords/argon2-workers.js';

/** The longest access-token lifetime authd will issue, whatever a client or the environment asks for. */
export const MAX_ACCESS_TOKEN_TTL_SECONDS = 3600;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** The parsed, validated configuration. Built once at start-up and frozen. */
export interface Config {
  readonly nodeEnv: string;
  readonly port: number;
  readonly host: string;
  readonly issuer: string;
  /** Unset means embedded mode (PGlite). */
  readonly databaseUrl: string | undefined;
  /** Unset means embedded mode (in-process denylist). */
  readonly redisUrl: string | undefined;
  readonly keysDir: string;
  readonly accessTokenTtl: number;
  readonly refreshTokenTtl: number;
  readonly refreshFamilyMaxAge: number;
  readonly refreshReuseGrace: number;
  readonly keyRotationInterval: number;
  readonly argon2: { readonly memoryCost: number; readonly timeCost: number; readonly parallelism: number };
  readonly loginMaxFailures: number;
  readonly loginLockSeconds: number;
  readonly corsOrigins: readonly string[];
  /**
   * How many proxies in front of authd append to X-Forwarded-For (TRUST_PROXY): the client's address
   * is that many entries from its end; 0 takes the connection's address and ignores the header.
   */
  readonly trustedProxies: number;
  readonly logLevel: (typeof LOG_LEVELS)[number];
  /** libuv's threadpool size (UV_THREADPOOL_SIZE), which bounds the argon2 workers. */
  readonly threadpoolSize: number;
}

/** A configuration problem, phrased as one line naming the variable. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

const integer = (min: number, max: number) =>
  z
    .string()
    .regex(/^-?\d+$/, { message: 'must be a whole number' })
    .transform(Number)
    .pipe(z.number().int().min(min, { message: `must be at least ${min}` }).max(max, { message: `must be at most ${max}` }));

const seconds = (min: number, max = 10 * 365 * 24 * 3600) => integer(min, max);

/**
 * A URL, and whether it names a host. With `hostOptional` it is read as node-postgres reads it,
 * which also takes a user with no host (`postgresql://postgres@/authd?host=/var/run/postgresql`)
 * that the WHATWG parser refuses: parsed, as node-postgres does, with a stand-in host that does
 * not count as one.
 */
function parseUrl(value: string, hostOptional: boolean): { parsed: URL; hasHost: boolean } | undefined {
  try {
    const parsed = new URL(value);
    return { parsed, hasHost: parsed.hostname !== '' };
  } catch {
    if (!hostOptional || !value.includes('@/')) return undefined;
    try {
      return { parsed: new URL(value.replace('@/', '@no-host.invalid/')), hasHost: false };
    } catch {
      return undefined;
    }
  }
}

/**
 * A URL with one of `schemes` and a host; with `hostOptional`, the host may be given as a `host`
 * parameter instead (`postgresql:///authd?host=/var/run/postgresql`, a Unix socket; with a user,
 * `postgresql://postgres@/authd?host=…`). With `credentials`, its user and password must decode.
 */
const url = (schemes: readonly string[], { hostOptional = false, credentials = false } = {}) =>
  z.string().refine(
    (value) => {
      const found = parseUrl(value, hostOptional);
      if (found === undefined) return false;
      const { parsed, hasHost } = found;
      // node-postgres takes the last `host` parameter, and an empty one as none (TCP to localhost).
      const socketDirectory = parsed.searchParams.getAll('host').at(-1) ?? '';
      // `postgres:user:pass@host/db` (no //) parses too, as a path: refused, it would name a database.
      return schemes.includes(parsed.protocol) && value.startsWith(`${parsed.protocol}//`) && (hasHost || (hostOptional && socketDirectory !== ''));
    },
    // abort: the checks after this one (the issuer's) parse the value as a URL, and would throw.
    {
      message: `must be a URL with scheme ${schemes.map((s) => s.replace(':', '://')).join(' or ')}${hostOptional ? ' and a host, or ?host= naming a socket directory' : ''}`,
      abort: true,
    },
  ).refine(
    // With `credentials` (a connection's URL), node-postgres and ioredis decode its user and
    // password, and throw at the first connection on what does not decode.
    (value) => {
      if (!credentials) return true;
      const { username, password } = parseUrl(value, hostOptional)!.parsed;
      return percentDecodes(username) && percentDecodes(password);
    },
    { message: 'must have its user and password percent-encoded (a % as %25)', abort: true },
  );

function percentDecodes(value: string): boolean {
  try {
    decodeURIComponent(value);
    return true;
  } catch {
    return false;
  }
}

/**
 * A Redis URL whose database, if it names one (the path, or ioredis's `?db=`), is a number: ioredis
 * reads `/abc` as no database and uses 0, and goes on with 0 when Redis refuses the one named.
 */
const redisUrl = url(['redis:', 'rediss:'], { credentials: true }).refine(
  (value) => {
    const parsed = new URL(value);
    const databases = [parsed.pathname.replace(/^\//, ''), ...parsed.searchParams.getAll('db')].filter((database) => database !== '');
    return databases.every((database) => /^\d{1,5}$/.test(database));
  },
  { message: 'must name its database, if any, by number (redis://host:6379/0)' },
);

const issuer = url(['http:', 'https:']).refine(
  (value) => {
    const parsed = new URL(value);
    // Any '@' before the path is userinfo, even an empty one (`https://@host`, `https://:pw@host`).
    const authority = value.slice(`${parsed.protocol}//`.length).split(/[/?#]/, 1)[0] ?? '';
    return !value.endsWith('/') && parsed.search === '' && parsed.hash === '' && !authority.includes('@');
  },
  { message: 'must be an http(s) URL without a trailing slash, query, fragment or credentials' },
);

const origin = z.string().refine(
  (value) => {
    try {
      return new URL(value).origin === value;
    } catch {
      return false;
    }
  },
  { message: 'must list exact origins like https://app.example.com (scheme, host, optional port; no path, no *)' },
);

const corsOrigins = z
  .string()
  .transform((value) => value.split(',').map((part) => part.trim()).filter((part) => part !== ''))
  .pipe(z.array(origin));

/** `true` is one proxy, `false` none, or a number of them: the hops to count back in X-Forwarded-For. */
const TRUSTED_PROXIES_REFUSAL = { message: 'must be true, false or the number of proxies in front of authd (0 to 10)' };
const trustedProxies = z
  .string()
  .regex(/^(?:true|false|\d{1,2})$/, TRUSTED_PROXIES_REFUSAL)
  .transform((value) => (value === 'true' ? 1 : value === 'false' ? 0 : Number(value)))
  .pipe(z.number().max(10, TRUSTED_PROXIES_REFUSAL));

const schema = z.object({
  NODE_ENV: z.string().default('development'),
  PORT: integer(0, 65535).default(8080),
  HOST: z.string().min(1).default('127.0.0.1'),
  ISSUER: issuer.default('http://localhost:8080'),
  DATABASE_URL: url(['postgres:', 'postgresql:'], { hostOptional: true, credentials: true }).optional(),
  REDIS_URL: redisUrl.optional(),
  KEYS_DIR: z.string().min(1).default('./keys'),
  // SPEC sets no lower bound: a lifetime of a few seconds is what a test of expiry needs.
  ACCESS_TOKEN_TTL: seconds(1, MAX_ACCESS_TOKEN_TTL_SECONDS).default(900),
  REFRESH_TOKEN_TTL: seconds(1).default(1_209_600),
  REFRESH_FAMILY_MAX_AGE: seconds(1).default(2_592_000),
  REFRESH_REUSE_GRACE: seconds(0, 3600).default(0),
  // 0 is off. A key is published 6 minutes before it signs and one next key waits at a time, so a
  // shorter interval rotates every 6 minutes (the README says so).
  KEY_ROTATION_INTERVAL: seconds(0).default(2_592_000),
  ARGON2_MEMORY_KIB: integer(1024, 4_194_304).default(19_456),
  ARGON2_TIME_COST: integer(1, 100).default(2),
  ARGON2_PARALLELISM: integer(1, 64).default(1),
  LOGIN_MAX_FAILURES: integer(1, 1000).default(5),
  LOGIN_LOCK_SECONDS: seconds(1).default(900),
  CORS_ORIGINS: corsOrigins.default([]),
  TRUST_PROXY: trustedProxies.default(0),
  LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),
  // Read by libuv when the process starts; authd sizes its argon2 workers to it.
  UV_THREADPOOL_SIZE: integer(2, 1024).default(DEFAULT_THREADPOOL_SIZE),
});

/** Every environment variable the configuration reads. */
export const CONFIG_VARIABLES: readonly string[] = Object.keys(schema.shape);

/** SPEC: the only http:// issuers production accepts. */
const LOCAL_HOSTS = new Set(['localhost', '127.0.0.1']);

/**
 * Parses the environment into a frozen Config. Empty values count as unset.
 * Throws ConfigError with one line naming the first offending variable.
 */
export function loadConfig(env: NodeJS.ProcessEnv): Config {
  const present = Object.fromEntries(
    Object.keys(schema.shape).flatMap((name) => {
      const value = env[name]?.trim();
      return value === undefined || value === '' ? [] : [[name, value]];
    }),
  );
  const parsed = schema.safeParse(present);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const name = String(issue.path[0]);
    const shown = present[name] === undefined ? '' : ` (got ${JSON.stringify(redactUrl(present[name]))})`;
    throw new ConfigError(`${name} ${issue.message}${shown}`);
  }
  const e = parsed.data;
  if (e.CORS_ORIGINS.length === 0 && present['CORS_ORIGINS'] !== undefined) {
    throw new ConfigError('CORS_ORIGINS lists no origin');
  }
  if (e.NODE_ENV === 'production') {
    if (e.DATABASE_URL === undefined) throw new ConfigError('DATABASE_URL is required when NODE_ENV=production');
    if (e.REDIS_URL === undefined) throw new ConfigError('REDIS_URL is required when NODE_ENV=production');
    const issuerUrl = new URL(e.ISSUER);
    if (issuerUrl.protocol === 'http:' && !LOCAL_HOSTS.has(issuerUrl.hostname)) {
      throw new ConfigError('ISSUER must be https:// when NODE_ENV=production (http is allowed for localhost and 127.0.0.1 only)');
    }
  }
  return Object.freeze({
    nodeEnv: e.NODE_ENV,
    port: e.PORT,
    host: e.HOST,
    issuer: e.ISSUER,
    databaseUrl: e.DATABASE_URL,
    redisUrl: e.REDIS_URL,
    keysDir: e.KEYS_DIR,
    accessTokenTtl: e.ACCESS_TOKEN_TTL,
    refreshTokenTtl: e.REFRESH_TOKEN_TTL,
    refreshFamilyMaxAge: e.REFRESH_FAMILY_MAX_AGE,
    refreshReuseGrace: e.REFRESH_REUSE_GRACE,
    keyRotationInterval: e.KEY_ROTATION_INTERVAL,
    argon2: Object.freeze({ memoryCost: e.ARGON2_MEMORY_KIB, timeCost: e.ARGON2_TIME_COST, parallelism: e.ARGON2_PARALLELISM }),
    loginMaxFailures: e.LOGIN_MAX_FAILURES,
    loginLockSeconds: e.LOGIN_LOCK_SECONDS,
    corsOrigins: Object.freeze(e.CORS_ORIGINS),
    trustedProxies: e.TRUST_PROXY,
    logLevel: e.LOG_LEVEL,
    threadpoolSize: e.UV_THREADPOOL_SIZE,
  });
}

/** A password given as a query parameter, which node-postgres and ioredis read too. */
const PASSWORD_PARAMETER = /([?&](?:ssl)?password=)[^&#]*/gi;

/** Keeps a URL's password out of error messages, also when the URL does not parse as written. */
function redactUrl(value: string): string {
  return redactUserinfo(value).replace(PASSWORD_PARAMETER, '$1***');
}

function redactUserinfo(value: string): string {
  try {
    const parsed = new URL(value);
    if (parsed.password !== '') {
      parsed.password = '***';
      return parsed.toString();
    }
  } catch {
    // handled below
  }
  // Not parsed, or parsed with no password where one was meant (an unescaped '#', '/' or '@' in
  // it moves the rest into the path or the fragment, and so does a missing '//'): hide everything
  // from the scheme to the last '@'.
  return value.replace(/^([a-z][a-z0-9+.-]*:)(\/\/)?.*@/i, '$1$2***@');
}
