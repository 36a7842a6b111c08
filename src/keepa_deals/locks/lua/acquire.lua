-- Take a lock, or extend it when the caller already holds it.
-- KEYS[1]  the lock key (a string holding the owner id)
-- ARGV[1]  owner id;  ARGV[2]  lifetime in ms
-- Returns 1 when the lock is the caller's (taken or extended), 0 when another owner holds it.
-- Every lock key has a TTL: a foreign lock found without one (restored from an old dump)
-- is given the lifetime ARGV[2], so nothing can hold a lock for ever.
local cur = redis.call('GET', KEYS[1])
if not cur then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if cur == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if redis.call('PTTL', KEYS[1]) == -1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
