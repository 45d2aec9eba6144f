import { availableParallelism } from 'node:os';
import { argon2Workers, threadpoolSizeFor } from '../../src/passwords/argon2-workers.js';
import { metricValue } from '../support/metrics.js';
import { startTestServer } from '../support/server.js';

const cores = availableParallelism();

/** The start-up warning about argon2's workers, if the server logged one, and the workers it runs. */
async function argon2Warnings(threadpoolSize: number): Promise<Record<string, unknown>[]> {
  const server = await startTestServer({ env: { UV_THREADPOOL_SIZE: String(threadpoolSize) } });
  try {
    expect(await metricValue(server.baseUrl, 'authd_argon2_workers')).toBe(argon2Workers(cores, threadpoolSize, 1));
    return server.logs.lines.filter((line) => String(line['msg']).startsWith('argon2 has'));
  } finally {
    await server.stop();
  }
}

describe('UV_THREADPOOL_SIZE and the argon2 workers', () => {
  it('says nothing when the threadpool has a thread for every core and one more', async () => {
    expect(await argon2Warnings(threadpoolSizeFor(cores, 1))).toEqual([]);
  });

  (cores > 1 ? it : it.skip)('warns, with the fix, when a small threadpool leaves cores out of password hashing', async () => {
    expect(await argon2Warnings(2)).toEqual([
      expect.objectContaining({
        level: 'warn',
        cores,
        argon2Workers: 1,
        threadpoolSize: 2,
        msg: `argon2 has 1 of the ${cores} workers the cores allow: start authd with UV_THREADPOOL_SIZE=${cores + 1}`,
      }),
    ]);
  });
});
