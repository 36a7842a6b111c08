--[[ settle.lua: release a lease; reconcile with its response's status, or take its
cost from the anchor (core.settle).

KEYS  [1] budget hash  [2] leases hash
ARGV  [1..11] as in lib.lua
      [12] lease id     [13] the lease's cost in milli-tokens
      [14] "1" when a status follows, "0" when the response carried none
      [15] tokensLeft  [16] refillIn (ms)  [17] refillRate  [18] timestamp (Keepa ms)
Returns now_ms (string).
]]

local P = read_policy()
local now = clock_now()
local st = parse(now, P)
local lease_id, cost = ARGV[12], tonumber(ARGV[13])
local ch
if ARGV[14] == '1' then
  ch = observe(st, read_status(15), now, false)
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
return fmt(now)
