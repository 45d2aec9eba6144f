import { createHash, randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { packageRoot } from './package-root.js';

/** The little of a SQL connection the runner needs; node-postgres' Client fits, and so can PGlite. */
export interface SqlConnection {
  query<Row extends object = Record<string, unknown>>(text: string, params?: unknown[]): Promise<{ rows: Row[] }>;
}

export interface Migration {
  readonly name: string;
  readonly sql: string;
  /** SHA-256 hex of the file, as Prisma records it. */
  readonly checksum: string;
}

/** Prisma's own advisory-lock key, so `authd migrate` and `prisma migrate deploy` never run at once. */
const MIGRATION_LOCK_KEY = 72707369;

const MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
  "id" VARCHAR(36) PRIMARY KEY NOT NULL,
  "checksum" VARCHAR(64) NOT NULL,
  "finished_at" TIMESTAMPTZ,
  "migration_name" VARCHAR(255) NOT NULL,
  "logs" TEXT,
  "rolled_back_at" TIMESTAMPTZ,
  "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(),
  "applied_steps_count" INTEGER NOT NULL DEFAULT 0
)`;

export const defaultMigrationsDir = (): string => join(packageRoot(), 'prisma', 'migrations');

/** Reads `<dir>/<timestamp>_<name>/migration.sql` in name order. */
export async function readMigrations(dir = defaultMigrationsDir()): Promise<Migration[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const names = entries.filter((entry) => entry.isDirectory()).map((entry) => entry.name).sort();
  return Promise.all(
    names.map(async (name) => {
      const sql = await readFile(join(dir, name, 'migration.sql'), 'utf8');
      return { name, sql, checksum: createHash('sha256').update(sql).digest('hex') };
    }),
  );
}

/**
 * Applies the pending migrations in order, each in its own transaction, and records them in
 * Prisma's `_prisma_migrations` table so Prisma's tooling sees them as applied. A recorded
 * migration whose file has changed stops the run: the database and the code disagree.
 * Returns the names applied.
 */
export async function applyMigrations(db: SqlConnection, migrations: readonly Migration[]): Promise<string[]> {
  await db.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
  try {
    await db.query(MIGRATIONS_TABLE);
    const { rows } = await db.query<{ migration_name: string; checksum: string }>(
      'SELECT migration_name, checksum FROM "_prisma_migrations" WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL',
    );
    const applied = new Map(rows.map((row) => [row.migration_name, row.checksum]));
    const done: string[] = [];
    for (const migration of migrations) {
      const recorded = applied.get(migration.name);
      if (recorded !== undefined) {
        if (recorded !== migration.checksum) {
          throw new Error(`migration ${migration.name} was changed after it was applied (checksum mismatch)`);
        }
        continue;
      }
      await applyOne(db, migration);
      done.push(migration.name);
    }
    return done;
  } finally {
    await db.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
  }
}

async function applyOne(db: SqlConnection, migration: Migration): Promise<void> {
  const id = randomUUID();
  await db.query('BEGIN');
  try {
    await db.query(
      'INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at) VALUES ($1, $2, $3, now())',
      [id, migration.checksum, migration.name],
    );
    await db.query(migration.sql);
    await db.query(
      'UPDATE "_prisma_migrations" SET finished_at = now(), applied_steps_count = 1 WHERE id = $1',
      [id],
    );
    await db.query('COMMIT');
  } catch (error) {
    await db.query('ROLLBACK');
    throw error;
  }
}
