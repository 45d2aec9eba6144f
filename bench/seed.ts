import pg from 'pg';
import { Redis } from 'ioredis';
import { generateClientSecret, hashClientSecret } from '../src/clients/client-secret.js';
import { migrateDatabase } from '../src/db/migrate-url.js';
import { createPasswordHasher, type Argon2Cost } from '../src/passwords/password-hasher.js';
import { createClientStore } from '../src/stores/client-store.js';
import { createDatabase } from '../src/stores/database.js';
import { createUserStore } from '../src/stores/user-store.js';

const basic = (clientId: string, secret: string) => `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`;

/** A fresh bench database and Redis db with one user and the clients the scenarios use. */
export async function seedBenchDatabase(databaseUrl: string, redisUrl: string, cost: Argon2Cost) {
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

  const db = createDatabase(databaseUrl, { poolSize: 2 });
  try {
    const clients = createClientStore(db);
    const secrets = { cc: generateClientSecret(), web: generateClientSecret(), rs: generateClientSecret() };
    const common = { accessTokenTtl: null, audiences: ['https://api.example.test'], scopes: ['read'] };
    await clients.create({ ...common, clientId: 'bench-cc', name: 'bench-cc', secretHash: hashClientSecret(secrets.cc), grantTypes: ['client_credentials'] });
    await clients.create({ ...common, clientId: 'bench-web', name: 'bench-web', secretHash: hashClientSecret(secrets.web), grantTypes: ['password', 'refresh_token'] });
    await clients.create({ ...common, clientId: 'bench-rs', name: 'bench-rs', secretHash: hashClientSecret(secrets.rs), grantTypes: ['client_credentials'] });
    const password = 'bench password, long enough';
    await createUserStore(db).create({ username: 'bench', passwordHash: await createPasswordHasher({ cost }).hash(password), roles: ['reader'] });
    return {
      basic: { cc: basic('bench-cc', secrets.cc), web: basic('bench-web', secrets.web), rs: basic('bench-rs', secrets.rs) },
      username: 'bench',
      password,
    };
  } finally {
    await db.$disconnect();
  }
}
