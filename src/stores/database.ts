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

/**
 * How long a request waits for a connection, new or pooled, before it fails (and gets a 503): a
 * Postgres host that drops packets would otherwise hold requests for the OS's connect timeout.
 */
const CONNECTION_TIMEOUT_MS = 5000;

/**
 * How long a statement may go unanswered before it fails (and the connection is dropped): a
 * Postgres that vanishes under an open connection would otherwise hold requests and pool slots
 * for the OS's retransmission timeout (~15 min). Far above any statement authd runs.
 */
const QUERY_TIMEOUT_MS = 30_000;

/** Prisma and plain SQL over one shared node-postgres pool, sized for one authd process by default. */
export function connectDatabase(databaseUrl: string, { poolSize = 10, queryTimeoutMs = QUERY_TIMEOUT_MS } = {}): DatabaseConnections {
  // keepAlive: an idle pooled connection whose peer vanished is found dead by TCP (probes after
  // 10 s idle) instead of failing the next request that takes it.
  const sql = new pg.Pool({
    connectionString: databaseUrl,
    max: poolSize,
    connectionTimeoutMillis: CONNECTION_TIMEOUT_MS,
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    query_timeout: queryTimeoutMs,
    // Prisma's driver adapter sends a Date as a timestamp without a zone, which Postgres reads in
    // the session's zone: on a server whose zone is not UTC (initdb takes the system's) every
    // expiry and revocation Prisma wrote was shifted by the offset, a revocation in Tokyo 9 h into
    // the past. And a statement authd has stopped waiting for (query_timeout) is cancelled by
    // Postgres too, instead of running on with its locks. The pool hands out a new connection once
    // this has run; if it fails, so does the query that asked for the connection.
    onConnect: async (client) => {
      await client.query(`SET TIME ZONE 'UTC'; SET statement_timeout = ${Math.trunc(queryTimeoutMs)}`);
    },
  });
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

/**
 * Resolves when Postgres answers and takes writes: a standby (a failover that left the pool's
 * address on the old primary) or a read-only database answers reads while every refresh, login and
 * revocation fails.
 */
export async function pingDatabase(sql: SqlPool): Promise<void> {
  const { rows } = await sql.query<{ writable: boolean }>(`SELECT NOT pg_is_in_recovery() AND current_setting('transaction_read_only') = 'off' AS writable`);
  if (rows[0]?.writable !== true) throw new Error('postgres takes no writes');
}

/** Rows a prune deletes per statement: a backlog never makes one long statement. */
export const PRUNE_BATCH = 10_000;

/**
 * Runs `deleteBatch` (a DELETE of at most $2 rows, dead as of $1, of those `extraParameters` ($3 on) select)
 * until a batch deletes fewer than PRUNE_BATCH rows, starting none once `stop` has aborted;
 * returns how many rows went.
 */
export async function deleteInBatches(
  sql: SqlPool,
  deleteBatch: string,
  now: Date,
  stop: AbortSignal | undefined,
  extraParameters: readonly unknown[] = [],
): Promise<number> {
  let deleted = 0;
  for (;;) {
    if (stop?.aborted) return deleted;
    const { rowCount } = await sql.query(deleteBatch, [now, PRUNE_BATCH, ...extraParameters]);
    deleted += rowCount ?? 0;
    if ((rowCount ?? 0) < PRUNE_BATCH) return deleted;
  }
}
