import { newWindowId, type PairAttempts, type PairAttemptsOptions, type PairTake } from './pair-attempts.js';
import type { Redis } from './redis.js';
import { redisScript } from './redis-script.js';

/*
 * A pair is one hash: w (the window's id), f (failures), r (running attempts), with the window's
 * (or the lock's) TTL. Each script reads and writes that one key, so the steps of one attempt are
 * atomic against every instance's, and the key can live on any Redis Cluster node.
 */

/** ARGV: maxFailures, windowMs, a new window's id. Returns {outcome, window id, ms left}. */
const TAKE = redisScript(`
local state = redis.call('HMGET', KEYS[1], 'w', 'f', 'r')
local window, failures, running = state[1], tonumber(state[2]), tonumber(state[3])
local maxFailures, windowMs = tonumber(ARGV[1]), tonumber(ARGV[2])
if not window then
  redis.call('HSET', KEYS[1], 'w', ARGV[3], 'f', 0, 'r', 1)
  redis.call('PEXPIRE', KEYS[1], windowMs)
  return {'placed', ARGV[3], windowMs}
end
local msLeft = redis.call('PTTL', KEYS[1])
if msLeft < 0 then
  redis.call('PEXPIRE', KEYS[1], windowMs)
  msLeft = windowMs
end
if failures >= maxFailures then return {'locked', window, msLeft} end
if failures + running >= maxFailures then return {'busy', window, msLeft} end
redis.call('HINCRBY', KEYS[1], 'r', 1)
return {'placed', window, msLeft}
`);

/** ARGV: the attempt's window id, maxFailures, windowMs, a new window's id. Returns 1 when this failure locked the pair. */
const FAILED = redisScript(`
local state = redis.call('HMGET', KEYS[1], 'w', 'f', 'r')
local window, failures, running = state[1], tonumber(state[2]), tonumber(state[3])
local maxFailures, windowMs = tonumber(ARGV[2]), tonumber(ARGV[3])
if not window then
  redis.call('HSET', KEYS[1], 'w', ARGV[4], 'f', 1, 'r', 0)
  redis.call('PEXPIRE', KEYS[1], windowMs)
  if 1 >= maxFailures then return 1 end
  return 0
end
if window == ARGV[1] and running > 0 then redis.call('HINCRBY', KEYS[1], 'r', -1) end
if failures >= maxFailures then return 0 end
redis.call('HINCRBY', KEYS[1], 'f', 1)
if failures + 1 < maxFailures then return 0 end
redis.call('PEXPIRE', KEYS[1], windowMs)
return 1
`);

/** ARGV: the attempt's window id. */
const SUCCEEDED = redisScript(`
local state = redis.call('HMGET', KEYS[1], 'w', 'r')
if not state[1] then return 0 end
local running = tonumber(state[2])
if state[1] == ARGV[1] and running > 0 then running = running - 1 end
if running == 0 then
  redis.call('DEL', KEYS[1])
else
  redis.call('HSET', KEYS[1], 'f', 0, 'r', running)
end
return 0
`);

/** ARGV: the attempt's window id. */
const RELEASED = redisScript(`
local state = redis.call('HMGET', KEYS[1], 'w', 'f', 'r')
if state[1] ~= ARGV[1] then return 0 end
local failures, running = tonumber(state[2]), math.max(0, tonumber(state[3]) - 1)
if running == 0 and failures == 0 then
  redis.call('DEL', KEYS[1])
else
  redis.call('HSET', KEYS[1], 'r', running)
end
return 0
`);

/** PairAttempts in Redis, shared by every instance; every method rejects when Redis does not answer. */
export function createPairAttemptsInRedis(redis: Redis, { maxFailures, windowMs }: PairAttemptsOptions): PairAttempts {
  return {
    async take(pair) {
      const [outcome, window, msLeft] = (await TAKE.run(redis, [pair], [maxFailures, windowMs, newWindowId()])) as [PairTake['outcome'], string, number];
      return { outcome, window, msLeft };
    },
    async failed(pair, window) {
      const lockedNow = await FAILED.run(redis, [pair], [window, maxFailures, windowMs, newWindowId()]);
      return { lockedNow: lockedNow === 1 };
    },
    async succeeded(pair, window) {
      await SUCCEEDED.run(redis, [pair], [window]);
    },
    async released(pair, window) {
      await RELEASED.run(redis, [pair], [window]);
    },
  };
}
