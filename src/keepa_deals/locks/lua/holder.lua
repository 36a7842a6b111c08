-- Who holds the lock, and for how long still.
-- KEYS[1]  the lock key
-- Returns {owner, pttl ms, now ms} or {false, -2, now ms} when free.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local owner = redis.call('GET', KEYS[1])
if not owner then
  return {false, -2, now}
end
return {owner, redis.call('PTTL', KEYS[1]), now}
