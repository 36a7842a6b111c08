--[[ settle_acquire.lua: settle the last call's lease, then acquire the next one, in one
atomic step (core.settle_acquire): the acquire decides on the state the settle wrote.

KEYS  [1] budget hash  [2] leases hash  [3] marker
ARGV  [1..2] as in lib.lua
      [3] the settled lease's id   [4] its cost in milli-tokens
      [5] "1" when a status follows, "0" when the response carried none
      [6] tokensLeft  [7] refillIn (ms)  [8] refillRate  [9] timestamp (Keepa ms)
          (empty strings when no status follows: the places stay)
      [10] the new lease's id      [11] its cost in milli-tokens
Returns what acquire.lua returns.
]]

local P = read_policy()
local now = clock_now()
local first = parse(now, P)
apply(first, settle_changes(first, now, ARGV[3], tonumber(ARGV[4]), ARGV[5] == '1', 6), now, P)
return acquire_step(parse(now, P), now, P, ARGV[10], tonumber(ARGV[11]))
