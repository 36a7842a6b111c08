--[[ lib.lua: the part every budget operation shares (changes.lua continues it).

redis_store.py runs it two ways.  On Redis >= 7, lib.lua, changes.lua, steps.lua and every
operation's file make one Redis Functions library, each operation (op_<name>) a
registered function, called with FCALL; a library's top level runs when Redis loads it
and may call nothing (no string, math, ipairs there), so it only defines.  Elsewhere,
lib.lua, changes.lua and steps.lua are prepended to one operation and run as a script
(EVALSHA).

A line-by-line transcription of keepa_deals.budget.state (parse), .core (acquire,
settle, observe, claim_sync) and keepa_deals.tokens.economics (cap, project,
wait_ms_for).  tests/budget/test_redis_differential.py keeps the two in step.

Numbers: every value is an integer (milli-tokens, epoch ms) held exactly in a
double (all valid values are far below 2^53).  Divisions go through idiv();
numbers are written back with fmt(), never tostring() ("1e+15").

Each operation reads the state once (load), parses it, and writes what changed once
(write: a value already stored is not written again).  It sees KEYS and ARGV as K and
A, which its entry point sets (a function gets them as arguments, not as globals).

Common KEYS of every operation:
  [1] the budget hash (scalar fields)   [2] the leases hash (id -> "cost_mt:expires_ms")
  [3] the marker, "<epoch>:<reserved_mt>:<until_ms>", a string with no TTL (budget.state)
Common ARGV of every operation (the operation's own follow from ARGV[3]):
  [1] now_ms override, "" to read Redis TIME (the override exists for tests)
  [2] the policy and key TTLs as one JSON array (one argument: cheaper to send and
      to read): floor (tokens), min_balance (tokens), lease_ttl_ms,
      anchor_max_age_ms, burst_minutes (float), sync_interval_ms, recharge_slack_ms,
      zero_rate_retry_ms, TTL of the budget hash (ms), TTL of the leases hash (ms)
]]

-- Needs Redis >= 5, where scripts replicate their effects: a script may read TIME and then write.

local MT = 1000
local MINUTE_MS = 60000
local CAP_MINUTES = 60
local MAX_RATE_MT = 1000000 * MT
local FUTURE_TOLERANCE_MS = 5000
local MAX_RECHARGE_MS = 3 * 60 * MINUTE_MS
local MAX_SKEW_DRIFT_MS = 5 * MINUTE_MS
local MIN_KEY_TTL_MS = 1000
local MAX_KEY_TTL_MS = 7 * 24 * 3600 * 1000
local BATCH = 1000  -- arguments per HDEL/HSET, well inside Lua's stack

local ANCHOR_FIELDS = {'anchor_tokens', 'anchor_rate', 'anchor_next_refill_ms',
                       'anchor_server_ts_ms', 'anchor_seen_ms'}
local RECHARGE_FIELDS = {'recharge_since_ms', 'recharge_deadline_ms', 'recharge_target'}
local FIELDS = {'anchor_tokens', 'anchor_rate', 'anchor_next_refill_ms', 'anchor_server_ts_ms',
                'anchor_seen_ms', 'recharge_since_ms', 'recharge_deadline_ms', 'recharge_target',
                'last_sync_ms', 'epoch'}
local EPOCH_LEASE = '#epoch'
-- FIELDS' positions by name (core.Changes names only these fields); written out, as a
-- library's top level may call nothing when Redis loads it as functions
local FIELD_AT = {anchor_tokens = 1, anchor_rate = 2, anchor_next_refill_ms = 3,
                  anchor_server_ts_ms = 4, anchor_seen_ms = 5, recharge_since_ms = 6,
                  recharge_deadline_ms = 7, recharge_target = 8, last_sync_ms = 9, epoch = 10}
local LOST_PREFIX = '#lost-'


-- the call's KEYS and ARGV: each operation's entry point sets them before anything else
local K, A

local function fmt(n)
  return string.format('%d', n)
end

local function opt(n)
  if n == nil then return '' end
  return fmt(n)
end

-- floor(a / b) for integers, exactly (b > 0)
local function idiv(a, b)
  local q = math.floor(a / b)
  if q * b > a then
    q = q - 1
  elseif (q + 1) * b <= a then
    q = q + 1
  end
  return q
end

local function trunc(x)
  if x >= 0 then return math.floor(x) end
  return math.ceil(x)
end

local function clamp(x, lo, hi)
  return math.min(math.max(x, lo), hi)
end

-- core.parse_int: ASCII decimal with optional blanks around it and a leading '-', at most
-- 16 digits and 2^53 in magnitude (so every accepted value is an exact double).
local MAX_INT_TEXT = '9007199254740992'
local function read_int(v)
  -- what fmt writes, at most 15 characters (so below 2^53): read as it is
  if #v <= 15 and string.find(v, '^%-?%d+$') then return tonumber(v) end
  local sign, digits = string.match(v, '^[ \t\n\r]*(%-?)(%d+)[ \t\n\r]*$')
  if not digits or #digits > 16 then return nil end
  if #digits == 16 and digits > MAX_INT_TEXT then return nil end
  local n = tonumber(digits)
  if sign == '-' then return -n end
  return n
end

-- A pure function of a string, remembering its results by the string for the short ones:
-- most of what a step parses is what the step before wrote, and a library loaded as
-- functions keeps them between calls (at most 1024 of at most 64 bytes, then it starts
-- again).  The results are shared: never changed by their users.
local function remembered(f)
  local known, n = {}, 0
  return function(v)
    if not v then return nil end
    local r = known[v]
    if r == nil then
      r = f(v)
      if r == nil then r = false end
      if #v <= 64 then
        if n >= 1024 then known, n = {}, 0 end
        known[v] = r
        n = n + 1
      end
    end
    if r == false then return nil end
    return r
  end
end

local parse_int = remembered(read_int)

-- ---------------------------------------------------------------------------
-- economics
-- ---------------------------------------------------------------------------

local function cap_for(rate)
  return CAP_MINUTES * math.max(rate, 0)
end

local function refills_between(next_refill, now)
  if now < next_refill then return 0 end
  return 1 + idiv(now - next_refill, MINUTE_MS)
end

local function next_refill_after(next_refill, now)
  return next_refill + refills_between(next_refill, now) * MINUTE_MS
end

local function refill(tokens, rate, refills, cap)
  if refills <= 0 or rate <= 0 or tokens >= cap then return tokens end
  return math.min(cap, tokens + refills * rate)
end

local function project(tokens, rate, next_refill, now, cap)
  return refill(tokens, rate, refills_between(next_refill, now), cap)
end

-- ms from now until the projected balance reaches target; nil if it never will
local function wait_ms_for(tokens, rate, next_refill, now, target, cap)
  local current = project(tokens, rate, next_refill, now, cap)
  if current >= target then return 0 end
  if rate <= 0 or target > cap then return nil end
  local refills_needed = -idiv(-(target - current), rate)
  local first = next_refill_after(next_refill, now)
  return first + (refills_needed - 1) * MINUTE_MS - now
end

-- ---------------------------------------------------------------------------
-- clock, policy
-- ---------------------------------------------------------------------------

local function clock_now()
  if A[1] ~= '' then return tonumber(A[1]) end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- decoded policies by their JSON (a library loaded as functions keeps them between calls)
local POLICIES, NPOLICIES = {}, 0

local function read_policy()
  local P = POLICIES[A[2]]
  if P ~= nil then return P end
  local v = cjson.decode(A[2])
  P = {
    floor = v[1],
    min_balance = v[2],
    lease_ttl_ms = v[3],
    anchor_max_age_ms = v[4],
    burst_minutes = v[5],
    sync_interval_ms = v[6],
    recharge_slack_ms = v[7],
    zero_rate_retry_ms = v[8],
    budget_ttl_ms = clamp(v[9], MIN_KEY_TTL_MS, MAX_KEY_TTL_MS),
    leases_ttl_ms = clamp(v[10], MIN_KEY_TTL_MS, MAX_KEY_TTL_MS),
  }
  if NPOLICIES >= 16 then POLICIES, NPOLICIES = {}, 0 end  -- one or two in practice
  POLICIES[A[2]] = P
  NPOLICIES = NPOLICIES + 1
  return P
end

-- Policy.burst_mt: recharge ends at this balance, never above the cap
local function burst_mt(P, rate)
  local cap = cap_for(rate)
  return math.max(P.min_balance * MT, math.min(cap, trunc(rate * P.burst_minutes)))
end

-- ---------------------------------------------------------------------------
-- parse: the stored strings -> a state listing what is unknown (core.parse)
-- ---------------------------------------------------------------------------

local function anchor_problem(a, now, P)
  if a.rate < 0 or a.rate > MAX_RATE_MT then
    return 'anchor has an impossible refill rate'
  end
  local limit = math.max(cap_for(a.rate), 1000 * MT) * 10
  if math.abs(a.tokens) > limit then
    return 'anchor has an impossible balance'
  end
  if a.seen > now + FUTURE_TOLERANCE_MS then
    return 'anchor is dated in the future'
  end
  if not (a.seen < a.next_refill and a.next_refill <= a.seen + MINUTE_MS) then
    return "anchor's next refill is not within a minute of when it was seen"
  end
  if now - a.seen > P.anchor_max_age_ms then
    return 'anchor is older than ' .. fmt(idiv(P.anchor_max_age_ms, 1000)) .. ' s'
  end
  return nil
end

-- state.parse_marker: "<epoch>:<reserved>:<until>" as three integers, or nil
local parse_marker = remembered(function(v)
  local e, r, u = string.match(v, '^([^:]*):([^:]*):([^:]*)$')  -- exactly three parts
  if e == nil then return nil end
  local epoch, reserved, untl = parse_int(e), parse_int(r), parse_int(u)
  if epoch == nil or reserved == nil or untl == nil then return nil end
  return {epoch = epoch, reserved = reserved, until_ms = untl}
end)

-- state.lost_bound: the most the live leases can ever hold (the cap less the floor)
local function lost_bound(an, P)
  if an ~= nil and an.rate > 0 and an.rate <= MAX_RATE_MT then
    return cap_for(an.rate) - math.min(P.floor, 0) * MT
  end
  return MAX_RATE_MT * 60
end

local parse_lease = remembered(function(v)
  local c, e = string.match(v, '^([^:]*):(.*)$')  -- split at the first ':'
  if c == nil then return nil end
  local cost, exp = parse_int(c), parse_int(e)
  if cost == nil or exp == nil then return nil end
  if cost <= 0 or cost > MAX_RATE_MT * 60 then return nil end
  return {cost = cost, exp = exp}
end)

-- the stored state as read, once per step: fields (FIELDS order, false when absent),
-- leases (id -> value, '#epoch' included) and the marker (nil when absent)
local function load()
  -- HGETALL, not HMGET of the ten names: cheaper, and the hash holds only these
  local fields = {false, false, false, false, false, false, false, false, false, false}
  local flat = redis.call('HGETALL', K[1])
  for i = 1, #flat, 2 do
    local at = FIELD_AT[flat[i]]
    if at then fields[at] = flat[i + 1] end
  end
  local leases = {}
  flat = redis.call('HGETALL', K[2])
  for i = 1, #flat, 2 do leases[flat[i]] = flat[i + 1] end
  return {fields = fields, leases = leases, marker = redis.call('GET', K[3]) or nil}
end

-- parse's parts, each reading its group of fields (raw[i] follows FIELDS, false when
-- absent) into st; the combined step runs again only those a settle changed

-- fields 1-5: st.anchor (kept for display even when it has a problem) and its problem
local function parse_anchor(st, raw, now, P)
  st.anchor, st.anchor_problem = nil, nil
  if not (raw[1] or raw[2] or raw[3] or raw[4] or raw[5]) then
    st.anchor_problem = 'no anchor: Keepa has not been asked yet'
    return
  end
  local tokens, rate, next_refill = parse_int(raw[1]), parse_int(raw[2]), parse_int(raw[3])
  local server_ts, seen = parse_int(raw[4]), parse_int(raw[5])
  if not (tokens and rate and next_refill and server_ts and seen) then
    local bad = {}
    for i = 1, 5 do
      if parse_int(raw[i]) == nil then bad[#bad + 1] = ANCHOR_FIELDS[i] end
    end
    st.anchor_problem = 'anchor incomplete or unparsable: ' .. table.concat(bad, ', ')
    return
  end
  local a = {tokens = tokens, rate = rate, next_refill = next_refill, server_ts = server_ts,
             seen = seen}
  st.anchor_problem = anchor_problem(a, now, P)
  st.anchor = a
end

-- fields 6-8: st.recharge and its problem
local function parse_recharge(st, raw, now)
  st.recharge, st.recharge_problem = nil, nil
  if not (raw[6] or raw[7] or raw[8]) then return end
  local since, deadline, target = parse_int(raw[6]), parse_int(raw[7]), parse_int(raw[8])
  if since == nil or deadline == nil or target == nil then
    st.recharge_problem = 'recharge mode without a valid start, deadline or target'
  elseif since > now + FUTURE_TOLERANCE_MS then
    st.recharge_problem = 'recharge mode started in the future'
  elseif deadline < since or deadline - since > MAX_RECHARGE_MS
      or target <= 0 or target > MAX_RATE_MT * 60 then
    st.recharge_problem = 'recharge mode with an impossible deadline or target'
  else
    st.recharge = {since = since, deadline = deadline, target = target}
  end
end

-- field 9: st.last_sync, and its text as stored (a corrupt value beyond 2^53 has no exact
-- double: the reply echoes the text)
local function parse_last_sync(st, raw, now)
  st.last_sync, st.last_sync_text = nil, nil
  local ls = parse_int(raw[9])
  if ls ~= nil and ls <= now + FUTURE_TOLERANCE_MS then
    st.last_sync, st.last_sync_text = ls, raw[9]
  end
end

-- st.problems, in core.parse's order: the anchor's, then recharge mode's
local function list_problems(st)
  local problems = {}
  if st.anchor_problem then problems[1] = st.anchor_problem end
  if st.recharge_problem then problems[#problems + 1] = st.recharge_problem end
  st.problems = problems
end

-- what the anchor bounds a lease by (core.parse: no lease costs more than the bucket; a
-- lost-lease holds at most lost_bound): the anchor's rate when it is a possible one, else 0
local function bounding_rate(an)
  if an ~= nil and an.rate > 0 and an.rate <= MAX_RATE_MT then return an.rate end
  return 0
end

-- what a lease must be to count (core.parse): a lease text that parses, expiring after now
-- and within the lease TTL, costing at most the bucket (a lost-lease: at most lost_bound)
local function lease_bounds(st, now, P)
  local an = st.anchor
  -- no call costing more than the bucket is ever granted, so no such lease is real
  local max_cost = MAX_RATE_MT * 60
  if bounding_rate(an) > 0 then max_cost = cap_for(an.rate) end
  return now + P.lease_ttl_ms + FUTURE_TOLERANCE_MS, max_cost, lost_bound(an, P)
end

-- one stored lease into st.leases (replacing one of its id), or into st.dropped
local function judge_lease(st, id, value, now, max_expiry, max_cost, max_lost)
  local rec = parse_lease(value)
  local lost = string.sub(id, 1, #LOST_PREFIX) == LOST_PREFIX
  if rec == nil or rec.exp > max_expiry or rec.exp <= now
      or (rec.cost > max_cost and not lost) then
    st.leases[id] = nil
    st.dropped[#st.dropped + 1] = id
  else
    -- a lost-lease may hold several calls: never more than the leases could hold
    if lost then rec = {cost = math.min(rec.cost, max_lost), exp = rec.exp} end
    st.leases[id] = rec
  end
end

-- st.leases' count, sum and last expiry
local function count_leases(st)
  local n, reserved, last = 0, 0, nil
  for _, rec in pairs(st.leases) do
    n = n + 1
    reserved = reserved + rec.cost
    if last == nil or rec.exp > last then last = rec.exp end
  end
  st.nleases, st.reserved, st.last_expiry = n, reserved, last
end

-- the leases (id -> value) into st.leases and st.dropped, counted; returns the epoch the
-- leases hold (nil when none parses)
local function parse_leases(st, leases, now, P)
  st.leases, st.dropped = {}, {}
  local max_expiry, max_cost, max_lost = lease_bounds(st, now, P)
  local leases_epoch = nil
  for id, value in pairs(leases) do
    if id == EPOCH_LEASE then
      leases_epoch = parse_int(value)
    else
      judge_lease(st, id, value, now, max_expiry, max_cost, max_lost)
    end
  end
  count_leases(st)
  return leases_epoch
end

local function parse(stored, now, P)
  local st = {epoch = nil, marker = stored.marker, found_lost = {}}
  local raw = stored.fields
  parse_anchor(st, raw, now, P)
  parse_recharge(st, raw, now)
  parse_last_sync(st, raw, now)
  list_problems(st)
  local leases_epoch = parse_leases(st, stored.leases, now, P)

  -- state._check_epoch: compare the state's epoch with the marker's; hold what lost leases held
  local fields_epoch = parse_int(raw[10])
  local m = parse_marker(st.marker)
  if m == nil then
    if fields_epoch ~= nil and fields_epoch == leases_epoch then st.epoch = fields_epoch end
  elseif fields_epoch == m.epoch and leases_epoch == m.epoch then
    st.epoch = m.epoch
  elseif leases_epoch ~= m.epoch and m.until_ms > now then
    local held = math.min(m.reserved - st.reserved, lost_bound(st.anchor, P))
    local id = LOST_PREFIX .. fmt(now)
    if held > 0 and st.leases[id] == nil then
      local rec = {cost = held, exp = math.min(m.until_ms, now + P.lease_ttl_ms)}
      st.leases[id] = rec
      st.found_lost[id] = rec
      st.nleases = st.nleases + 1
      st.reserved = st.reserved + rec.cost
      if st.last_expiry == nil or rec.exp > st.last_expiry then st.last_expiry = rec.exp end
    end
  end
  return st
end

local function unknown(st)
  return #st.problems > 0
end
