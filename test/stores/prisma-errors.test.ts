import { isTransactionConflict } from '../../src/stores/prisma-errors.js';

// The shapes Prisma 7 with @prisma/adapter-pg gives a deadlock or serialization failure (seen in a scratch database).
const adapterError = (kind: string) => Object.assign(new Error(kind), { name: 'DriverAdapterError', cause: { kind } });

it('tells a transaction Postgres aborted for a conflict, in each shape Prisma reports it', () => {
  expect(isTransactionConflict({ code: 'P2034' })).toBe(true);
  expect(isTransactionConflict({ code: 'P2010', meta: { driverAdapterError: adapterError('TransactionWriteConflict') } })).toBe(true);
  expect(isTransactionConflict(adapterError('TransactionWriteConflict'))).toBe(true);
});

it('leaves every other failure to the caller', () => {
  expect(isTransactionConflict({ code: 'P2002' })).toBe(false);
  expect(isTransactionConflict({ code: 'P2010', meta: { driverAdapterError: adapterError('UniqueConstraintViolation') } })).toBe(false);
  expect(isTransactionConflict(adapterError('DatabaseNotReachable'))).toBe(false);
  expect(isTransactionConflict(new Error('TransactionWriteConflict'))).toBe(false);
  expect(isTransactionConflict(undefined)).toBe(false);
});
