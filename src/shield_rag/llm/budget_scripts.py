"""The budget ledger's Lua scripts (:mod:`shield_rag.llm.budgets` runs them).

Each script runs atomically in Redis, so no other replica's call can come between reading a
client's figures and changing them. What each one guarantees:

- ``RESERVE`` drops the client's holds whose time ran out, then admits the call iff, for every
  limit given, the period's spend plus the holds still running is below the limit; an admitted
  call gets a hold of max(least tokens, the client's largest settled call of this model) tokens,
  priced at the model's dearer per-token price (or the largest settled cost, when larger).
  Refused, it adds nothing and answers which limit, the spend and the holds.
- ``SETTLE`` removes the hold and adds the call's counts to the month's and the day's hash
  (totals and per model) once per reservation id: an id already settled or released adds
  nothing. Without an id (``record``) it always adds, and leaves the largest-call figures alone.
- ``RELEASE`` removes the hold and marks the id done, so a later settle adds nothing.

KEYS and ARGV of each are listed above it. Times are the ledger's clock (milliseconds), never
Redis's: lifetimes are given relative (PEXPIRE), so an injected clock works. Integers travel
as decimal strings and HINCRBY adds them exactly (64-bit); the holds' sums are Lua numbers,
exact below 2**53.
"""

from __future__ import annotations

__all__ = ["RELEASE", "RESERVE", "SETTLE"]

# KEYS: 1 the period's hash, 2 the client's calls hash, 3 the period's clients set.
# ARGV: 1 now (ms), 2 reservation id, 3 model, 4 least tokens held, 5 dearer token price
#       (nano-units), 6 hold ends (ms), 7 max tokens ('' none), 8 max cost (micro-units, ''
#       none), 9 client, 10 calls hash lifetime (ms), 11 the period's keys lifetime (ms).
# Answers {1, tokens held, cost held} or {0, 'tokens'|'cost', spent, held}.
RESERVE = """
local now = tonumber(ARGV[1])
local held_tokens, held_cost = 0, 0
local calls = redis.call('HGETALL', KEYS[2])
for i = 1, #calls, 2 do
  if string.sub(calls[i], 1, 4) == 'res:' then
    local t, c, e = string.match(calls[i + 1], '^(%d+) (%d+) (%d+)$')
    if e == nil or tonumber(e) <= now then
      redis.call('HDEL', KEYS[2], calls[i])
    else
      held_tokens = held_tokens + tonumber(t)
      held_cost = held_cost + tonumber(c)
    end
  end
end
local spent_tokens = tonumber(redis.call('HGET', KEYS[1], 'tokens') or '0')
local spent_cost = tonumber(redis.call('HGET', KEYS[1], 'cost') or '0')
if ARGV[7] ~= '' and spent_tokens + held_tokens >= tonumber(ARGV[7]) then
  return {0, 'tokens', spent_tokens, held_tokens}
end
if ARGV[8] ~= '' and spent_cost + held_cost >= tonumber(ARGV[8]) then
  return {0, 'cost', spent_cost, held_cost}
end
local model = ARGV[3]
local tokens = math.max(tonumber(ARGV[4]),
  tonumber(redis.call('HGET', KEYS[2], 'peak_tokens:' .. model) or '0'))
local cost = math.max(math.ceil(tokens * tonumber(ARGV[5]) / 1000),
  tonumber(redis.call('HGET', KEYS[2], 'peak_cost:' .. model) or '0'))
redis.call('HSET', KEYS[2], 'res:' .. ARGV[2], string.format('%d %d %d', tokens, cost, ARGV[6]))
redis.call('PEXPIRE', KEYS[2], ARGV[10])
redis.call('SADD', KEYS[3], ARGV[9])
redis.call('PEXPIRE', KEYS[3], ARGV[11])
return {1, tokens, cost}
"""

# KEYS: 1 the client's calls hash, 2 its settled ids, 3 the month's hash, 4 the day's hash,
#       5 the month's clients set, 6 the day's clients set.
# ARGV: 1 now (ms), 2 reservation id ('' for record), 3 model, 4 prompt tokens, 5 completion
#       tokens, 6 their sum, 7 cost (micro-units), 8 compute (ms), 9 the month's keys lifetime
#       (ms), 10 the day's keys lifetime (ms), 11 client, 12 settled ids kept (ms), 13 calls
#       hash lifetime (ms).
# Answers 1 when counted, 0 when the id was settled or released before.
SETTLE = """
local id = ARGV[2]
if id ~= '' then
  if redis.call('ZSCORE', KEYS[2], id) then return 0 end
  local now = tonumber(ARGV[1])
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - tonumber(ARGV[12]))
  redis.call('ZADD', KEYS[2], now, id)
  redis.call('PEXPIRE', KEYS[2], ARGV[12])
  redis.call('HDEL', KEYS[1], 'res:' .. id)
end
local model = ARGV[3]
local names = {'tokens_in', 'tokens_out', 'tokens', 'cost', 'compute_ms', 'calls'}
local values = {ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8], 1}
for k = 3, 4 do
  for i, name in ipairs(names) do
    redis.call('HINCRBY', KEYS[k], name, values[i])
    redis.call('HINCRBY', KEYS[k], name .. ':' .. model, values[i])
  end
  redis.call('PEXPIRE', KEYS[k], ARGV[k + 6])
  redis.call('SADD', KEYS[k + 2], ARGV[11])
  redis.call('PEXPIRE', KEYS[k + 2], ARGV[k + 6])
end
if id ~= '' then
  local peaks = {{'peak_tokens:' .. model, ARGV[6]}, {'peak_cost:' .. model, ARGV[7]}}
  for _, peak in ipairs(peaks) do
    if tonumber(peak[2]) > tonumber(redis.call('HGET', KEYS[1], peak[1]) or '0') then
      redis.call('HSET', KEYS[1], peak[1], peak[2])
    end
  end
  redis.call('PEXPIRE', KEYS[1], ARGV[13])
end
return 1
"""

# KEYS: 1 the client's calls hash, 2 its settled ids.
# ARGV: 1 now (ms), 2 reservation id, 3 settled ids kept (ms).
# Answers 1 when the hold was still there, else 0.
RELEASE = """
if redis.call('ZSCORE', KEYS[2], ARGV[2]) then return 0 end
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - tonumber(ARGV[3]))
redis.call('ZADD', KEYS[2], now, ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return redis.call('HDEL', KEYS[1], 'res:' .. ARGV[2])
"""
