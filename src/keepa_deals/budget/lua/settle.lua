--[[ settle.lua: release a lease; reconcile with its response's status, or take its
cost from the anchor (core.settle).

KEYS  [1] budget hash  [2] leases hash  [3] marker
ARGV  [1..2] as in lib.lua
      [3] lease id      [4] the lease's cost in milli-tokens
      [5] "1" when a status follows, "0" when the response carried none
      [6] tokensLeft  [7] refillIn (ms)  [8] refillRate  [9] timestamp (Keepa ms)
Returns 1.
]]

local function op_settle()
  local P = read_policy()
  local now = clock_now()
  local stored = load()
  local st = parse(stored, now, P)
  local status = nil
  if A[5] == '1' then status = read_status(6) end
  apply(stored, st, settle_changes(st, now, A[3], tonumber(A[4]), status), now, P)
  return 1
end
