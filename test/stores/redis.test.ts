import { spawnSync } from 'node:child_process';
import { ROOT } from '../support/cli.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { createRedis, redisReady } from '../../src/stores/redis.js';
import { closedPort } from '../support/net.js';
import { leaseTestRedis, proxiedAuthdRedis, type TestRedis } from '../support/redis.js';

let redis: TestRedis;
beforeAll(async () => {
  redis = await leaseTestRedis();
});
afterAll(() => redis.release());

describe('the Redis client authd makes', () => {
  it('reconnects on a READONLY reply (a demoted primary) at most once every 30 s, and on no other error', () => {
    const client = createRedis(redis.url);
    try {
      const reconnectOnError = client.options.reconnectOnError!;
      const readOnly = new Error("READONLY You can't write against a read only replica.");
      expect([reconnectOnError(readOnly), reconnectOnError(readOnly), reconnectOnError(new Error('OOM command not allowed'))]).toEqual([1, false, false]);
    } finally {
      client.disconnect();
    }
  });

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

  it('does not send a command again after a dropped connection, since Redis may have run it', async () => {
    const { client, proxy, close } = await proxiedAuthdRedis(redis.url);
    try {
      // A pop that Redis runs but whose answer is lost with the connection.
      const pop = client.blpop('queue', 0).catch((error: unknown) => error);
      await sleep(100);
      proxy.silence();
      await redis.client.lpush('queue', 'first');
      await sleep(100);
      proxy.reset();
      expect(await redisReady(client, 5000)).toBe(true);
      expect(await pop).toBeInstanceOf(Error);
      await redis.client.lpush('queue', 'second');
      await sleep(300);
      // Sent again, the pop would have taken the second item too.
      expect(await redis.client.lrange('queue', 0, -1)).toEqual(['second']);
    } finally {
      await close();
    }
  });
});
