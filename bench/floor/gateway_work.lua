-- A benchmark floor, not part of the product: the per-call work of the
-- gateway's data plane done inside nginx by LuaJIT (Debian's nginx-extras:
-- the Lua module, lua-nginx-redis, lua-nginx-string), to measure whether a
-- data plane built on nginx would meet issue 17's goal before one is built.
-- bench/gateway runs it with --data-plane nginx-lua.
--
-- Per call, as the Python data plane does it (gateway/proxy/server.py):
--   access:      parse the request's JSON, check its model, work out its
--                reservation, re-encode it with the endpoint's model, and
--                run the gateway's own admission script
--                (gateway.proxy.limits.ADMIT, passed in by the bench) in one
--                Redis round trip, carrying the settlements of earlier calls;
--   body filter: look for every form of the credential in each piece of the
--                answer and hash what the caller gets (SHA-256);
--   log:         build the access-log entry (the fields of
--                gateway.proxy.entry.AccessEntry) and queue its settlement
--                for the next admission, or a timer's flush 5 ms later.
-- It keeps no per-grant cache fresh, redacts nothing (the forms never occur)
-- and reads usage from no event. With BENCH_FLOOR_REDIS=off it does all of
-- the above but the Redis round trips, which splits its cost in two; with
-- BENCH_FLOOR_REDIS=lease a worker takes admission in blocks of 32 calls
-- (one run of the same script admits the block) and settles in blocks of
-- 32 or every 50 ms: the leased admission docs/architecture.md proposes.

local cjson = require "cjson.safe"
local redis = require "nginx.redis"
local sha256 = require "nginx.sha256"
local str = require "nginx.string"

local M = {}
local find, re_find = string.find, ngx.re.find

local conf          -- set by M.setup
local pending = {}  -- settlements waiting to ride on the next admission (per worker)
local flush_due = false
local MAX_CARRY = 32
local LEASE_CALLS = 32
local lease = { calls = 0, tokens = 0 }  -- BENCH_FLOOR_REDIS=lease: what this worker may still admit itself

function M.setup(c)
  conf = c
end

local function connect()
  local r = redis:new()
  r:set_timeout(1000)  -- connect, send and read (this client has no set_timeouts)
  local ok, err = r:connect(conf.redis_host, conf.redis_port)
  if not ok then
    return nil, err
  end
  if r:get_reused_times() == 0 then
    r:select(conf.redis_db)
  end
  return r
end

-- Each carried settlement as the scripts take it: its quota key in KEYS,
-- and the tokens used, the tokens reserved and the entry in ARGV.
local function carry(keys, args, carried)
  for _, s in ipairs(carried) do
    keys[#keys + 1] = conf.quota_key
    args[#args + 1] = s[1]
    args[#args + 1] = s[2]
    args[#args + 1] = s[3]
  end
end

-- Run a script by its SHA-1 (worked out once per script), sending its text
-- only when Redis lacks it.
local shas = {}
local function run(r, script, keys, args)
  local sha = shas[script]
  if not sha then
    sha = str.to_hex(ngx.sha1_bin(script))
    shas[script] = sha
  end
  local n = #keys
  local all = {}
  for i = 1, n do all[i] = keys[i] end
  for i = 1, #args do all[n + i] = args[i] end
  local res, err = r:evalsha(sha, n, unpack(all))
  if not res and err and err:find("NOSCRIPT", 1, true) then
    res, err = r:eval(script, n, unpack(all))
  end
  return res, err
end

-- The admission script with ``carried`` settlements before it (KEYS and ARGV
-- laid out as gateway.proxy.limits.Limits.admit lays them out).
local function admit(r, reserve, carried, requests_per_minute)
  local keys = { conf.rate_key, conf.quota_key, conf.stream_key, conf.epoch_key, conf.incarnation_key }
  local args = { requests_per_minute, conf.tokens_per_day, conf.backlog_max, reserve }
  carry(keys, args, carried)
  return run(r, conf.admit_script, keys, args)
end

local function take()
  local carried = {}
  local k = math.min(#pending, MAX_CARRY)
  for i = 1, k do carried[i] = pending[i] end
  local rest = {}
  for i = k + 1, #pending do rest[#rest + 1] = pending[i] end
  pending = rest
  return carried
end

local function flush(premature)  -- premature: nginx is stopping; settle what is left all the same
  flush_due = false
  if #pending == 0 then return end
  local r = connect()
  if not r then return end
  while #pending > 0 do
    local keys, args = { conf.stream_key }, {}
    carry(keys, args, take())
    local _, err = run(r, conf.settle_script, keys, args)
    if err then
      ngx.log(ngx.ERR, "settlement: ", err)
      return
    end
  end
  local ok, err = r:set_keepalive(10000, 256)
  if not ok then ngx.log(ngx.ERR, "keepalive: ", err) end
end

function M.access()
  local ctx = ngx.ctx
  ctx.started = ngx.now()
  ngx.req.read_body()
  local raw = ngx.req.get_body_data() or ""
  local body = cjson.decode(raw)
  if type(body) ~= "table" or type(body.model) ~= "string" then
    return ngx.exit(400)
  end
  local max_tokens = tonumber(body.max_tokens) or 256
  local n = tonumber(body.n) or 1
  local reserve = #raw + max_tokens * n
  ctx.reserve = reserve
  ctx.stream = body.stream == true
  ctx.model = body.model
  local request_hash = sha256:new()
  request_hash:update(raw)
  ctx.request_sha256 = str.to_hex(request_hash:final())
  body.model = conf.endpoint_model
  ngx.req.set_body_data(cjson.encode(body))
  ngx.req.set_header("Authorization", "Bearer " .. conf.credential)
  ctx.hash = sha256:new()
  if conf.redis == "off" then
    return  -- BENCH_FLOOR_REDIS=off: the same work without Redis, to split the cost
  end
  if conf.redis == "lease" and lease.calls > 0 and lease.tokens >= reserve then
    lease.calls, lease.tokens = lease.calls - 1, lease.tokens - reserve
    return
  end

  local r, err = connect()
  if not r then
    ngx.log(ngx.ERR, "redis: ", err)
    return ngx.exit(503)
  end
  local res
  if conf.redis == "lease" then
    -- A block of LEASE_CALLS calls from the same script: the rate's interval
    -- times the block (its requests per minute over the block) and the
    -- block's reservation; what is left of the last block lapses.
    local block = reserve * LEASE_CALLS
    res, err = admit(r, block, take(), conf.requests_per_minute / LEASE_CALLS)
    if res and res[1] == 1 then
      lease.calls, lease.tokens = LEASE_CALLS - 1, block - reserve
    end
  else
    res, err = admit(r, reserve, take(), conf.requests_per_minute)
  end
  if not res then
    ngx.log(ngx.ERR, "admission: ", err)
    return ngx.exit(503)
  end
  r:set_keepalive(10000, 256)
  if res[1] ~= 1 then
    ctx.hash = nil
    return ngx.exit(429)
  end
end

function M.body_filter()
  local ctx = ngx.ctx
  local chunk = ngx.arg[1]
  if chunk ~= "" then
    -- Every form at once, in any case: one pass of a compiled, cached pattern.
    if re_find(chunk, conf.forms_pattern, "ijo") then
      ngx.arg[1] = ""  -- never here: the bench's upstream never echoes it
      return
    end
    local events, at = ctx.events or 0, 1
    while true do
      local i = find(chunk, "data:", at, true)
      if not i then break end
      events, at = events + 1, i + 5
    end
    ctx.events = events
    if ctx.hash then ctx.hash:update(chunk) end
  end
end

function M.log()
  local ctx = ngx.ctx
  if not ctx.hash then return end
  local status = ngx.status
  local used = ctx.events or 0
  local entry = cjson.encode({
    call_id = ngx.var.request_id,
    token = conf.token_id, kind = "auditor", holder = conf.holder, organisation = conf.organisation,
    lab = conf.lab, system_version = conf.system_version, started_at = ngx.http_time(ctx.started),
    method = ngx.req.get_method(), path = ngx.var.uri, upstream_model = conf.endpoint_model,
    stream = ctx.stream, status = status, error_code = "", latency_ms = (ngx.now() - ctx.started) * 1000,
    prompt_tokens = 0, completion_tokens = used, total_tokens = used, usage_clamped = false,
    request_sha256 = ctx.request_sha256, response_sha256 = str.to_hex(ctx.hash:final()),
    stage = 1, attestation = "",
  })
  if conf.redis == "off" then
    return
  end
  pending[#pending + 1] = { used, ctx.reserve, entry }
  if conf.redis == "lease" then
    -- Settlements go in blocks too: when MAX_CARRY are waiting, or 50 ms on.
    if #pending >= MAX_CARRY then
      ngx.timer.at(0, flush)
    elseif not flush_due then
      flush_due = true
      ngx.timer.at(0.05, flush)
    end
  elseif not flush_due then
    flush_due = true
    ngx.timer.at(0.005, flush)
  end
end

return M
