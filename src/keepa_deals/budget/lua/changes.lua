--[[ changes.lua: what a decision writes back (core.Changes), sealing, merging and
writing it, and observing a Keepa status: the second half of what every budget
operation shares, after lib.lua (whose locals it uses: the two are one chunk, lib.lua
first, then this file, steps.lua and the operation).  A transcription of
keepa_deals.budget.core and .changes; tests/budget/test_redis_differential.py keeps
the two in step.
]]
-- ---------------------------------------------------------------------------
-- changes: what a decision writes back (core.Changes), and applying them
-- ---------------------------------------------------------------------------

local function new_changes(st)
  local ch = {set = {}, delete = {}, add = {}, remove = {}}
  for _, id in ipairs(st.dropped) do table.insert(ch.remove, id) end
  return ch
end

local function delete_recharge(ch)
  for _, n in ipairs(RECHARGE_FIELDS) do table.insert(ch.delete, n) end
end

local function set_recharge(ch, since, deadline, target)
  ch.set.recharge_since_ms = fmt(since)
  ch.set.recharge_deadline_ms = fmt(deadline)
  ch.set.recharge_target = fmt(target)
  local kept = {}
  for _, n in ipairs(ch.delete) do
    if n ~= 'recharge_since_ms' and n ~= 'recharge_deadline_ms' and n ~= 'recharge_target' then
      table.insert(kept, n)
    end
  end
  ch.delete = kept
end

local function call_batched(cmd, key, list)
  for i = 1, #list, BATCH do
    redis.call(cmd, key, unpack(list, i, math.min(i + BATCH - 1, #list)))
  end
end

local function pairs_list(map)
  local out = {}
  for k, v in pairs(map) do
    out[#out + 1] = k
    out[#out + 1] = v
  end
  return out
end

local function writes(ch)
  return #ch.delete > 0 or next(ch.set) ~= nil or next(ch.add) ~= nil or #ch.remove > 0
end

-- core.seal, first half: a step that writes also writes a new epoch when none is intact
-- and the lost-leases a loss left to hold; returns the epoch the state holds after the
-- write (nil when the step writes nothing, and is left alone)
local function seal_epoch(st, ch, now)
  if not writes(ch) then return nil end
  local epoch = st.epoch
  if epoch == nil then
    epoch = now
    ch.set.epoch = fmt(epoch)
    ch.add[EPOCH_LEASE] = fmt(epoch)
  end
  local removed = {}
  for _, id in ipairs(ch.remove) do removed[id] = true end
  for id, rec in pairs(st.found_lost) do
    if ch.add[id] == nil and not removed[id] then  -- unless released already
      ch.add[id] = fmt(rec.cost) .. ':' .. fmt(rec.exp)
    end
  end
  return epoch
end

-- core.seal, second half: the marker of the result (the sum and the last expiry of the
-- live leases), when it is not the one stored
local function mark(st, ch, epoch)
  local removed = {}
  for _, id in ipairs(ch.remove) do removed[id] = true end
  local live = {}
  for id, rec in pairs(st.leases) do
    if not removed[id] then live[id] = rec end
  end
  for id, text in pairs(ch.add) do
    if id ~= EPOCH_LEASE then
      local rec = parse_lease(text)
      if rec ~= nil then live[id] = rec end
    end
  end
  local reserved, untl = 0, 0
  for _, rec in pairs(live) do
    reserved = reserved + rec.cost
    if rec.exp > untl then untl = rec.exp end
  end
  local marker = fmt(epoch) .. ':' .. fmt(reserved) .. ':' .. fmt(untl)
  if marker ~= st.marker then ch.marker = marker end
end

-- core.seal: both halves; returns the epoch (nil when the step writes nothing)
local function seal(st, ch, now)
  local epoch = seal_epoch(st, ch, now)
  if epoch ~= nil then mark(st, ch, epoch) end
  return epoch
end

-- one half of fold: names dropped (deletes, removes) and values put (sets, adds), a's then
-- b's; a's puts change in place, the dropped names are returned
local function fold_half(a_drop, b_drop, a_put, b_put)
  local drop = {}
  for _, n in ipairs(a_drop) do
    if b_put[n] == nil then drop[#drop + 1] = n end
  end
  for _, n in ipairs(b_drop) do
    a_put[n] = nil
    drop[#drop + 1] = n
  end
  for n, value in pairs(b_put) do a_put[n] = value end
  return drop
end

-- changes.then, in place: a becomes the changes of a followed by b, as one write
-- (deletes apply before sets); only b, a step's few changes, is walked whole
local function fold(a, b)
  if #b.delete > 0 or next(b.set) ~= nil then
    a.delete = fold_half(a.delete, b.delete, a.set, b.set)
  end
  if #b.remove > 0 or next(b.add) ~= nil then
    a.remove = fold_half(a.remove, b.remove, a.add, b.add)
  end
  if b.marker ~= nil then a.marker = b.marker end
end

-- Writes sealed changes to the state loaded as `stored`, in the order of
-- changes.apply_changes: delete, set, remove leases, add leases; then the marker (its own
-- key, no TTL: no volatile-* eviction takes it).  What would change nothing stored is not
-- sent (a field deleted that is absent, a value set to what it holds, a lease removed that
-- is not there, the marker it holds); the TTLs are refreshed as the changes say, whatever
-- was skipped.
local function write(stored, ch, P)
  local delete, deleted = {}, {}
  for _, n in ipairs(ch.delete) do
    if stored.fields[FIELD_AT[n]] then
      delete[#delete + 1] = n
      deleted[n] = true
    end
  end
  if #delete > 0 then call_batched('HDEL', K[1], delete) end
  if next(ch.set) ~= nil then
    local set = {}
    for n, value in pairs(ch.set) do
      if deleted[n] or stored.fields[FIELD_AT[n]] ~= value then
        set[#set + 1] = n
        set[#set + 1] = value
      end
    end
    if #set > 0 then redis.call('HSET', K[1], unpack(set)) end
    redis.call('PEXPIRE', K[1], P.budget_ttl_ms)
  end
  local remove = {}
  for _, id in ipairs(ch.remove) do
    if stored.leases[id] then remove[#remove + 1] = id end
  end
  if #remove > 0 then call_batched('HDEL', K[2], remove) end
  local add = pairs_list(ch.add)
  if #add > 0 then
    call_batched('HSET', K[2], add)
    -- the hash must outlive the lease just written; refreshed (only ever lengthened) when
    -- it might not, so a worker with a shorter lease TTL cannot cut others' leases
    if redis.call('PTTL', K[2]) < P.lease_ttl_ms + FUTURE_TOLERANCE_MS then
      redis.call('PEXPIRE', K[2], P.leases_ttl_ms)
    end
  end
  if ch.marker ~= nil and ch.marker ~= stored.marker then
    redis.call('SET', K[3], ch.marker)
  end
end

-- seal a step's changes and write them to the state loaded as `stored`
local function apply(stored, st, ch, now, P)
  seal(st, ch, now)
  write(stored, ch, P)
end

-- ---------------------------------------------------------------------------
-- observe (core.observe), shared by observe.lua and settle.lua
-- ---------------------------------------------------------------------------

-- status fields from A[first .. first+3]: tokensLeft, refillIn, refillRate, timestamp
local function read_status(first)
  return {tokens_left = tonumber(A[first]), refill_in = tonumber(A[first + 1]),
          refill_rate = tonumber(A[first + 2]), timestamp = tonumber(A[first + 3])}
end

local function observe(st, s, now, authoritative)
  local ch = new_changes(st)
  local a = st.anchor
  local seen = now
  if a ~= nil and not unknown(st) then
    local offset = a.server_ts - a.seen  -- Keepa's clock minus ours, as last measured
    local drift = (s.timestamp - now) - offset
    if math.abs(drift) <= MAX_SKEW_DRIFT_MS then  -- else the stored Keepa time is garbage
      if not authoritative then
        if s.timestamp < a.server_ts then return ch end
        if s.timestamp == a.server_ts and s.tokens_left * MT >= a.tokens then return ch end
      end
      -- a reply that arrives late is dated when Keepa sent it, on our clock;
      -- one over a minute late says less than the anchor we hold
      local sent = s.timestamp - offset
      if sent < now - MINUTE_MS and not authoritative then return ch end
      if now - MINUTE_MS <= sent and sent < now then seen = sent end
    end
  end
  local refill_in = math.min(math.max(s.refill_in, 1), MINUTE_MS)
  ch.set.anchor_tokens = fmt(s.tokens_left * MT)
  ch.set.anchor_rate = fmt(math.max(s.refill_rate, 0) * MT)
  ch.set.anchor_next_refill_ms = fmt(seen + refill_in)
  ch.set.anchor_server_ts_ms = fmt(s.timestamp)
  ch.set.anchor_seen_ms = fmt(seen)
  if authoritative then ch.set.last_sync_ms = fmt(now) end
  if st.recharge == nil then delete_recharge(ch) end  -- drops a partial or corrupt record
  return ch
end

-- ---------------------------------------------------------------------------
-- the operation follows
-- ---------------------------------------------------------------------------
