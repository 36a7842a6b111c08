--[[ observe.lua: reconcile with a status from Keepa not tied to a lease (core.observe).

KEYS  [1] budget hash  [2] leases hash
ARGV  [1..11] as in lib.lua
      [12] "1" for an authoritative status (a /token sync), else "0"
      [13] tokensLeft  [14] refillIn (ms)  [15] refillRate  [16] timestamp (Keepa ms)
Returns now_ms (string).
]]

local P = read_policy()
local now = clock_now()
local st = parse(now, P)
apply(observe(st, read_status(13), now, ARGV[12] == '1'), P)
return fmt(now)
