import { spawnSync } from 'node:child_process';
import { ROOT } from '../support/cli.js';
import { closedPort } from '../support/net.js';

describe('the Redis client authd makes', () => {
  it('lets the process exit soon after disconnect() while Redis is down', async () => {
    // ioredis arms a timer on disconnect() that only the stream's next close clears; a stream that
    // Redis refused has already closed, so the timer held the process for its whole length (2 s
    // by default): a CLI command run while Redis was down finished its work and then waited.
    const script = `
      import { createRedis } from ${JSON.stringify(`${ROOT}dist/src/stores/redis.js`)};
      const redis = createRedis('redis://127.0.0.1:${await closedPort()}');
      redis.on('error', () => undefined);
      redis.once('reconnecting', () => {
        const disconnectedAt = performance.now();
        process.on('exit', () => process.stdout.write(String(Math.round(performance.now() - disconnectedAt))));
        redis.disconnect();
      });
    `;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 15_000 });
    expect(child.status).toBe(0);
    // A child that never reached disconnect() prints nothing.
    expect(child.stdout).toMatch(/^\d+$/);
    expect(Number(child.stdout)).toBeLessThan(1000);
  });
});
