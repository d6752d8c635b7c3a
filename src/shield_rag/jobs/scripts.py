"""Lua scripts that keep job state, events and the queue consistent.

Each script runs atomically in Redis, so a job's state never changes without its event,
and a job is never enqueued without its record.
"""

from __future__ import annotations

TRANSITION = """
-- KEYS: 1 job hash, 2 job events, 3 global events; when the change ends the job (a final
--       status), also 4 unfinished jobs, 5 the job's client's unfinished jobs, 6 the
--       finished-jobs counter: the job leaves both sets, and the counter counts it, once.
--       With exactly 4 keys, KEYS[4] is a stage's stream the job is queued on in the same
--       change (the hand-off from the vector phase to the graph stage).
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
if #KEYS == 4 then
  redis.call('XADD', KEYS[4], '*', 'job_id', ARGV[6])
end
if #KEYS >= 6 then
  local client = redis.call('HGET', KEYS[1], 'client') or ''
  redis.call('ZREM', KEYS[5], ARGV[6])
  if redis.call('ZREM', KEYS[4], ARGV[6] .. ' ' .. client) == 1 then
    redis.call('INCR', KEYS[6])
  end
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

# The token bucket and the unfinished-job counts are Lua functions, so that a read takes its
# token with one script, a write takes its token and reads its counts with another, and a job
# can be created with its token in a third, each in one round trip and one atomic step.
_BUCKET_FN = """
-- A token bucket shared by every orchestrator replica; Redis' clock is the only clock.
-- key: the bucket (hash: tokens, ts in ms); rate: tokens per second; burst; cost.
-- Returns 1, 0 when the request may pass, 0, ms until enough tokens when it may not.
-- The bucket lives in this Redis' memory only: the script that calls this turns replication
-- off around it (redis.set_repl(redis.REPL_NONE)), so its writes go neither to the
-- append-only file nor to replicas (with appendfsync always, an fsync on every request, reads
-- included). A Redis restart or fail-over loses nothing but buckets, which then start full,
-- as they do after burst/rate seconds without requests anyway.
local function take_token(key, rate, burst, cost)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local b = redis.call('HMGET', key, 'tokens', 'ts')
  local tokens = tonumber(b[1])
  local ts = tonumber(b[2])
  if tokens == nil or ts == nil then
    tokens = burst
    ts = now
  end
  if now > ts then
    tokens = math.min(burst, tokens + (now - ts) * rate / 1000)
    ts = now
  end
  local allowed = 0
  local wait = 0
  if tokens >= cost then
    tokens = tokens - cost
    allowed = 1
  else
    wait = math.ceil((cost - tokens) * 1000 / rate)
  end
  redis.call('HSET', key, 'tokens', tostring(tokens), 'ts', tostring(ts))
  redis.call('PEXPIRE', key, math.ceil(burst * 1000 / rate) + 1000)
  return allowed, wait
end
"""

_COUNTS_FN = """
-- Read only: what admission needs to judge a new job before its body is read.
-- mine_key: the client's unfinished jobs; all_key: unfinished jobs; idem_key: the
-- idempotency key ('' = none); cap: the client cap.
-- Returns the client's unfinished, all unfinished, 1 if the key is stored (a replay) else 0,
-- and the unfinished jobs ahead of the client's oldest when it is at its cap, else -1.
local function count_unfinished(mine_key, all_key, idem_key, client, cap)
  local mine = redis.call('ZCARD', mine_key)
  local everyone = redis.call('ZCARD', all_key)
  local replay = 0
  if idem_key ~= '' then replay = redis.call('EXISTS', idem_key) end
  local ahead = -1
  if mine >= cap then
    local oldest = redis.call('ZRANGE', mine_key, 0, 0)
    if oldest[1] then
      ahead = redis.call('ZRANK', all_key, oldest[1] .. ' ' .. client) or -1
    end
  end
  return mine, everyone, replay, ahead
end
"""

RATE_BUCKET = (
    _BUCKET_FN
    + """
-- KEYS: 1 the bucket; ARGV: 1 tokens per second, 2 burst, 3 cost
-- Returns {1, 0} when the request may pass, {0, ms until enough tokens} when it may not.
redis.set_repl(redis.REPL_NONE)
local allowed, wait = take_token(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]))
return {allowed, wait}
"""
)

COUNT_UNFINISHED = (
    _COUNTS_FN
    + """
-- KEYS: 1 the client's unfinished jobs, 2 unfinished jobs, 3 the idempotency key ('' = none)
-- ARGV: 1 client, 2 client cap
-- Returns {client's unfinished, all unfinished, replay (1/0), jobs ahead or -1}.
return {count_unfinished(KEYS[1], KEYS[2], KEYS[3], ARGV[1], tonumber(ARGV[2]))}
"""
)

TOKEN_AND_COUNTS = (
    _BUCKET_FN
    + _COUNTS_FN
    + """
-- What a write asks before its body is read: a token from the client's bucket and, when it
-- got one, the counts that admission judges the new job by; one atomic step.
-- KEYS: 1 the bucket, 2 the client's unfinished jobs, 3 unfinished jobs,
--       4 the idempotency key ('' = none)
-- ARGV: 1 tokens per second, 2 burst, 3 cost, 4 client, 5 client cap
-- Returns {1, 0, client's unfinished, all unfinished, replay (1/0), jobs ahead or -1}, or
-- {0, ms until enough tokens} when the bucket refuses (nothing is counted then).
-- Nothing this script writes is replicated or appended: the bucket is memory-only state and
-- the counts are reads.
redis.set_repl(redis.REPL_NONE)
local allowed, wait = take_token(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]))
if allowed == 0 then return {0, wait} end
return {1, 0, count_unfinished(KEYS[2], KEYS[3], KEYS[4], ARGV[4], tonumber(ARGV[5]))}
"""
)

CREATE_JOB = (
    _BUCKET_FN
    + """
-- KEYS: 1 job hash, 2 job events, 3 global events, 4 queue stream, 5 idempotency key,
--       6 unfinished jobs (zset of '<id> <client>'), 7 the client's unfinished jobs (zset of
--       ids), 8 the client's rate-limit bucket
-- ARGV: 1 the call as one JSON object of strings (one argument rather than one per value:
--       the client packs each argument separately, which was most of the call's client cost):
--       id (the job id), hash (body hash, '' = no key), idem_ttl (idempotency ttl), ttl (job
--       ttl), event (event json), job_maxlen and global_maxlen (events maxlen), client,
--       now (creation time, the zsets' score), client_cap and global_cap (0 = no cap),
--       rate (tokens per second; 0 = take no token: admission took it before), burst,
--       refuse ('1' when the memory guard refuses new work), and fields (the job's fields,
--       an object of strings)
-- The checks, in this order: a token from the client's bucket (a replay takes one too, as
-- every request does), the Idempotency-Key (a replay is answered, never refused by what
-- follows), the memory guard, the caps. Nothing but the bucket changes unless the job is made.
-- Returns {'created', id, hash}, {'exists', id, hash} (a replay), {'limited', ms until a
-- token}, {'refused', 'storage'}, or {'refused', 'client'|'global', unfinished count, jobs
-- ahead of the client's oldest}.
local call = cjson.decode(ARGV[1])
local rate = tonumber(call.rate)
if rate > 0 then
  -- The bucket is memory-only state (see take_token): only the job's writes are replicated.
  redis.set_repl(redis.REPL_NONE)
  local allowed, wait = take_token(KEYS[8], rate, tonumber(call.burst), 1)
  redis.set_repl(redis.REPL_ALL)
  if allowed == 0 then return {'limited', tostring(wait)} end
end
if call.hash ~= '' then
  local existing = redis.call('GET', KEYS[5])
  if existing then
    local sep = string.find(existing, ':', 1, true)
    return {'exists', string.sub(existing, sep + 1), string.sub(existing, 1, sep - 1)}
  end
end
if call.refuse == '1' then return {'refused', 'storage'} end
local client_cap = tonumber(call.client_cap)
if client_cap > 0 then
  local n = redis.call('ZCARD', KEYS[7])
  if n >= client_cap then
    local ahead = -1
    local oldest = redis.call('ZRANGE', KEYS[7], 0, 0)
    if oldest[1] then
      ahead = redis.call('ZRANK', KEYS[6], oldest[1] .. ' ' .. call.client) or -1
    end
    return {'refused', 'client', tostring(n), tostring(ahead)}
  end
end
local global_cap = tonumber(call.global_cap)
if global_cap > 0 then
  local n = redis.call('ZCARD', KEYS[6])
  if n >= global_cap then return {'refused', 'global', tostring(n), '-1'} end
end
local flat = {}
for name, value in pairs(call.fields) do
  flat[#flat + 1] = name
  flat[#flat + 1] = value
end
redis.call('HSET', KEYS[1], unpack(flat))
redis.call('EXPIRE', KEYS[1], call.ttl)
redis.call('XADD', KEYS[2], 'MAXLEN', '~', call.job_maxlen, '*', 'data', call.event)
redis.call('EXPIRE', KEYS[2], call.ttl)
redis.call(
  'XADD', KEYS[3], 'MAXLEN', '~', call.global_maxlen, '*', 'job_id', call.id, 'data', call.event
)
redis.call('XADD', KEYS[4], '*', 'job_id', call.id)
redis.call('ZADD', KEYS[6], call.now, call.id .. ' ' .. call.client)
redis.call('ZADD', KEYS[7], call.now, call.id)
if call.hash ~= '' then
  redis.call('SET', KEYS[5], call.hash .. ':' .. call.id, 'EX', call.idem_ttl)
end
return {'created', call.id, call.hash}
"""
)

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
