/** Prisma's code for a unique-constraint violation. */
const UNIQUE_VIOLATION = 'P2002';

export const isUniqueViolation = (error: unknown): boolean =>
  typeof error === 'object' && error !== null && (error as { code?: unknown }).code === UNIQUE_VIOLATION;

/**
 * Postgres aborted the transaction for a deadlock (40P01) or a serialization failure (40001):
 * running it again may succeed. Prisma reports it as P2034 from a model query, as P2010 with the
 * driver adapter's `TransactionWriteConflict` from a raw one, and as the adapter's error itself
 * when COMMIT fails.
 */
export const isTransactionConflict = (error: unknown): boolean => {
  if (typeof error !== 'object' || error === null) return false;
  type Conflict = { kind?: unknown };
  const { code, name, cause, meta } = error as { code?: unknown; name?: unknown; cause?: Conflict; meta?: { driverAdapterError?: { cause?: Conflict } } };
  const CONFLICT = 'TransactionWriteConflict';
  return (
    code === 'P2034' ||
    (code === 'P2010' && meta?.driverAdapterError?.cause?.kind === CONFLICT) ||
    (name === 'DriverAdapterError' && cause?.kind === CONFLICT)
  );
};
