import { argon2Workers, threadpoolSizeFor } from '../../src/passwords/argon2-workers.js';

describe('argon2Workers', () => {
  it.each([
    [2, 4, 1, 2],
    [4, 4, 1, 3],
    [8, 4, 1, 3],
    [8, 9, 1, 8],
    [64, 1024, 1, 64],
    [1, 2, 1, 1],
    [4, 2, 1, 1],
    [8, 64, 4, 2],
    [2, 4, 4, 1],
  ])('%i cores, %i threadpool threads, %i lanes a job: %i jobs at once', (cores, threadpoolSize, parallelism, expected) => {
    expect(argon2Workers(cores, threadpoolSize, parallelism)).toBe(expected);
  });

  it.each([
    [1, 1, 2],
    [2, 1, 3],
    [8, 1, 9],
    [8, 4, 3],
    [2, 4, 2],
  ])('%i cores with %i lanes a job: a threadpool of %i leaves no core idle and one thread free', (cores, parallelism, size) => {
    expect(threadpoolSizeFor(cores, parallelism)).toBe(size);
    expect(argon2Workers(cores, size, parallelism)).toBe(argon2Workers(cores, 1024, parallelism));
    expect(argon2Workers(cores, size, parallelism)).toBe(size - 1);
  });
});
