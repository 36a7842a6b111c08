--[[ settle.lua: release a lease; reconcile with its response's status, or take its
cost from the anchor (core.settle).

KEYS  [1] budget hash  [2] leases hash
ARGV  [1..2] as in lib.lua
      [3] lease id      [4] the lease's cost in milli-tokens
      [5] "1" when a status follows, "0" when the response carried none
      [6] tokensLeft  [7] refillIn (ms)  [8] refillRate  [9] timestamp (Keepa ms)
Returns 1.
]]

local P = read_policy()
local now = clock_now()
local st = parse(now, P)
local lease_id, cost = ARGV[3], tonumber(ARGV[4])
local ch
if ARGV[5] == '1' then
  ch = observe(st, read_status(6), now, false)
else
  ch = new_changes(st)
  -- even when the lease already expired: Keepa may have charged it
  if cost > 0 and st.anchor ~= nil and not unknown(st) then
    ch.set.anchor_tokens = fmt(st.anchor.tokens - cost)
    table.insert(ch.delete, 'last_sync_ms')  -- the anchor now holds an estimate, unverified
  end
end
table.insert(ch.remove, lease_id)
apply(ch, P)
return 1
