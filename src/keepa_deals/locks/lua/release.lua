-- Compare-and-delete: only the owner releases the lock.
-- KEYS[1]  the lock key;  ARGV[1]  owner id
-- Returns 1 when deleted, 0 when the caller did not hold it.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
