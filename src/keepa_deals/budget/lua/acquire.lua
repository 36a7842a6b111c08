--[[ acquire.lua: grant a lease, or say why not and for how long (core.acquire).

KEYS  [1] budget hash  [2] leases hash  [3] marker
ARGV  [1..2] as in lib.lua
      [3] lease id      [4] cost in milli-tokens
Returns one string, the lines kind, reason, wait_ms, lease_expires_ms, projected,
        available, needed, anchor_seen_ms, cap, now_ms, last_sync_ms ("" for None);
        kind is one of grant, wait, unknown, too_big; last_sync_ms comes last, as
        stored (it may hold a newline).  One bulk string parses faster than an array.
]]

local function op_acquire()
  local P = read_policy()
  local now = clock_now()
  local stored = load()
  local st = parse(stored, now, P)
  local reply, ch = acquire_step(st, now, P, A[3], tonumber(A[4]))
  apply(stored, st, ch, now, P)
  return reply
end
