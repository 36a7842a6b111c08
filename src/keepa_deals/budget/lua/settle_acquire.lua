--[[ settle_acquire.lua: settle the last call's lease, then acquire the next one, in one
atomic step (core.settle_acquire): the acquire decides on the state the settle left.

core.settle_acquire applies the settle's sealed changes to the stored strings and parses
them again for the acquire.  Here the state is read and parsed once, and the settle's
changes are applied to the parsed state in place (settled_fields, settled_leases): only
the groups of fields they touch are parsed again, and the leases are the first parse's,
less those removed, plus those added, each judged as parse judges it; the marker is
worked out once, after the acquire (mark).  Where that cannot be exact the written state
is parsed anew (reparse).  Both steps' changes are written at once (changes.then, as
fold), as the other stores write core.settle_acquire's changes.
tests/budget/test_redis_differential.py holds the two to the same answers and the same
stored strings.

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
-- when settled_fields (below) cannot go on in place.
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

-- What parse reads from the stored state once the settle's changes `ch` are written:
-- `st`, the first parse, changed in place, in two halves around the seal's first half.
--
-- settled_fields: a group of fields a change touches is parsed again from the strings it
-- writes.  Returns false, having changed what parse_anchor changes, when this cannot go on
-- in place: the anchor's new rate bounds the leases otherwise, or the settle removes the
-- epoch's lease of an intact epoch (then the epoch is not intact after the write).
local function settled_fields(st, stored, ch, now, P)
  if st.epoch ~= nil then
    for _, id in ipairs(ch.remove) do
      if id == EPOCH_LEASE then return false end
    end
  end
  if #ch.delete == 0 and next(ch.set) == nil then return true end
  local fields, anchor, recharge, last_sync = {}, false, false, false
  for i = 1, #FIELDS do fields[i] = stored.fields[i] end
  -- as changes.apply_changes writes them: the deletes, then the sets
  local touched = {}
  for _, n in ipairs(ch.delete) do
    touched[#touched + 1] = FIELD_AT[n]
    fields[FIELD_AT[n]] = false
  end
  for n, value in pairs(ch.set) do
    touched[#touched + 1] = FIELD_AT[n]
    fields[FIELD_AT[n]] = value
  end
  -- FIELDS' groups: 1-5 the anchor, 6-8 recharge mode, 9 the last sync
  for _, at in ipairs(touched) do
    anchor, recharge, last_sync = anchor or at <= 5, recharge or (at > 5 and at <= 8),
                                  last_sync or at == 9
  end
  if anchor then
    local bound = bounding_rate(st.anchor)
    parse_anchor(st, fields, now, P)
    if bounding_rate(st.anchor) ~= bound then return false end
  end
  if recharge then parse_recharge(st, fields, now) end
  if last_sync then parse_last_sync(st, fields, now) end
  list_problems(st)
  return true
end

-- settled_leases, once the seal's first half wrote `epoch` (and any lost-leases): a sealed
-- write leaves the same epoch in the fields, the leases and the marker (a new one when
-- none was intact), so the parse finds it intact and holds no lost leases.  The leases:
-- with what bounds them unchanged, those the first parse kept stay kept and the dropped
-- ones were removed; only the leases added are judged.  The marker stays the stored one:
-- the pair's marker is worked out once, after the acquire (mark).
local function settled_leases(st, ch, epoch, now, P)
  st.dropped = {}
  for _, id in ipairs(ch.remove) do st.leases[id] = nil end
  local max_expiry, max_cost, max_lost = lease_bounds(st, now, P)
  for id, value in pairs(ch.add) do
    if id ~= EPOCH_LEASE then judge_lease(st, id, value, now, max_expiry, max_cost, max_lost) end
  end
  count_leases(st)
  st.epoch, st.found_lost = epoch, {}
end

local function op_settle_acquire()
  local P = read_policy()
  local now = clock_now()
  local stored = load()
  local st = parse(stored, now, P)
  local settled_id, settled_cost, status, lease_id, cost = read_call()
  local settled = settle_changes(st, now, settled_id, settled_cost, status)
  local acquired, reply
  if settled_fields(st, stored, settled, now, P) then
    local epoch = seal_epoch(st, settled, now)
    if epoch == nil then  -- the settle writes nothing (it always removes its lease)
      reply, acquired = acquire_step(st, now, P, lease_id, cost)
      seal(st, acquired, now)
    else
      settled_leases(st, settled, epoch, now, P)
      reply, acquired = acquire_step(st, now, P, lease_id, cost)
      -- the epoch is intact and nothing is lost: the acquire's seal is the marker alone,
      -- and the marker of the pair is the acquire's (that of the settle when the acquire
      -- writes nothing; a lease the settle wrote and parse would drop, the acquire removes)
      mark(st, acquired, epoch)
    end
  else
    seal(st, settled, now)
    st = reparse(stored, settled, now, P)
    reply, acquired = acquire_step(st, now, P, lease_id, cost)
    seal(st, acquired, now)
  end
  fold(settled, acquired)
  write(stored, settled, P)
  return reply
end
