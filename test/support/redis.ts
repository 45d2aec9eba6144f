import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { createRedis, redisReady, type Redis as AuthdRedis } from '../../src/stores/redis.js';
import { proxiedUrl, type TcpProxy, type TcpProxyOptions } from './net.js';

export const TEST_REDIS_SERVER_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** db 0 holds only the leases; test files get 1–15. */
const FIRST_DB = 1;
const LAST_DB = 15;
const LEASE_SECONDS = 900;

export interface TestRedis {
  /** A URL selecting this file's own db index. */
  readonly url: string;
  /** A plain client on that db, for assertions. */
  readonly client: Redis;
  release(): Promise<void>;
}

/**
 * Leases a Redis db index no other running test file holds (SET NX in db 0), empties it,
 * and on release empties it again and gives it back.
 */
export async function leaseTestRedis(): Promise<TestRedis> {
  const leases = new Redis(TEST_REDIS_SERVER_URL, { lazyConnect: true });
  await leases.connect();
  const owner = `${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    for (let attempt = 0; attempt < 600; attempt += 1) {
      for (let db = FIRST_DB; db <= LAST_DB; db += 1) {
        if ((await leases.set(`authd-test-lease:${db}`, owner, 'EX', LEASE_SECONDS, 'NX')) === 'OK') {
          return await open(db, owner);
        }
      }
      await sleep(100);
    }
    throw new Error('no free Redis test db index');
  } finally {
    await leases.quit();
  }
}

async function open(db: number, owner: string): Promise<TestRedis> {
  const url = new URL(TEST_REDIS_SERVER_URL);
  url.pathname = `/${db}`;
  const client = new Redis(url.toString());
  await client.flushdb();
  return {
    url: url.toString(),
    client,
    release: async () => {
      await client.flushdb();
      await client.quit();
      const leases = new Redis(TEST_REDIS_SERVER_URL);
      await leases.eval("if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0", 1, `authd-test-lease:${db}`, owner);
      await leases.quit();
    },
  };
}

export interface AuthdTestRedis extends TestRedis {
  /** A client made as authd makes its own (no offline queue, a 1 s command timeout), for the code under test. */
  readonly authd: AuthdRedis;
}

/** A leased db (see leaseTestRedis) and an authd client on it, once that client answers. */
export async function leaseAuthdRedis(): Promise<AuthdTestRedis> {
  const lease = await leaseTestRedis();
  const authd = createRedis(lease.url);
  if (!(await redisReady(authd, 5000))) throw new Error('the leased Redis db did not answer authd\'s client within 5 s');
  return {
    ...lease,
    authd,
    release: async () => {
      await authd.quit();
      await lease.release();
    },
  };
}

export interface ProxiedAuthdRedis {
  /** An authd client whose connection goes through `proxy`, connected. */
  readonly client: AuthdRedis;
  readonly proxy: TcpProxy;
  /** Disconnects the client and closes the proxy. */
  close(): Promise<void>;
}

/** An authd client to `url` through a TCP proxy the test can silence or reset, once it answers. */
export async function proxiedAuthdRedis(url: string, options: TcpProxyOptions = {}): Promise<ProxiedAuthdRedis> {
  const { url: proxied, proxy } = await proxiedUrl(url, options);
  const client = createRedis(proxied);
  client.on('error', () => undefined); // the test makes the link fail
  if (!(await redisReady(client, 5000))) throw new Error('Redis did not answer through the proxy within 5 s');
  return {
    client,
    proxy,
    close: async () => {
      client.disconnect();
      await proxy.close();
    },
  };
}
