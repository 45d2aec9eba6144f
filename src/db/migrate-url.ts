import pg from 'pg';
import { applyMigrations, readMigrations } from './migrations.js';

/** Connects to a PostgreSQL URL, applies the pending migrations and disconnects. */
export async function migrateDatabase(databaseUrl: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return await applyMigrations(client, await readMigrations());
  } finally {
    await client.end();
  }
}
