import { argon2Workers } from '../../src/passwords/argon2-workers.js';

describe('argon2Workers', () => {
  it.each([
    [2, 4, 2],
    [4, 4, 3],
    [8, 4, 3],
    [8, 9, 8],
    [64, 1024, 64],
    [1, 1, 1],
    [4, 1, 1],
    [4, 2, 1],
  ])('%i cores and %i threadpool threads: %i at once, one thread always left for other work', (cores, threadpoolSize, expected) => {
    expect(argon2Workers(cores, threadpoolSize)).toBe(expected);
  });
});
