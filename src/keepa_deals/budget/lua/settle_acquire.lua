--[[ settle_acquire.lua: settle the last call's lease, then acquire the next one, in one
atomic step (core.settle_acquire): the acquire decides on the state the settle left.

core.settle_acquire applies the settle's changes to the stored strings and parses them
again for the acquire.  Here the state is read and parsed once, and the settle's sealed
changes are applied to the parsed state in place (settled_state): only the groups of
fields they touch are parsed again, and the leases are the first parse's, less those
removed, plus those added, each judged as parse judges it.  Both steps' changes are
written at once (changes.then, as fold), as the other stores write
core.settle_acquire's changes.  tests/budget/test_redis_differential.py holds the two
to the same answers and the same stored strings.

KEYS  [1] budget hash  [2] leases hash  [3] marker
ARGV  [1..2] as in lib.lua
      [3] the rest in one argument (each argument costs the client more than splitting
          one costs here): a line of decimal integers separated by one blank,
            the settled lease's cost in milli-tokens, the new lease's cost,
            the byte lengths of the settled lease's id and of the new lease's id,
            and when the response carried a status: tokensLeft, refillIn (ms),
            refillRate, timestamp (Keepa ms);
          then a newline, the settled lease's id and the new lease's id, back to back.
Returns what acquire.lua returns.
]]

-- ARGV[3], read: the settled id, its cost, its status (nil when none), the new id, its cost
local function read_call()
  local arg = A[3]
  local c1, c2, n1, n2, t, r, rate, ts, at = string.match(
    arg, '^(%S+) (%S+) (%d+) (%d+) (%S+) (%S+) (%S+) (%S+)\n()')
  local status = nil
  if c1 then
    status = {tokens_left = tonumber(t), refill_in = tonumber(r), refill_rate = tonumber(rate),
              timestamp = tonumber(ts)}
  else
    c1, c2, n1, n2, at = string.match(arg, '^(%S+) (%S+) (%d+) (%d+)\n()')
    if not c1 then error('settle_acquire: malformed arguments') end
  end
  local mid = at + tonumber(n1)
  return string.sub(arg, at, mid - 1), tonumber(c1), status,
         string.sub(arg, mid, mid + tonumber(n2) - 1), tonumber(c2)
end

-- The stored state with sealed changes applied, parsed again from its strings: the way
-- when a change bounds the leases anew (the anchor's rate) or removes the epoch's lease.
local function reparse(stored, ch, now, P)
  local fields, leases = {}, {}
  for i = 1, #FIELDS do fields[i] = stored.fields[i] end
  for _, n in ipairs(ch.delete) do fields[FIELD_AT[n]] = false end
  for n, value in pairs(ch.set) do fields[FIELD_AT[n]] = value end
  for id, value in pairs(stored.leases) do leases[id] = value end
  for _, id in ipairs(ch.remove) do leases[id] = nil end
  for id, value in pairs(ch.add) do leases[id] = value end
  return parse({fields = fields, leases = leases, marker = ch.marker or stored.marker}, now, P)
end

-- What parse reads from the stored state once the settle's changes `ch`, sealed with
-- `epoch`, are written: `st`, the first parse, changed in place (or parsed anew, above).
--
-- The fields: a group a change touches is parsed again from the strings written.  The
-- epoch: a sealed write leaves the same epoch in the fields, the leases and the marker
-- (a new one when none was intact), so the parse finds it intact and holds no lost
-- leases; the marker is the one the seal wrote (or the stored one, when equal).  The
-- leases: while what bounds them is unchanged, those the first parse kept stay kept and
-- the dropped ones were removed; only the leases added are judged.
local function settled_state(st, stored, ch, epoch, now, P)
  if epoch == nil then return st end  -- nothing written: the state is as parsed
  local remove = ch.remove
  for _, id in ipairs(remove) do
    if id == EPOCH_LEASE and ch.add[EPOCH_LEASE] == nil then return reparse(stored, ch, now, P) end
  end
  if #ch.delete > 0 or next(ch.set) ~= nil then
    local fields, anchor, recharge, last_sync = {}, false, false, false
    for i = 1, #FIELDS do fields[i] = stored.fields[i] end
    local function touch(n, value)
      local at = FIELD_AT[n]
      fields[at] = value
      if at <= 5 then anchor = true
      elseif at <= 8 then recharge = true
      elseif at == 9 then last_sync = true end
    end
    for _, n in ipairs(ch.delete) do touch(n, false) end
    for n, value in pairs(ch.set) do touch(n, value) end
    if anchor then
      local bound = bounding_rate(st.anchor)
      parse_anchor(st, fields, now, P)
      if bounding_rate(st.anchor) ~= bound then return reparse(stored, ch, now, P) end
    end
    if recharge then parse_recharge(st, fields, now) end
    if last_sync then parse_last_sync(st, fields, now) end
    list_problems(st)
  end
  st.dropped = {}
  for _, id in ipairs(remove) do st.leases[id] = nil end
  local max_expiry, max_cost, max_lost = lease_bounds(st, now, P)
  for id, value in pairs(ch.add) do
    if id ~= EPOCH_LEASE then judge_lease(st, id, value, now, max_expiry, max_cost, max_lost) end
  end
  count_leases(st)
  st.epoch, st.found_lost, st.marker = epoch, {}, ch.marker or stored.marker
  return st
end

local function op_settle_acquire()
  local P = read_policy()
  local now = clock_now()
  local stored = load()
  local st = parse(stored, now, P)
  local settled_id, settled_cost, status, lease_id, cost = read_call()
  local settled = settle_changes(st, now, settled_id, settled_cost, status)
  local epoch = seal(st, settled, now)
  st = settled_state(st, stored, settled, epoch, now, P)
  local reply, acquired = acquire_step(st, now, P, lease_id, cost)
  fold(settled, acquired)
  write(stored, settled, P)
  return reply
end
