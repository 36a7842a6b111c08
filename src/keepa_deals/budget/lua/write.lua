--[[ write.lua: overwrite stored values (repairs, and the chaos tests). Stand-alone.

KEYS  [1] budget hash  [2] leases hash
ARGV  [1] TTL of the budget hash (ms)  [2] TTL of the leases hash (ms)
      then entries of four: key index ("1" or "2"), "set" or "del", name, value
Returns the number of entries applied.
]]

local MIN_KEY_TTL_MS = 1000
local MAX_KEY_TTL_MS = 7 * 24 * 3600 * 1000
local ttl = {math.min(math.max(tonumber(ARGV[1]), MIN_KEY_TTL_MS), MAX_KEY_TTL_MS),
             math.min(math.max(tonumber(ARGV[2]), MIN_KEY_TTL_MS), MAX_KEY_TTL_MS)}
local written = {false, false}
local n = 0
for i = 3, #ARGV, 4 do
  local k = tonumber(ARGV[i])
  if ARGV[i + 1] == 'set' then
    redis.call('HSET', KEYS[k], ARGV[i + 2], ARGV[i + 3])
    written[k] = true
  else
    redis.call('HDEL', KEYS[k], ARGV[i + 2])
  end
  n = n + 1
end
for k = 1, 2 do
  -- a TTL is only ever lengthened here, never cut
  if written[k] and redis.call('PTTL', KEYS[k]) < ttl[k] then
    redis.call('PEXPIRE', KEYS[k], ttl[k])
  end
end
return n
