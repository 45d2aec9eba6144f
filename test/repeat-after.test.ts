import { jest } from '@jest/globals';
import { repeatAfter } from '../src/repeat-after.js';

afterEach(() => {
  jest.useRealTimers();
});

describe('repeatAfter', () => {
  it('starts the next run a period after the last has ended, never beside it, until stopped', async () => {
    jest.useFakeTimers();
    const ends: (() => void)[] = [];
    const work = jest.fn(() => new Promise<void>((resolve) => ends.push(resolve)));
    const stop = repeatAfter(1000, work);

    await jest.advanceTimersByTimeAsync(999);
    expect(work).toHaveBeenCalledTimes(0);
    await jest.advanceTimersByTimeAsync(1);
    expect(work).toHaveBeenCalledTimes(1);
    // The first run takes 5 periods: no other starts meanwhile.
    await jest.advanceTimersByTimeAsync(5000);
    expect(work).toHaveBeenCalledTimes(1);
    ends[0]!();
    await jest.advanceTimersByTimeAsync(999);
    expect(work).toHaveBeenCalledTimes(1);
    await jest.advanceTimersByTimeAsync(1);
    expect(work).toHaveBeenCalledTimes(2);

    stop();
    ends[1]!();
    await jest.advanceTimersByTimeAsync(10_000);
    expect(work).toHaveBeenCalledTimes(2);
  });

  it('goes on after a run that fails', async () => {
    jest.useFakeTimers();
    const work = jest.fn(() => Promise.reject(new Error('Postgres went away')));
    const stop = repeatAfter(1000, work);
    await jest.advanceTimersByTimeAsync(3000);
    expect(work).toHaveBeenCalledTimes(3);
    stop();
  });
});
