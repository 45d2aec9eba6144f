import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { migrateDatabase } from '../../src/db/migrate-url.js';

/** The Postgres server tests create their databases on. */
export const TEST_DATABASE_SERVER_URL = process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';

export interface TestDatabase {
  readonly url: string;
  readonly name: string;
  /** Runs SQL as a superuser on the test database (for assertions on rows). */
  query<Row extends object = Record<string, unknown>>(text: string, params?: unknown[]): Promise<Row[]>;
  /** Resolves once a statement on this database waits for a lock; throws after ~2 s of none, naming `what`. */
  blockedOnALock(what: string): Promise<void>;
  drop(): Promise<void>;
}

/** The family of a refresh token, found by the token's hash as authd stores it. */
export async function familyIdOf(db: Pick<TestDatabase, 'query'>, refreshToken: string): Promise<string> {
  const rows = await db.query<{ family_id: string }>(`SELECT family_id FROM refresh_tokens WHERE token_hash = encode(sha256($1::bytea), 'hex')`, [refreshToken]);
  return rows[0]!.family_id;
}

const urlFor = (name: string): string => {
  const url = new URL(TEST_DATABASE_SERVER_URL);
  url.pathname = `/${name}`;
  return url.toString();
};

/** A fresh, migrated database of this test file's own; `drop()` removes it. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `authd_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: TEST_DATABASE_SERVER_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${name}"`);
  await admin.end();
  const url = urlFor(name);
  await migrateDatabase(url);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const query = async <Row extends object>(text: string, params?: unknown[]): Promise<Row[]> => (await client.query<Row>(text, params)).rows;
  return {
    url,
    name,
    query,
    async blockedOnALock(what) {
      for (let waited = 0; ; waited += 1) {
        const blocked = await query(`SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`);
        if (blocked.length > 0) return;
        if (waited > 200) throw new Error(`${what} never waited for a lock`);
        await sleep(10);
      }
    },
    drop: async () => {
      await client.end();
      const dropper = new pg.Client({ connectionString: TEST_DATABASE_SERVER_URL });
      await dropper.connect();
      await dropper.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await dropper.end();
    },
  };
}
