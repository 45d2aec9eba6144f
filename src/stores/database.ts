import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaClient } from '../generated/prisma/client.js';

export type Database = PrismaClient;

/** node-postgres, for the few hot-path statements where Prisma's per-query work outweighs the query. */
export type SqlPool = pg.Pool;

/** The client handed to an interactive transaction's callback. */
export type DatabaseTransaction = Parameters<Parameters<PrismaClient['$transaction']>[0]>[0];

export interface DatabaseConnections {
  readonly db: Database;
  /** The same pool Prisma uses. */
  readonly sql: SqlPool;
  close(): Promise<void>;
}

/** Prisma and plain SQL over one shared node-postgres pool, sized for one authd process by default. */
export function connectDatabase(databaseUrl: string, { poolSize = 10 } = {}): DatabaseConnections {
  const sql = new pg.Pool({ connectionString: databaseUrl, max: poolSize });
  sql.on('error', () => undefined);
  const db = new PrismaClient({ adapter: new PrismaPg(sql) });
  return {
    db,
    sql,
    async close() {
      await db.$disconnect();
      await sql.end().catch(() => undefined);
    },
  };
}

/** Resolves when Postgres answers a trivial query. */
export async function pingDatabase(sql: SqlPool): Promise<void> {
  await sql.query('SELECT 1');
}
