// `node dist/bench/denylist.js [revocations]`: the denylist's background work at scale, against the
// bench Postgres and Redis (wiped first): the 10 s catch-up with that many revocations in its
// window, a re-seed with every key already in Redis and with none, and the in-process copy's load.
// Each is timed for CPU and for the longest event-loop block, which every request in flight waits out.
import { randomUUID } from 'node:crypto';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import type { RevokedAccessToken } from '../src/domain/revocation.js';
import { createDenylist } from '../src/flows/denylist.js';
import { createLogger } from '../src/observability/logger.js';
import { connectDatabase } from '../src/stores/database.js';
import { createDenylistCache } from '../src/stores/denylist-cache.js';
import { createRevocationFeed } from '../src/stores/denylist-events.js';
import { createRedis, redisReady } from '../src/stores/redis.js';
import { createRevocationStore } from '../src/stores/revocation-store.js';
import { portInUse } from './processes.js';
import { benchDatabaseUrl, benchRedisUrl, freshBenchDatabase } from './seed.js';

const { positionals } = parseArgs({ allowPositionals: true });
const count = Number(positionals[0] ?? 50_000);
if (!Number.isInteger(count) || count < 1) throw new Error(`not a number of revocations: ${positionals[0]}`);

// `npm run bench` keeps its authd on this port and the same database: wiping it under that run would spoil both.
if (await portInUse(18500)) throw new Error('port 18500 is in use: is `npm run bench` running? This script wipes its database.');
await freshBenchDatabase(benchDatabaseUrl, benchRedisUrl);
const connections = connectDatabase(benchDatabaseUrl, { poolSize: 2 });
const redis = createRedis(benchRedisUrl);
if (!(await redisReady(redis, 5000))) throw new Error(`Redis at ${benchRedisUrl} did not answer`);
const clock = { now: () => Date.now() };
const store = createRevocationStore(connections.sql);
const logger = createLogger('warn');
/** Denylist keys written to Redis: what a catch-up or re-seed could not skip. */
let keysWritten = 0;
const cache = createDenylistCache(redis);
const countingCache: typeof cache = {
  ...cache,
  async add(tokens, now, options) {
    keysWritten += tokens.length;
    await cache.add(tokens, now, options);
  },
};
const denylist = createDenylist({ store, cache: countingCache, feed: createRevocationFeed(redis), clock, logger });
// A second instance, started after the revocations: its copy starts empty, as a new instance's does.
const feed = createRevocationFeed(redis);
const newInstance = createDenylist({ store, cache, feed, clock, logger });

async function timed(what: string, work: () => Promise<unknown>): Promise<void> {
  const delay = monitorEventLoopDelay({ resolution: 1 });
  const keysBefore = keysWritten;
  delay.enable();
  const cpu = process.cpuUsage();
  const started = performance.now();
  await work();
  const wall = performance.now() - started;
  const { user, system } = process.cpuUsage(cpu);
  delay.disable();
  process.stdout.write(
    `${what}: ${Math.round(wall)} ms, ${Math.round((user + system) / 1000)} ms of CPU, event loop blocked up to ${Math.round(delay.max / 1e6)} ms, ${keysWritten - keysBefore} keys written\n`,
  );
}

try {
  await denylist.reseed();
  // Revoked as an instance revokes them: Postgres, then Redis and the channel.
  const expiresAt = new Date(Date.now() + 3_600_000);
  for (let done = 0; done < count; done += 500) {
    const batch: RevokedAccessToken[] = Array.from({ length: Math.min(500, count - done) }, () => ({ jti: randomUUID(), expiresAt, reason: 'revoked' }));
    await denylist.revoke(batch);
  }
  process.stdout.write(`${count} revocations, recorded just now\n`);
  await timed('catch-up (all of them in its window, every key in Redis)', () => denylist.sync());
  await timed('re-seed, every key in Redis', () => denylist.reseed());
  await redis.flushdb();
  await timed('re-seed, Redis empty', () => denylist.reseed());
  await timed('in-process copy load (a new instance)', async () => {
    newInstance.follow();
    const deadline = Date.now() + 60_000;
    while (!newInstance.copyState().complete) {
      if (Date.now() > deadline) throw new Error('the in-process copy did not load within 60 s');
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  });
} finally {
  await feed.close();
  await connections.close();
  redis.disconnect();
}
