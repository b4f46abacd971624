package redisbus

import "github.com/redis/go-redis/v9"

// The scripts run atomically in Redis; every key they touch shares the
// fleet's hash tag, so they work on a Cluster too. They read Redis's own
// clock (TIME), so nodes on machines whose clocks disagree still agree on
// who is live. Redis 7 replicates scripts by their effects, which TIME
// needs.

// epochLua creates the log's epoch when it is missing: Redis's time in
// microseconds and a random suffix. A Redis that lost its data (a restart
// without persistence) starts a new, later epoch, which readers notice.
const epochLua = `
local epoch = redis.call('HGET', KEYS[2], 'epoch')
if not epoch then
  local t = redis.call('TIME')
  epoch = t[1] .. string.format('%06d', tonumber(t[2])) .. '-' .. ARGV[2]
  redis.call('HSET', KEYS[2], 'epoch', epoch)
end
`

// appendScript appends a purge: KEYS stream, meta; ARGV maxlen, random,
// then field/value pairs. It returns {epoch, id}.
var appendScript = redis.NewScript(epochLua + `
local seq = redis.call('HINCRBY', KEYS[2], 'seq', 1)
local args = {'XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'e', epoch, 's', tostring(seq)}
for i = 3, #ARGV do args[#args + 1] = ARGV[i] end
local id = redis.call(unpack(args))
return {epoch, id}
`)

// syncScript reads where the log stands: KEYS stream, meta; ARGV unused,
// random.
// It returns {epoch, seq, last entry ID or "0-0"}.
var syncScript = redis.NewScript(epochLua + `
local seq = redis.call('HGET', KEYS[2], 'seq') or '0'
local last = '0-0'
local e = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
if #e > 0 then last = e[1][1] end
return {epoch, seq, last}
`)

// recordScript records what a node applied and tells publishers: KEYS
// applied; ARGV node, "epoch id", channel.
var recordScript = redis.NewScript(`
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PUBLISH', ARGV[3], ARGV[1] .. ' ' .. ARGV[2])
return 1
`)

// nowLua is Redis's time in milliseconds.
const nowLua = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`

// listLua lists the live nodes after now - ARGV[ttlArg] ms: KEYS[1]
// members, KEYS[2] addrs, KEYS[metaKey] meta. It returns {now ms, log
// epoch or "", id, last seen ms, addr, ...}: the epoch tells a reader
// whether the member set is the one it saw before (Redis kept its data).
func listLua(ttlArg, metaKey string) string {
	return `
local m = redis.call('ZRANGEBYSCORE', KEYS[1], string.format('%d', now - tonumber(ARGV[` + ttlArg + `])), '+inf', 'WITHSCORES')
local out = {now, redis.call('HGET', KEYS[` + metaKey + `], 'epoch') or ''}
for i = 1, #m, 2 do
  out[#out + 1] = m[i]
  out[#out + 1] = m[i + 1]
  out[#out + 1] = redis.call('HGET', KEYS[2], m[i]) or ''
end
return out
`
}

// heartbeatScript announces a node and forgets the expired: KEYS
// members, addrs, applied, meta; ARGV node, addr, ttl ms. It returns the
// live list as liveScript does.
var heartbeatScript = redis.NewScript(nowLua + `
redis.call('ZADD', KEYS[1], string.format('%d', now), ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
local old = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', string.format('(%d', now - tonumber(ARGV[3])))
for _, n in ipairs(old) do
  redis.call('ZREM', KEYS[1], n)
  redis.call('HDEL', KEYS[2], n)
  redis.call('HDEL', KEYS[3], n)
end
` + listLua("3", "4"))

// leaveScript removes a node: KEYS members, addrs, applied; ARGV node.
var leaveScript = redis.NewScript(`
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
return 1
`)

// liveScript lists the live nodes: KEYS members, addrs, meta; ARGV ttl
// ms. See listLua.
var liveScript = redis.NewScript(nowLua + listLua("1", "3"))
