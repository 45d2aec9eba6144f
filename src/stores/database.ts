import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from '../generated/prisma/client.js';

export type Database = PrismaClient;

/** The client handed to an interactive transaction's callback. */
export type DatabaseTransaction = Parameters<Parameters<PrismaClient['$transaction']>[0]>[0];

/** A Prisma client over node-postgres. The pool is sized for one authd process. */
export function createDatabase(databaseUrl: string, { poolSize = 10 } = {}): Database {
  return new PrismaClient({ adapter: new PrismaPg({ connectionString: databaseUrl, max: poolSize }) });
}

/** Resolves when Postgres answers a trivial query. */
export async function pingDatabase(db: Database): Promise<void> {
  await db.$queryRaw`SELECT 1`;
}
