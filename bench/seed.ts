import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { Redis } from 'ioredis';
import { generateClientSecret, hashClientSecret } from '../src/clients/client-secret.js';
import { systemClock } from '../src/clock.js';
import { migrateDatabase } from '../src/db/migrate-url.js';
import { createAccessTokenIssuer } from '../src/flows/access-token-issuer.js';
import { readKeyFile } from '../src/keys/key-file.js';
import { createPasswordHasher, type Argon2Cost } from '../src/passwords/password-hasher.js';
import { createClientStore } from '../src/stores/client-store.js';
import { connectDatabase, type SqlPool } from '../src/stores/database.js';
import { createUserStore } from '../src/stores/user-store.js';
import { newJti } from '../src/tokens/access-token.js';
import { hashRefreshToken, newRefreshToken } from '../src/tokens/refresh-token.js';

/** Rows per INSERT of seeded refresh tokens (see insertRefreshTokens). */
const SEED_BATCH = 100_000;

/**
 * Live refresh tokens, one per rotation the bench will make: each rotation spends one, so the
 * bench cannot chain them (autocannon prepares the next request before the response arrives).
 * Plain SQL: through Prisma's createMany, 12,000 rows cost 4 s of CPU, most of the set-up of a
 * `--quick` run. In statements of SEED_BATCH rows: one of 880,000 (`--against --duration 20`)
 * outlasted the pool's query timeout.
 */
async function insertRefreshTokens(sql: SqlPool, userId: string, count: number): Promise<string[]> {
  const tokens = Array.from({ length: count }, () => newRefreshToken());
  for (let start = 0; start < count; start += SEED_BATCH) {
    const batch = tokens.slice(start, start + SEED_BATCH);
    await sql.query(
      `INSERT INTO refresh_tokens (id, token_hash, family_id, user_id, client_id, scope, audience, created_at, expires_at,
         family_expires_at, access_token_jti, access_token_expires_at)
       SELECT gen_random_uuid(), token_hash, gen_random_uuid(), $1::uuid, 'bench-web', '{read}'::text[], 'https://api.example.test', now(),
         now() + interval '1 hour', now() + interval '2 hours', jti, now() + interval '15 minutes'
       FROM unnest($2::text[], $3::text[]) AS t(token_hash, jti)`,
      [userId, batch.map(hashRefreshToken), batch.map(() => newJti())],
    );
  }
  return tokens;
}

/**
 * Users the password row logs in as, in turn: a login storm is many users, and one user's
 * concurrent attempts from one address run LOGIN_MAX_FAILURES at a time (the throttle holds the rest).
 */
const BENCH_USERS = 64;

const basic = (clientId: string, secret: string) => `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`;

/** Where the bench keeps its data: a database and a Redis db of their own, wiped at every run. */
export const benchDatabaseUrl = process.env.BENCH_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/authd_bench';
export const benchRedisUrl = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/13';

/** Drops and re-creates the bench database with authd's migrations, and empties the bench Redis db. */
export async function freshBenchDatabase(databaseUrl: string, redisUrl: string): Promise<void> {
  const name = new URL(databaseUrl).pathname.slice(1);
  const adminUrl = new URL(databaseUrl);
  adminUrl.pathname = '/postgres';
  const admin = new pg.Client({ connectionString: adminUrl.toString() });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  await admin.query(`CREATE DATABASE "${name}"`);
  await admin.end();
  await migrateDatabase(databaseUrl);
  const redis = new Redis(redisUrl);
  await redis.flushdb();
  await redis.quit();
}

/** A fresh bench database and Redis db with one user and the clients the scenarios use. */
export async function seedBenchDatabase(databaseUrl: string, redisUrl: string, cost: Argon2Cost, refreshTokenCount: number) {
  await freshBenchDatabase(databaseUrl, redisUrl);
  const { db, sql, close } = connectDatabase(databaseUrl, { poolSize: 2 });
  try {
    const clients = createClientStore(db, sql);
    const secrets = { cc: generateClientSecret(), web: generateClientSecret(), rs: generateClientSecret() };
    const common = { accessTokenTtl: null, audiences: ['https://api.example.test'], scopes: ['read'] };
    await clients.create({ ...common, clientId: 'bench-cc', name: 'bench-cc', secretHash: hashClientSecret(secrets.cc), grantTypes: ['client_credentials'] });
    await clients.create({ ...common, clientId: 'bench-web', name: 'bench-web', secretHash: hashClientSecret(secrets.web), grantTypes: ['password', 'refresh_token'] });
    await clients.create({ ...common, clientId: 'bench-rs', name: 'bench-rs', secretHash: hashClientSecret(secrets.rs), grantTypes: ['client_credentials'] });
    const password = 'bench password, long enough';
    const passwordHash = await createPasswordHasher({ cost }).hash(password);
    const users = createUserStore(db, sql);
    const usernames = Array.from({ length: BENCH_USERS }, (_, i) => `bench-${i}`);
    const [first] = await Promise.all(usernames.map((username) => users.create({ username, passwordHash, roles: ['reader'] })));
    return {
      refreshTokens: await insertRefreshTokens(sql, first!.id, refreshTokenCount),
      basic: { cc: basic('bench-cc', secrets.cc), web: basic('bench-web', secrets.web), rs: basic('bench-rs', secrets.rs) },
      usernames,
      password,
    };
  } finally {
    await close();
  }
}

/**
 * Issues access tokens for `bench-cc` through authd's own issuer with the key authd made in
 * `keysDir`: for rows that need thousands of distinct tokens without spending seconds on HTTP.
 */
export async function accessTokenMinter(keysDir: string, issuer: string): Promise<() => Promise<string>> {
  const [file] = (await readdir(keysDir)).filter((name) => name.endsWith('.json'));
  if (file === undefined) throw new Error(`no key file in ${keysDir}`);
  const { key } = await readKeyFile(join(keysDir, file));
  const accessTokens = createAccessTokenIssuer({ issuer, keys: { activeKey: () => key }, clock: systemClock });
  return async () =>
    (await accessTokens.issue({ subject: 'bench-cc', clientId: 'bench-cc', audience: 'https://api.example.test', scopes: ['read'], ttlSeconds: 3600 })).token;
}
