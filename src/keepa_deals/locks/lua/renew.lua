-- Compare-and-pexpire: extend the lock only for its owner.
-- KEYS[1]  the lock key;  ARGV[1]  owner id;  ARGV[2]  lifetime in ms
-- Returns 1 when extended, 0 when the caller no longer holds the lock (expired or taken).
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
