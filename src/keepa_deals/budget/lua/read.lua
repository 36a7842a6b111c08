--[[ read.lua: the stored state and the store's clock, read atomically (snapshot, raw).
Stand-alone: lib.lua is not prepended.

KEYS  [1] budget hash  [2] leases hash  [3] marker
ARGV  [1] now_ms override, "" to read Redis TIME
Returns {now_ms, {field, value, ...}, {lease id, "cost_mt:expires_ms", ...}, marker or false}.
]]

local now
if ARGV[1] ~= '' then
  now = ARGV[1]
else
  local t = redis.call('TIME')
  now = string.format('%d', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
end
return {now, redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[2]),
        redis.call('GET', KEYS[3])}
