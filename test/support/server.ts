import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Clock } from '../../src/clock.js';
import { loadConfig, type Config } from '../../src/config/config.js';
import { startServer, type RunningServer, type ServerOptions } from '../../src/server.js';
import { createTestDatabase, type TestDatabase } from './database.js';
import { captureLogs } from './logs.js';
import { leaseTestRedis, type TestRedis } from './redis.js';

export interface TestServer {
  readonly baseUrl: string;
  readonly config: Config;
  readonly db: TestDatabase;
  readonly redis: TestRedis;
  readonly keysDir: string;
  readonly logs: ReturnType<typeof captureLogs>;
  readonly running: RunningServer;
  stop(): Promise<void>;
}

export interface TestServerOptions {
  /** Environment variables on top of the test database, Redis db and keys dir. */
  readonly env?: Record<string, string>;
  readonly clock?: Clock;
  readonly passwordQueue?: ServerOptions['passwordQueue'];
  readonly requestTimeoutMs?: number;
  readonly denylistSyncMs?: number;
  readonly loginBusyWaitMs?: number;
  /**
   * Another instance of the same deployment: this server shares that one's database, Redis db and
   * keys directory, which stay that server's to remove (this one's `stop` only shuts it down).
   */
  readonly alongside?: TestServer;
}

/**
 * A real authd on 127.0.0.1 with its own database, Redis db index and keys directory,
 * configured through the same environment parsing as production.
 */
export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const { alongside } = options;
  const db = alongside?.db ?? (await createTestDatabase());
  const redis = alongside?.redis ?? (await leaseTestRedis());
  const keysDir = alongside?.keysDir ?? (await mkdtemp(join(tmpdir(), 'authd-keys-')));
  const config = loadConfig({
    PORT: '0',
    DATABASE_URL: db.url,
    REDIS_URL: redis.url,
    KEYS_DIR: keysDir,
    ARGON2_MEMORY_KIB: '4096',
    ARGON2_TIME_COST: '1',
    ...options.env,
  });
  const logs = captureLogs(config.logLevel);
  const running = await startServer(config, {
    logger: logs.logger,
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.passwordQueue ? { passwordQueue: options.passwordQueue } : {}),
    ...(options.requestTimeoutMs ? { requestTimeoutMs: options.requestTimeoutMs } : {}),
    ...(options.denylistSyncMs ? { denylistSyncMs: options.denylistSyncMs } : {}),
    ...(options.loginBusyWaitMs ? { loginBusyWaitMs: options.loginBusyWaitMs } : {}),
  });
  const { port } = running.server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    config,
    db,
    redis,
    keysDir,
    logs,
    running,
    stop: async () => {
      await running.shutdown();
      if (alongside === undefined) await Promise.all([db.drop(), redis.release(), rm(keysDir, { recursive: true, force: true })]);
    },
  };
}
