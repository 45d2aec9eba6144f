import { jest } from '@jest/globals';
import { settlesWithin } from '../src/settles-within.js';

afterEach(() => {
  jest.useRealTimers();
});

describe('settlesWithin', () => {
  it('is true for a promise that fulfils or rejects in time, and false for one that does not', async () => {
    jest.useFakeTimers();
    await expect(settlesWithin(Promise.resolve('done'), 100)).resolves.toBe(true);
    await expect(settlesWithin(Promise.reject(new Error('Postgres went away')), 100)).resolves.toBe(true);

    let answered: boolean | undefined;
    void settlesWithin(new Promise(() => undefined), 100).then((settled) => (answered = settled));
    await jest.advanceTimersByTimeAsync(99);
    expect(answered).toBeUndefined();
    await jest.advanceTimersByTimeAsync(1);
    expect(answered).toBe(false);
  });

  it('answers at once when no time is left', async () => {
    jest.useFakeTimers();
    let answered: boolean | undefined;
    void settlesWithin(new Promise(() => undefined), -5).then((settled) => (answered = settled));
    await jest.advanceTimersByTimeAsync(0);
    expect(answered).toBe(false);
  });
});
