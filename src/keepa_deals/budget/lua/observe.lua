--[[ observe.lua: reconcile with a status from Keepa not tied to a lease (core.observe).

KEYS  [1] budget hash  [2] leases hash  [3] marker
ARGV  [1..2] as in lib.lua
      [3] "1" for an authoritative status (a /token sync), else "0"
      [4] tokensLeft  [5] refillIn (ms)  [6] refillRate  [7] timestamp (Keepa ms)
Returns 1.
]]

local P = read_policy()
local now = clock_now()
local st = parse(now, P)
apply(st, observe(st, read_status(4), now, ARGV[3] == '1'), now, P)
return 1
