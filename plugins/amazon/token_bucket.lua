-- luacheck: globals ARGV KEYS redis
-- A token bucket shared by every worker (plugins/amazon/ratelimit.py): Amazon's usage plans
-- limit each SP-API operation per selling partner and application, whichever host asks.
--
-- token_bucket(keys=[bucket], args=[rate_per_s, burst, wanted]) -> wait_ms
--
--   Refills the bucket for the time passed since it was last touched (at `rate_per_s`
--   tokens a second, never above `burst`), then takes `wanted` tokens when it holds them
--   and returns 0; otherwise takes nothing and returns the milliseconds until it will hold
--   them (the caller sleeps, then asks again).  Time is Redis's own clock (TIME), so hosts
--   whose clocks disagree still share one bucket fairly.
--
-- Key layout:
--
-- syncfarm:amazon:bucket:$seller_id:$app:$operation                   KEYS[1]
--   A hash: `tokens` (a float, the tokens left when last touched) and `ms` (Redis time in
--   milliseconds of that moment).  $app is a short hash of the LWA client id.  The key
--   expires once a full refill has passed: a missing bucket is a full one.

local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local wanted = tonumber(ARGV[3])

local time = redis.call('TIME')
local now_ms = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)

local stored = redis.call('HMGET', KEYS[1], 'tokens', 'ms')
local tokens = tonumber(stored[1])
local last_ms = tonumber(stored[2])
if tokens == nil or last_ms == nil then
  tokens = burst
  last_ms = now_ms
end
tokens = math.min(burst, tokens + math.max(0, now_ms - last_ms) * rate / 1000)

local wait_ms = 0
if tokens >= wanted then
  tokens = tokens - wanted
else
  wait_ms = math.ceil((wanted - tokens) * 1000 / rate)
end

redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ms', tostring(now_ms))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
return wait_ms
