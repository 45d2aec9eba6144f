import type { PairAttempts, PairAttemptsOptions, PairTake } from './pair-attempts.js';
import type { Redis } from './redis.js';
import { redisScript } from './redis-script.js';

/*
 * A pair is one hash: e (when its window ends, ms), f (the window's failures) and a:<attempt> (when
 * that running attempt's hold ends), with a TTL to the last of those; times are Redis's own clock,
 * the same for every instance. Each script reads and writes that one key, so the steps of one
 * attempt are atomic against every instance's, and the key can live on any Redis Cluster node.
 * The rules are those of createPairAttemptsInMemory, step for step.
 */

/**
 * Loads the pair as it stands now (ended holds dropped, an ended window replaced by a new one) into
 * `windowEnds`, `failures` and `running`; `save()` writes it back, or deletes it when nothing
 * counts. ARGV: the attempt's id, maxFailures, windowMs, holdMs.
 */
const LOAD_AND_SAVE = `local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local attempt, maxFailures, windowMs, holdMs = 'a:' .. ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local windowEnds, failures, running, runningCount = 0, 0, {}, 0
local fields = redis.call('HGETALL', KEYS[1])
for i = 1, #fields, 2 do
  local name, value = fields[i], tonumber(fields[i + 1])
  if name == 'e' then
    windowEnds = value or 0
  elseif name == 'f' then
    failures = value or 0
  elseif string.sub(name, 1, 2) ~= 'a:' then
    -- not this format's (another version's): left alone
  elseif value and value > now then
    running[name] = value
    runningCount = runningCount + 1
  else
    redis.call('HDEL', KEYS[1], name)
  end
end
if windowEnds <= now then
  windowEnds, failures = now + windowMs, 0
end
local function save()
  if failures == 0 and runningCount == 0 then
    redis.call('DEL', KEYS[1])
    return
  end
  local expiresAt = windowEnds
  for _, holdEnds in pairs(running) do
    if holdEnds > expiresAt then expiresAt = holdEnds end
  end
  redis.call('HSET', KEYS[1], 'e', windowEnds, 'f', failures)
  redis.call('PEXPIREAT', KEYS[1], expiresAt)
end
local function endAttempt()
  if running[attempt] then
    running[attempt] = nil
    runningCount = runningCount - 1
    redis.call('HDEL', KEYS[1], attempt)
  end
end
`;

/** Returns {outcome, ms left in the window}. */
const TAKE = redisScript(`${LOAD_AND_SAVE}
local outcome = 'placed'
if running[attempt] then
  -- asked again (a command sent twice): the attempt holds its place already
elseif failures >= maxFailures then
  outcome = 'locked'
elseif failures + runningCount >= maxFailures then
  outcome = 'busy'
else
  running[attempt] = now + holdMs
  runningCount = runningCount + 1
  redis.call('HSET', KEYS[1], attempt, running[attempt])
end
save()
return {outcome, windowEnds - now}
`);

/** Returns 1 when this failure locked the pair. */
const FAILED = redisScript(`${LOAD_AND_SAVE}
endAttempt()
local lockedNow = 0
if failures < maxFailures then
  failures = failures + 1
  if failures >= maxFailures then
    windowEnds = now + windowMs
    lockedNow = 1
  end
end
save()
return lockedNow
`);

const SUCCEEDED = redisScript(`${LOAD_AND_SAVE}
endAttempt()
failures = 0
save()
return 0
`);

const RELEASED = redisScript(`${LOAD_AND_SAVE}
endAttempt()
save()
return 0
`);

/** PairAttempts in Redis, shared by every instance; every method rejects when Redis does not answer. */
export function createPairAttemptsInRedis(redis: Redis, { maxFailures, windowMs, holdMs }: PairAttemptsOptions): PairAttempts {
  const run = (script: typeof TAKE, pair: string, attempt: string) => script.run(redis, [pair], [attempt, maxFailures, windowMs, holdMs]);
  return {
    async take(pair, attempt) {
      const [outcome, msLeft] = (await run(TAKE, pair, attempt)) as [PairTake['outcome'], number];
      return { outcome, msLeft };
    },
    async failed(pair, attempt) {
      return { lockedNow: (await run(FAILED, pair, attempt)) === 1 };
    },
    async succeeded(pair, attempt) {
      await run(SUCCEEDED, pair, attempt);
    },
    async released(pair, attempt) {
      await run(RELEASED, pair, attempt);
    },
  };
}
