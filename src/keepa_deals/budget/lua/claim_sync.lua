--[[ claim_sync.lua: the cluster-wide throttle for routine syncs (core.claim_sync).

KEYS  [1] budget hash  [2] leases hash  [3] marker
ARGV  [1..2] as in lib.lua
Returns 1 when the caller may sync now (and the claim is recorded), else 0.
]]

local function op_claim_sync()
  local P = read_policy()
  local now = clock_now()
  local stored = load()
  local st = parse(stored, now, P)
  local ch = new_changes(st)
  if st.last_sync ~= nil and now - st.last_sync < P.sync_interval_ms then
    apply(stored, st, ch, now, P)
    return 0
  end
  ch.set.last_sync_ms = fmt(now)
  apply(stored, st, ch, now, P)
  return 1
end
