--[[ steps.lua: the steps shared by acquire.lua, settle.lua and settle_acquire.lua
(core.acquire, core.settle); prepended after lib.lua. ]]

-- settle (core.settle): the changes that release a lease and reconcile with its status
-- (read_status's table), or take its cost from the anchor when status is nil
local function settle_changes(st, now, lease_id, cost, status)
  local ch
  if status ~= nil then
    ch = observe(st, status, now, false)
  else
    ch = new_changes(st)
    -- even when the lease already expired: Keepa may have charged it
    if cost > 0 and st.anchor ~= nil and not unknown(st) then
      ch.set.anchor_tokens = fmt(st.anchor.tokens - cost)
      table.insert(ch.delete, 'last_sync_ms')  -- the anchor now holds an estimate, unverified
    end
  end
  -- a lease the store does not hold (nor just dropped) was forgotten by a state loss:
  -- the lost-leases that held it release its cost, oldest first (core._release_lost)
  local dropped = false
  for _, id in ipairs(st.dropped) do
    if id == lease_id then dropped = true end
  end
  if st.leases[lease_id] == nil and not dropped and string.sub(lease_id, 1, 1) ~= '#' then
    local ids = {}
    for id in pairs(st.leases) do
      if string.sub(id, 1, #LOST_PREFIX) == LOST_PREFIX then ids[#ids + 1] = id end
    end
    table.sort(ids)
    local left = cost
    for _, id in ipairs(ids) do
      if left <= 0 then break end
      local rec = st.leases[id]
      local take = math.min(left, rec.cost)
      left = left - take
      if take == rec.cost then
        table.insert(ch.remove, id)
      else
        ch.add[id] = fmt(rec.cost - take) .. ':' .. fmt(rec.exp)
      end
    end
  end
  table.insert(ch.remove, lease_id)
  return ch
end

-- acquire (core.acquire): grant a lease, or say why not and for how long; returns the
-- reply acquire.lua documents and the changes (the caller seals and writes them)
local function acquire_step(st, now, P, lease_id, cost)
  local ch = new_changes(st)

  if unknown(st) or st.anchor == nil then
    local reason = table.concat(st.problems, '; ')
    if reason == '' then reason = 'no anchor' end
    return table.concat({'unknown', reason, '', '', '', '', '', '', '', fmt(now), ''}, '\n'), ch
  end

  local a = st.anchor
  local cap = cap_for(a.rate)
  local projected = project(a.tokens, a.rate, a.next_refill, now, cap)
  local available = projected - st.reserved

  local function decision(kind, reason, wait, expires, needed)
    return table.concat({kind, reason, opt(wait), opt(expires), fmt(projected), fmt(available),
                         opt(needed), fmt(a.seen), fmt(cap), fmt(now), st.last_sync_text or ''},
                        '\n'), ch
  end

  -- ms until available >= need, counting leases until they expire (core._wait_for)
  local function wait_for(need)
    local w = wait_ms_for(a.tokens, a.rate, a.next_refill, now, need + st.reserved, cap)
    if w ~= nil or st.nleases == 0 then return w end
    -- the live leases hold more than the bucket can ever add; they expire, though
    local last = st.last_expiry
    local w2 = wait_ms_for(a.tokens, a.rate, a.next_refill, last, need, cap)
    if w2 == nil then return nil end
    return last - now + w2
  end

  if a.rate > 0 and cost > cap then
    return decision('too_big', 'cost exceeds the bucket cap (' .. fmt(idiv(cap, MT)) .. ' tokens)')
  end

  local need = math.max(P.min_balance * MT, P.floor * MT + cost)
  local reason = 'the call would overdraw the floor'
  if need == P.min_balance * MT then reason = 'balance below the minimum' end

  local r = st.recharge
  if r ~= nil then
    -- the target follows the plan: never above today's burst (a downgrade, a corrupt value)
    local target = math.min(r.target, burst_mt(P, a.rate))
    if available >= target then
      delete_recharge(ch)  -- exit condition reached
      r = nil
    elseif now >= r.deadline then
      delete_recharge(ch)  -- deadline passed: leave, never stay forever
      r = nil
    elseif target > need then
      need, reason = target, 'recharging to the burst threshold'
    end
  end

  -- the admission rule, core.grant_limit_mt, in its "balance needed" form
  if available >= need then
    local expires = now + P.lease_ttl_ms
    ch.add[lease_id] = fmt(cost) .. ':' .. fmt(expires)
    return decision('grant', 'granted', nil, expires, need)
  end

  local wait = wait_for(need)
  if r ~= nil and (wait == nil or wait > r.deadline - now) then
    wait = r.deadline - now  -- recharge mode ends by then at the latest
  end
  if r == nil then
    -- entering recharge: wait for a burst rather than trickle single tokens; the burst is
    -- counted from here, so a balance below zero still gets there within burst_minutes
    local target = math.max(P.min_balance * MT, burst_mt(P, a.rate) + math.min(0, available))
    local to_target = wait_for(math.max(target, need))
    local horizon = to_target
    if horizon == nil then horizon = P.zero_rate_retry_ms end
    -- a deadline the parser accepts: a recharge longer than that ends and is re-entered
    horizon = math.min(horizon + P.recharge_slack_ms, MAX_RECHARGE_MS)
    set_recharge(ch, now, now + horizon, target)
    if target > need then
      need, reason = target, 'recharging to the burst threshold'
      wait = to_target
    end
  end
  if wait == nil and a.rate <= 0 then reason = 'the refill rate is 0' end
  return decision('wait', reason, wait, nil, need)
end
