"""Lua scripts that keep job state, events and the queue consistent.

Each script runs atomically in Redis, so a job's state never changes without its event,
and a job is never enqueued without its record.
"""

from __future__ import annotations

CREATE_JOB = """
-- KEYS: 1 job hash, 2 job events, 3 global events, 4 queue stream, 5 idempotency key
-- ARGV: 1 job id, 2 body hash ('' = no key), 3 idempotency ttl, 4 job ttl,
--       5 event json, 6 job events maxlen, 7 global events maxlen, 8.. job fields
if ARGV[2] ~= '' then
  local existing = redis.call('GET', KEYS[5])
  if existing then
    local sep = string.find(existing, ':', 1, true)
    return {'exists', string.sub(existing, sep + 1), string.sub(existing, 1, sep - 1)}
  end
end
redis.call('HSET', KEYS[1], unpack(ARGV, 8))
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[6], '*', 'data', ARGV[5])
redis.call('EXPIRE', KEYS[2], ARGV[4])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[7], '*', 'job_id', ARGV[1], 'data', ARGV[5])
redis.call('XADD', KEYS[4], '*', 'job_id', ARGV[1])
if ARGV[2] ~= '' then
  redis.call('SET', KEYS[5], ARGV[2] .. ':' .. ARGV[1], 'EX', ARGV[3])
end
return {'created', ARGV[1], ARGV[2]}
"""

TRANSITION = """
-- KEYS: 1 job hash, 2 job events, 3 global events
-- ARGV: 1 allowed current statuses (comma list, '*' = any), 2 event json ('' = none),
--       3 job events maxlen, 4 global events maxlen, 5 ttl ('' = keep), 6 job id,
--       7 n, the number of fence pairs that follow: 8 .. 7+2n field/value pairs the job
--       must hold (the worker and attempt that own it), then field/value pairs to set
-- Returns {1, previous status}, {0, current status} when the status is not allowed,
-- {-1, ''} when there is no such job, {-2, current status} when the fence does not hold.
local cur = redis.call('HGET', KEYS[1], 'status')
if not cur then return {-1, ''} end
local ok = (ARGV[1] == '*')
if not ok then
  for s in string.gmatch(ARGV[1], '[^,]+') do
    if s == cur then ok = true end
  end
end
if not ok then return {0, cur} end
local first = 8 + 2 * tonumber(ARGV[7])
for i = 8, first - 1, 2 do
  if redis.call('HGET', KEYS[1], ARGV[i]) ~= ARGV[i + 1] then return {-2, cur} end
end
if #ARGV > first then redis.call('HSET', KEYS[1], unpack(ARGV, first)) end
if ARGV[2] ~= '' then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'data', ARGV[2])
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[4], '*', 'job_id', ARGV[6], 'data', ARGV[2])
end
if ARGV[5] ~= '' then
  redis.call('EXPIRE', KEYS[1], ARGV[5])
  redis.call('EXPIRE', KEYS[2], ARGV[5])
end
return {1, cur}
"""

PROMOTE_DUE = """
-- KEYS: 1 delayed zset, 2 queue stream; ARGV: 1 now, 2 limit
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, id in ipairs(due) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('XADD', KEYS[2], '*', 'job_id', id)
end
return #due
"""

LEASE_ACQUIRE = """
-- KEYS: 1 lease key; ARGV: 1 owner, 2 ttl ms
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

LEASE_RENEW = """
-- KEYS: 1 lease key; ARGV: 1 owner, 2 ttl ms
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

LEASE_RELEASE = """
-- KEYS: 1 lease key; ARGV: 1 owner
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""
