--[[ observe.lua: reconcile with a status from Keepa not tied to a lease (core.observe).

KEYS  [1] budget hash  [2] leases hash  [3] marker
ARGV  [1..2] as in lib.lua
      [3] "1" for an authoritative status (a /token sync), else "0"
      [4] tokensLeft  [5] refillIn (ms)  [6] refillRate  [7] timestamp (Keepa ms)
Returns 1.
]]

local function op_observe()
  local P = read_policy()
  local now = clock_now()
  local stored = load()
  local st = parse(stored, now, P)
  apply(stored, st, observe(st, read_status(4), now, A[3] == '1'), now, P)
  return 1
end
