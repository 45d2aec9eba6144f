import type { AttemptKeys, AttemptTake, LoginAttempts, LoginAttemptsOptions } from './login-attempts.js';
import type { Redis } from './redis.js';
import { redisScript } from './redis-script.js';

/*
 * A count (a pair's, an IP's) is one hash: e (when its window ends, ms), f (the window's failures)
 * and a:<attempt> (when that running attempt's hold ends), with a TTL to the last of those; times
 * are Redis's own clock, the same for every instance. Each script reads and writes the pair and
 * its IP together, so the steps of one attempt are atomic against every instance's; the two keys
 * share the IP's hash tag, so they live on the same Redis Cluster node.
 * The rules are those of createLoginAttemptsInMemory, step for step.
 */

/**
 * Loads the pair (KEYS[1]) and the IP (KEYS[2]) as they stand now (ended holds dropped, an ended
 * window replaced by a new one) into `pair` and `ip`; `save(count)` writes one back if it changed,
 * or deletes it when nothing counts. So a refused or busy attempt writes nothing (nothing for
 * replicas or the append-only file), however often it asks. ARGV: the attempt's id, the pair's
 * limit, the IP's limit, windowMs, holdMs.
 */
const LOAD_AND_SAVE = `local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local attempt, windowMs, holdMs = 'a:' .. ARGV[1], tonumber(ARGV[4]), tonumber(ARGV[5])
local function load(key, limit)
  local count = { key = key, limit = limit, windowEnds = 0, failures = 0, running = {}, runningCount = 0, changed = false }
  local fields = redis.call('HGETALL', key)
  for i = 1, #fields, 2 do
    local name, value = fields[i], tonumber(fields[i + 1])
    if name == 'e' then
      count.windowEnds = value or 0
    elseif name == 'f' then
      count.failures = value or 0
    elseif string.sub(name, 1, 2) ~= 'a:' then
      -- not this format's (another version's): left alone
    elseif value and value > now then
      count.running[name] = value
      count.runningCount = count.runningCount + 1
    else
      redis.call('HDEL', key, name)
      count.changed = true
    end
  end
  if count.windowEnds <= now then
    count.windowEnds, count.failures, count.changed = now + windowMs, 0, true
  end
  return count
end
local pair, ip = load(KEYS[1], tonumber(ARGV[2])), load(KEYS[2], tonumber(ARGV[3]))
local function save(count)
  if not count.changed then return end
  if count.failures == 0 and count.runningCount == 0 then
    redis.call('DEL', count.key)
    return
  end
  local expiresAt = count.windowEnds
  for _, holdEnds in pairs(count.running) do
    if holdEnds > expiresAt then expiresAt = holdEnds end
  end
  redis.call('HSET', count.key, 'e', count.windowEnds, 'f', count.failures)
  redis.call('PEXPIREAT', count.key, expiresAt)
end
local function endAttempt(count)
  if count.running[attempt] then
    count.running[attempt] = nil
    count.runningCount = count.runningCount - 1
    count.changed = true
    redis.call('HDEL', count.key, attempt)
  end
end
local function isFull(count)
  return count.failures + count.runningCount >= count.limit
end
`;

/** Returns {outcome, ms left}. */
const TAKE = redisScript(`${LOAD_AND_SAVE}
local outcome, msLeft = 'placed', pair.windowEnds - now
if pair.running[attempt] then
  -- asked again (a command sent twice): the attempt holds its places already
elseif ip.failures >= ip.limit then
  outcome, msLeft = 'ip-locked', ip.windowEnds - now
elseif pair.failures >= pair.limit then
  outcome = 'pair-locked'
elseif isFull(pair) or isFull(ip) then
  outcome = 'busy'
else
  for _, count in ipairs({pair, ip}) do
    count.running[attempt] = now + holdMs
    count.runningCount = count.runningCount + 1
    count.changed = true
    redis.call('HSET', count.key, attempt, now + holdMs)
  end
end
save(pair)
save(ip)
return {outcome, msLeft}
`);

/** Returns {1 when this failure locked the pair, 1 when it locked the IP}. */
const FAILED = redisScript(`${LOAD_AND_SAVE}
local function fail(count)
  endAttempt(count)
  if count.failures >= count.limit then return 0 end
  count.failures, count.changed = count.failures + 1, true
  if count.failures < count.limit then return 0 end
  count.windowEnds = now + windowMs
  return 1
end
local lockedNow = {fail(pair), fail(ip)}
save(pair)
save(ip)
return lockedNow
`);

const SUCCEEDED = redisScript(`${LOAD_AND_SAVE}
endAttempt(pair)
endAttempt(ip)
if pair.failures > 0 then
  pair.failures, pair.changed = 0, true
end
save(pair)
save(ip)
return 0
`);

const RELEASED = redisScript(`${LOAD_AND_SAVE}
endAttempt(pair)
endAttempt(ip)
save(pair)
save(ip)
return 0
`);

/** LoginAttempts in Redis, shared by every instance; every method rejects when Redis does not answer. */
export function createLoginAttemptsInRedis(redis: Redis, { maxPairFailures, maxIpFailures, windowMs, holdMs }: LoginAttemptsOptions): LoginAttempts {
  const run = (script: typeof TAKE, { pair, ip }: AttemptKeys, attempt: string) =>
    script.run(redis, [pair, ip], [attempt, maxPairFailures, maxIpFailures, windowMs, holdMs]);
  return {
    async take(keys, attempt) {
      const [outcome, msLeft] = (await run(TAKE, keys, attempt)) as [AttemptTake['outcome'], number];
      return { outcome, msLeft };
    },
    async failed(keys, attempt) {
      const [pairLockedNow, ipLockedNow] = (await run(FAILED, keys, attempt)) as [number, number];
      return { pairLockedNow: pairLockedNow === 1, ipLockedNow: ipLockedNow === 1 };
    },
    async succeeded(keys, attempt) {
      await run(SUCCEEDED, keys, attempt);
    },
    async released(keys, attempt) {
      await run(RELEASED, keys, attempt);
    },
  };
}
