--[[ settle_acquire.lua: settle the last call's lease, then acquire the next one, in one
atomic step (core.settle_acquire): the acquire decides on the state the settle left.
The state is read once; the settle's changes are applied to that copy in memory, the
acquire parses the result, and both changes are written at once (changes.then), as the
other stores write core.settle_acquire's changes.

KEYS  [1] budget hash  [2] leases hash  [3] marker
ARGV  [1..2] as in lib.lua
      [3] the settled lease's id   [4] its cost in milli-tokens
      [5] "1" when a status follows, "0" when the response carried none
      [6] tokensLeft  [7] refillIn (ms)  [8] refillRate  [9] timestamp (Keepa ms)
          (empty strings when no status follows: the places stay)
      [10] the new lease's id      [11] its cost in milli-tokens
Returns what acquire.lua returns.
]]

local function op_settle_acquire()
  local P = read_policy()
  local now = clock_now()
  local stored = load()
  local first = parse(stored, now, P)
  local settled = settle_changes(first, now, A[3], tonumber(A[4]), A[5] == '1', 6)
  seal(first, settled, now)
  local after = copy(stored)
  apply_in_memory(after, settled)
  local reply, acquired = acquire_step(parse(after, now, P), now, P, A[10], tonumber(A[11]))
  write(stored, merge(settled, acquired), P)
  return reply
end
