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

    void stop();
    ends[1]!();
    await jest.advanceTimersByTimeAsync(10_000);
    expect(work).toHaveBeenCalledTimes(2);
  });

  it('runs first after firstAfterMs when given, then a period after each run', async () => {
    jest.useFakeTimers();
    const work = jest.fn(() => Promise.resolve());
    const stop = repeatAfter(1000, work, { firstAfterMs: 100 });
    await jest.advanceTimersByTimeAsync(99);
    expect(work).toHaveBeenCalledTimes(0);
    await jest.advanceTimersByTimeAsync(1);
    expect(work).toHaveBeenCalledTimes(1);
    await jest.advanceTimersByTimeAsync(999);
    expect(work).toHaveBeenCalledTimes(1);
    await jest.advanceTimersByTimeAsync(1);
    expect(work).toHaveBeenCalledTimes(2);
    await stop();
  });

  it('stops by aborting the running run and resolves once that run has ended', async () => {
    jest.useFakeTimers();
    let end: () => void = () => undefined;
    let signal: AbortSignal | undefined;
    const work = jest.fn((stopping: AbortSignal) => {
      signal = stopping;
      return new Promise<void>((resolve) => (end = resolve));
    });
    const stop = repeatAfter(1000, work);
    await jest.advanceTimersByTimeAsync(1000);
    expect(signal?.aborted).toBe(false);

    let stopped = false;
    const stopping = stop().then(() => (stopped = true));
    expect(signal?.aborted).toBe(true);
    await jest.advanceTimersByTimeAsync(5000);
    expect(stopped).toBe(false);
    end();
    await stopping;
    await jest.advanceTimersByTimeAsync(10_000);
    expect(work).toHaveBeenCalledTimes(1);
  });

  it('stops at once when no run is going', async () => {
    jest.useFakeTimers();
    const work = jest.fn(() => Promise.resolve());
    const stop = repeatAfter(1000, work);
    await stop();
    await jest.advanceTimersByTimeAsync(10_000);
    expect(work).not.toHaveBeenCalled();
  });

  it('goes on after a run that fails', async () => {
    jest.useFakeTimers();
    const work = jest.fn(() => Promise.reject(new Error('Postgres went away')));
    const stop = repeatAfter(1000, work);
    await jest.advanceTimersByTimeAsync(3000);
    expect(work).toHaveBeenCalledTimes(3);
    await stop();
  });
});
