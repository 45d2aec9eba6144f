import { isTransactionConflict } from './prisma-errors.js';

/** Connection-level failures of node-postgres and the OS, by `code` (out of file descriptors or local ports too). */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE', 'EMFILE', 'ENFILE', 'EADDRNOTAVAIL']);

/**
 * Prisma's codes for the same: can't reach, timed out, server closed the connection, no pool
 * connection in time, too many connections.
 */
const PRISMA_CODES = new Set(['P1001', 'P1002', 'P1008', 'P1017', 'P2024', 'P2037']);

/**
 * SQLSTATEs of a server that is there but cannot serve: connection exceptions (class 08, but not
 * 08P01, a protocol violation, which is a bug), shutting down or starting up (57P01–57P03), out of
 * resources (class 53: disk full, out of memory, too many connections, a configured limit), a
 * statement cancelled past the session's statement_timeout (57014) or a lock not had within the
 * role's lock_timeout (55P03), a server that takes no writes (25006: a standby after a failover,
 * or a database set read-only when its storage filled), and I/O errors (58000, 58030).
 */
const UNAVAILABLE_SQLSTATES = new Set([
  '08000', '08001', '08003', '08004', '08006',
  '57P01', '57P02', '57P03',
  '53000', '53100', '53200', '53300', '53400',
  '57014', '55P03', '25006', '58000', '58030',
]);

/** Kinds of Prisma's driver-adapter errors (`meta.driverAdapterError.cause`) that mean the same. */
const ADAPTER_KINDS = new Set(['DatabaseNotReachable', 'ConnectionClosed', 'SocketTimeout', 'TooManyConnections']);

/** node-postgres throws these as plain Errors, with no code. */
const CONNECTION_MESSAGES = [
  /^Connection terminated/,
  /^timeout exceeded when trying to connect/,
  /^Client has encountered a connection error/,
  /^Query read timeout/,
];

const isUnavailable = (error: unknown): boolean => {
  if (typeof error !== 'object' || error === null) return false;
  const { code, message, kind } = error as { code?: unknown; message?: unknown; kind?: unknown };
  if (typeof kind === 'string' && ADAPTER_KINDS.has(kind)) return true;
  if (typeof code === 'string' && (NETWORK_CODES.has(code) || PRISMA_CODES.has(code) || UNAVAILABLE_SQLSTATES.has(code))) return true;
  if (typeof message !== 'string') return false;
  // P2028 is any misuse of an interactive transaction; two mean a Postgres too slow or too busy:
  // the pool had no connection in time, or the transaction outlived its timeout.
  if (code === 'P2028') return message.includes('Unable to start a transaction in the given time') || message.includes('on an expired transaction');
  return CONNECTION_MESSAGES.some((pattern) => pattern.test(message));
};

/** What an error wraps: its `cause`, or for Prisma's raw queries the driver adapter's error. */
const inner = (error: object): unknown =>
  (error as { cause?: unknown }).cause ?? (error as { meta?: { driverAdapterError?: unknown } }).meta?.driverAdapterError;

/** An error and what it wraps, outermost first, five deep at most. */
function* wrapped(error: unknown): Generator<object> {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && typeof current === 'object' && current !== null; depth += 1) {
    yield current;
    current = inner(current);
  }
}

/**
 * Whether an error from Prisma or node-postgres means Postgres could not be reached or could not
 * serve (worth a retry), as opposed to a query that failed. Looks through what errors wrap.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  // A transaction aborted for a deadlock reaches here only once the store's own retries of it have failed.
  if (isTransactionConflict(error)) return true;
  for (const current of wrapped(error)) if (isUnavailable(current)) return true;
  return false;
}

/** What an operator must fix before authd can use its database, as Postgres, Prisma and the driver adapter tell it. */
export type DatabaseProblem = 'unavailable' | 'no-database' | 'not-migrated' | 'credentials';

/** SQLSTATEs, Prisma codes and driver-adapter kinds of the problems other than `unavailable`. */
const PROBLEMS: readonly [DatabaseProblem, ReadonlySet<string>][] = [
  ['no-database', new Set(['3D000', 'P1003', 'DatabaseDoesNotExist'])],
  ['not-migrated', new Set(['42P01', 'P2021', 'TableDoesNotExist'])],
  ['credentials', new Set(['28P01', '28000', 'P1000', 'AuthenticationFailed', 'DatabaseAccessDenied'])],
];

/**
 * The database problem an error shows, with the code that shows it (an SQLSTATE, an errno, Prisma's
 * or the driver adapter's), looking through what it wraps; undefined for any other error.
 */
export function databaseProblem(error: unknown): { problem: DatabaseProblem; code: string } | undefined {
  const unavailable = isDatabaseUnavailable(error);
  /** The innermost code, which names the cause rather than a wrapper; only a plain code, never a message. */
  let innermostCode = 'no code';
  for (const current of wrapped(error)) {
    const { code, kind, originalCode } = current as { code?: unknown; kind?: unknown; originalCode?: unknown };
    const codes = [originalCode, code, kind].filter((value): value is string => typeof value === 'string' && PLAIN_CODE.test(value));
    innermostCode = codes[0] ?? innermostCode;
    if (!unavailable) {
      for (const [problem, known] of PROBLEMS) {
        const found = codes.find((value) => known.has(value));
        if (found !== undefined) return { problem, code: found };
      }
    }
  }
  return unavailable ? { problem: 'unavailable', code: innermostCode } : undefined;
}

/** An SQLSTATE, an errno name, a Prisma code or an adapter's kind: nothing else is shown. */
const PLAIN_CODE = /^[A-Za-z0-9_]{1,40}$/;
