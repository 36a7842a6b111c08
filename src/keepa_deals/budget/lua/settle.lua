--[[ settle.lua: release a lease; reconcile with its response's status, or take its
cost from the anchor (core.settle).

KEYS  [1] budget hash  [2] leases hash  [3] marker
ARGV  [1..2] as in lib.lua
      [3] lease id      [4] the lease's cost in milli-tokens
      [5] "1" when a status follows, "0" when the response carried none
      [6] tokensLeft  [7] refillIn (ms)  [8] refillRate  [9] timestamp (Keepa ms)
Returns 1.
]]

local P = read_policy()
local now = clock_now()
local st = parse(now, P)
apply(st, settle_changes(st, now, ARGV[3], tonumber(ARGV[4]), ARGV[5] == '1', 6), now, P)
return 1
