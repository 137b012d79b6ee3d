-- The nginx data plane (python -m config.serve --data-plane nginx): nginx's
-- C carries every byte, this module carries one chat-completion call through
-- its stages, and every rule stays in Python, asked over the hook
-- (gateway/proxy/hook.py, served by one hook process per worker):
--   'A' admission: Python answers the reply to give ('R') or the upstream
--       request to make ('P', its plan);
--   'D' each new upstream connection's address (sg_upstream.lua);
--   'F' a whole answer (or a failure before one), judged, scrubbed and
--       settled by Python, which gives the reply;
--   'L' stream lines the fast path (sg_sse.lua) cannot prove harmless;
--   'C' a long stream's grant rechecked;
--   'Z' a stream's settlement: its outcome, event count and digest (and
--       the settlement of a call this module itself failed: M.chat's guard).
-- Everything but POST /gateway/v1/chat/completions goes to the Python workers
-- unchanged (the @python location of the generated nginx.conf).

local cjson = require "cjson.safe"
local sha256 = require "nginx.sha256"
local str = require "nginx.string"
local hook = require "sg_hook"
local sse = require "sg_sse"
local upstream = require "sg_upstream"

local find, sub, byte = string.find, string.sub, string.byte
local null = cjson.null

local M = {}

local CHAT = "/gateway/v1/chat/completions"
local UNAVAILABLE = '{"error": {"message": "The gateway cannot check this call; try again.", "type": '
  .. '"api_error", "param": null, "code": "gateway_unavailable"}}'
local DONE_EVENT = "data: [DONE]\n\n"
local EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

local conf -- M.setup's (in the master, before the workers fork)

function M.setup(c)
  conf = c
end

-- start: the worker's hook connections (init_worker_by_lua).
function M.start()
  hook.start(conf.hooks)
end

local function now()
  ngx.update_time()
  return ngx.now()
end

local function unavailable()
  ngx.status = 503
  ngx.header["Content-Type"] = "application/json"
  ngx.header["Retry-After"] = "1"
  ngx.header["Content-Length"] = #UNAVAILABLE
  ngx.print(UNAVAILABLE)
  return ngx.exit(ngx.HTTP_OK)
end

local function tbl(v)
  return type(v) == "table" and v or nil
end

-- write_reply writes a reply 'R' to the caller exactly: its status, every
-- header it gives, its body; false when it is not one.
local function write_reply(kind, header, body)
  local status = tonumber(header and header.status)
  if kind ~= "R" or not status or status < 100 or status > 999 then
    return false
  end
  ngx.status = status
  local values, typed = {}, false
  for _, kv in ipairs(tbl(header.headers) or {}) do
    local name = kv[1]
    local seen = values[name]
    if seen then
      seen[#seen + 1] = kv[2]
    else
      values[name] = { kv[2] }
    end
    if string.lower(name) == "content-type" then
      typed = true
    end
  end
  for name, v in pairs(values) do
    ngx.header[name] = #v == 1 and v[1] or v
  end
  if not typed then
    ngx.header["Content-Type"] = nil -- no default type: the headers are Python's
  end
  ngx.print(body)
  return true
end

local function reply_or_unavailable(kind, header, body)
  if not write_reply(kind, header, body) then
    return unavailable()
  end
  return ngx.exit(ngx.HTTP_OK)
end

-- The request's path, exactly as the caller sent it (no normalising).
local function raw_path()
  local uri = ngx.var.request_uri
  local q = find(uri, "?", 1, true)
  return q and sub(uri, 1, q - 1) or uri
end

local Call = {}
Call.__index = Call

function Call:send(kind, header, body)
  return self.link:request(kind, header, body)
end

-- client_gone: the caller left before any response to it started.
function Call:client_gone()
  self.settled = true
  self:send("F", { call = self.id, error = "client_gone", status = 0 })
  self.link:release()
  return ngx.exit(499)
end

-- finish_whole sends 'F' and writes Python's 'R' to the caller.
function Call:finish_whole(status, kind, upstream_headers, data)
  local headers = {}
  for _, name in ipairs({ "retry-after", "stagegate-attestation" }) do
    local v = upstream_headers and upstream_headers[name]
    if v then
      headers[name] = hook.text(v)
    end
  end
  self.settled = true
  local rkind, reply, body = self:send("F", { call = self.id, status = status, error = kind or null,
                                              headers = headers }, data)
  self.link:release()
  if self.ctx.gone then
    return ngx.exit(499)
  end
  return reply_or_unavailable(rkind, reply, body)
end

-- whole reads a whole upstream answer and lets Python settle it.
function Call:whole(conn)
  local limit = tonumber(self.s.max_response_bytes) or 0
  local parts, total, kind = {}, 0, nil
  while true do
    local piece, err = conn:read()
    if piece then
      total = total + #piece
      if total > limit then
        kind = "too_large"
        break
      end
      parts[#parts + 1] = piece
    elseif err then
      kind = err == "gone" and "gone" or (err == "timeout" and "read_timeout" or "read_error")
      break
    else
      break
    end
  end
  if kind == "gone" or self.ctx.gone then
    conn.finished = false
    conn:done()
    return self:client_gone()
  end
  conn:done()
  return self:finish_whole(conn.status, kind, conn.headers, kind and "" or table.concat(parts))
end

-- Stream ---------------------------------------------------------------------

local Stream = {}
Stream.__index = Stream
local settle_later

local function new_stream(c, conn)
  local p = c.plan
  local st = setmetatable({
    c = c, p = p, conn = conn, hash = sha256:new(), boundary = true, events = 0,
    done = false, unreadable = false, buffered = false, py_used = false, read_partly = false,
    hook_failed = false, out = {}, final = false,
    split = sse.splitter(tonumber(c.s.max_line) or 0, not p.redact),
    fast = p.fast and tbl(p.fast) and sse.fast(p.fast) or nil,
  }, Stream)
  local attest = conn.headers["stagegate-attestation"]
  if attest then
    st.attest = hook.text(attest)
  end
  c.st = st -- for the guard
  return st
end

-- write sends bytes to the caller; false when the caller is gone.
function Stream:write(b, flush)
  if b ~= "" then
    self.hash:update(b)
    if not ngx.print(b) then
      return false
    end
  end
  if flush then
    ngx.flush(true)
  end
  return not self.c.ctx.gone
end

-- hook_line sends 'L' (lines, or the stream's end) and reads its 'O'.
function Stream:hook_line(body, count, at_end)
  local kind, reply, out = self.c:send("L", string.format(
    '{"call": %d, "events": %d, "boundary": %s, "count": %d, "end": %s, "failed": %s}',
    self.c.id, self.events, tostring(self.boundary), count, tostring(at_end), tostring(self.fail ~= nil)), body)
  if kind ~= "O" then
    return nil
  end
  return reply, out
end

-- python lets Python decide a line (or, at_end, the stream's end).
function Stream:python(line, count, at_end)
  local reply, body = self:hook_line(line or "", count, at_end)
  if not reply then
    self.hook_failed = true
    return false
  end
  self.events = tonumber(reply.events) or self.events
  self.boundary = reply.boundary == true
  self.done = reply.done == true
  self.buffered = reply.buffered == true
  self.unreadable = self.unreadable or reply.unreadable == true
  self.py_used = true
  if body ~= "" then
    self.out[#self.out + 1] = body
  end
  return not self.done
end

local function payload_of(line)
  return sse.trim(line, 6)
end

-- plain_line scans a line of a stream passed on as it came (no redaction):
-- it only counts events and lets Python read usage.
function Stream:plain_line(line)
  if sub(line, 1, 5) ~= "data:" then
    return true
  end
  local payload = payload_of(line)
  if payload == "[DONE]" then
    self.done = true
    return true
  end
  if byte(payload, 1) ~= 123 then -- '{'
    return true
  end
  if find(payload, '"usage"', 1, true) then
    local reply = self:hook_line(line, 1, false)
    if not reply then
      self.hook_failed = true
      return false
    end
    self.events = tonumber(reply.events) or self.events
    self.unreadable = self.unreadable or reply.unreadable == true
    return true
  end
  self.events = self.events + 1
  return true
end

-- pass: a line the fast path let through, as it came.
function Stream:pass(line)
  self.out[#self.out + 1] = line .. "\n"
  self.boundary = false
  return true
end

-- redact_line applies the line rule to one line, appending to out.
function Stream:redact_line(line)
  if self.done or self.hook_failed then
    return false
  end
  if self.buffered then
    return self:python(line, 1, false)
  end
  local payload
  if sub(line, 1, 5) ~= "data:" then
    if sse.trim(line) == "" then
      self.out[#self.out + 1] = "\n"
      self.boundary = true
      return true
    end
  else
    payload = payload_of(line)
    if payload == "[DONE]" then
      self.done = true
      self.out[#self.out + 1] = DONE_EVENT
      return false
    end
  end
  local passed = sse.passes(self.fast, line, payload)
  if passed == "event" then
    self.events = self.events + 1
  end
  if passed then
    return self:pass(line)
  end
  return self:python(line, 1, false)
end

-- recheck asks Python whether the call's grant still stands; ok false when
-- the hook failed.
function Stream:recheck()
  local kind, reply, body = self.c:send("C", { call = self.c.id })
  if kind ~= "c" then
    return false, false
  end
  if reply.withdrawn == true then
    self.fail = { status = tonumber(reply.status) or 403, code = tostring(reply.code), body = body }
    return true, true
  end
  return false, true
end

-- settle sends the call's 'Z' (once): a stream's end, or (st nil, or the
-- stream cut) a call this module failed; its outcome, events and digest.
function Call:settle(st, status, code, partly, latency)
  if self.settled then
    return
  end
  self.settled = true
  local headers = {}
  if st and st.attest then
    headers["stagegate-attestation"] = st.attest
  end
  self:send("Z", {
    call = self.id, status = status, error_code = code, events = st and st.events or 0, read_partly = partly,
    final_sent = st and st.final or false, unreadable = st and (st.unreadable or st.split.unreadable) or false,
    latency_ms = latency * 1000, response_sha256 = st and str.to_hex(st.hash:final()) or EMPTY_SHA256,
    headers = headers,
  })
  self.link:release()
end

function Stream:settle(status, code, partly, latency)
  return self.c:settle(self, status, code, partly, latency)
end

-- abort: the hook failed mid-stream: the stream just ends (cut, so the
-- caller sees it broken off rather than complete).
function Stream:abort()
  self.final = true
  self.conn.finished = false
  self.conn:done()
  if self.c.link:alive() then -- Python answered 'X' but keeps the call: settle it
    self:settle(503, "gateway_unavailable", true, now() - self.c.t0)
  else
    self.c.link:release()
  end
  return ngx.exit(ngx.ERROR)
end

-- settle_later: a stream's settlement, from a timer (also when the worker is
-- stopping: the hook connection stays up until every call has settled).
settle_later = function(_premature, st, status, code, partly, latency)
  local ok, err = xpcall(st.settle, debug.traceback, st, status, code, partly, latency)
  if not ok then
    ngx.log(ngx.ERR, "plane: a stream's settlement failed: ", err)
    st.c.link:release()
  end
end

function Stream:flush_out()
  local out = table.concat(self.out)
  self.out = {}
  return out
end

function Stream:run()
  local c = self.c
  local ctx = c.ctx
  ngx.status = 200
  ngx.header["Content-Type"] = "text/event-stream; charset=utf-8"
  ngx.header["Cache-Control"] = "no-cache"
  ngx.header["X-Accel-Buffering"] = "no"
  ngx.send_headers()
  local caller_gone = not self:write("", true)

  local every = tonumber(c.s.recheck_seconds) or 0
  local recheck_at = now() + every
  local held
  local stopped_early = false -- [DONE] passed before the upstream's end (redacting)
  local redact = self.p.redact == true
  local redact_line = function(line) return self:redact_line(line) end
  local plain_line = function(line) return self:plain_line(line) end
  while not caller_gone do
    local chunk, err = self.conn:read()
    if chunk and chunk ~= "" then
      if ngx.now() >= recheck_at then -- (as in Python, 0 rechecks every chunk)
        local withdrawn, ok = self:recheck()
        recheck_at = now() + every
        if not ok then
          return self:abort()
        end
        if withdrawn then
          self.read_partly = true
          break
        end
      end
      if redact then
        self.split:feed(chunk, redact_line)
        if self.hook_failed then
          return self:abort()
        end
        if self.done then
          held = self:flush_out()
          stopped_early = not self.conn.finished
          break
        end
        local out = self:flush_out()
        if out ~= "" and not self:write(out, true) then
          caller_gone = true
          break
        end
      else
        if not self:write(chunk, true) then
          if not self.final then
            caller_gone = true
          end
          break
        end
        self.split:feed(chunk, plain_line)
        if self.hook_failed then
          return self:abort()
        end
        if self.done then
          self.final = true
        end
      end
    elseif not chunk then
      if err == "gone" then
        if not self.final then
          caller_gone = true
        end
      elseif err == "timeout" then
        local f = c.s.stream_failures.timeout
        self.fail = { status = f.status, code = f.code, body = f.body }
      elseif err then
        local f = c.s.stream_failures.error
        self.fail = { status = f.status, code = f.code, body = f.body }
      end
      break
    end
  end
  if caller_gone or (ctx.gone and not self.final) then
    self.conn.finished = false
    self.conn:done()
    self:settle(499, "client_disconnected", true, now() - c.t0)
    return ngx.exit(499)
  end

  local tail = held or ""
  if redact and not self.done then
    local rest = self.split:unfinished()
    if rest and rest ~= "" and self.fail == nil then
      self:redact_line(rest)
    end
    if not self.done and self.py_used and self.buffered then
      self:python(nil, 0, true)
    end
    if self.hook_failed then
      return self:abort()
    end
    tail = tail .. self:flush_out()
  end
  local status, code = 200, ""
  if self.fail then
    status, code = self.fail.status, self.fail.code
    if not self.boundary and redact then
      tail = tail .. "\n"
    end
    tail = tail .. "data: " .. self.fail.body .. "\n\n"
  end
  self.final = true
  if self.fail then
    -- A failed stream is settled before the caller sees its error event, so
    -- that its record is there when the caller acts on the failure.
    self.hash:update(tail)
    self.conn.finished = false
    self.conn:done()
    self:settle(status, code, self.read_partly, now() - c.t0)
    ngx.print(tail)
    return ngx.eof()
  end
  self:write(tail, false) -- the body's last bytes: they go with its end
  ngx.eof()
  local latency = now() - c.t0
  -- What the upstream sent after its [DONE] (as a rule, only its end) is
  -- read if it is already here, so the connection can go back to the pool;
  -- else the connection is closed: nothing here waits for it.
  if stopped_early then
    self.conn.no_wait = true
    local drained, limit = 0, tonumber(c.s.max_response_bytes) or 0
    while drained <= limit do
      local piece = self.conn:read()
      if not piece then
        break
      end
      drained = drained + #piece
    end
  end
  self.conn:done()
  -- The settlement follows the response from a timer: nginx reads the
  -- caller's next request on this connection only once this one is over,
  -- so waiting here for the hook would hold the caller's next call back.
  -- (Synchronously when no timer can be had: a settlement is never dropped.)
  if not ngx.timer.at(0, settle_later, self, status, code, self.read_partly, latency) then
    self:settle(status, code, self.read_partly, latency)
  end
end

-- The call -------------------------------------------------------------------

local function admit(link, body, too_large)
  local admission = { method = "POST", path = CHAT, authorization = hook.latin1(ngx.var.http_authorization or "") }
  if too_large then
    admission.too_large = true
  end
  return link:request("A", admission, body)
end

-- guard: the answer when this module itself fails mid-call (a Lua error:
-- a bug, never a rule). The call is settled as Python settles an error
-- that escapes its own path (500 internal_error; a stream cut where it
-- was, its caller charged for what it read), its hook link and upstream
-- connection let go, and the caller gets a 500, or (a response under
-- way) a connection cut short: nothing stays open in Python, and a
-- stopping worker does not wait for it.
local function guard(state, err)
  ngx.log(ngx.ERR, "plane: the call failed in Lua: ", err)
  local c = state.c
  if c then
    local st = c.st
    pcall(function()
      if c.conn then
        c.conn.finished = false
        c.conn:done()
      end
    end)
    local ok, serr = pcall(c.settle, c, st, 500, "internal_error", ngx.headers_sent and st ~= nil, now() - c.t0)
    if not ok then
      ngx.log(ngx.ERR, "plane: the failed call could not be settled: ", serr)
    end
  end
  if state.link then
    state.link:release()
  end
  if ngx.headers_sent then
    return ngx.exit(ngx.ERROR)
  end
  local f = hook.settings and tbl(hook.settings.plane_failure)
  if not f then
    return unavailable()
  end
  ngx.status = tonumber(f.status) or 500
  ngx.header["Content-Type"] = "application/json"
  ngx.header["Content-Length"] = #f.body
  ngx.print(f.body)
  return ngx.exit(ngx.HTTP_OK)
end

local function guarded(fn)
  local state = {}
  local ok, err = xpcall(fn, debug.traceback, state)
  if not ok then
    return guard(state, err)
  end
end

-- too_large: nginx refused a body over the bound (error_page 413): Python's answer.
local function too_large(state)
  local link = hook.link()
  if not link then
    return unavailable()
  end
  state.link = link
  local kind, header, body = admit(link, "", true)
  link:release()
  return reply_or_unavailable(kind, header, body)
end

function M.too_large()
  return guarded(too_large)
end

local function chat(state)
  local t0 = now()
  local ctx = { gone = false }
  ngx.on_abort(function() ctx.gone = true end)
  ngx.req.read_body()
  local body = ngx.req.get_body_data() or ""
  local too_large = ngx.req.get_body_file() ~= nil
  local link = hook.link()
  if not link then
    return unavailable()
  end
  state.link = link
  local s = hook.settings
  if #body > (tonumber(s.max_request_bytes) or math.huge) then
    too_large = true
  end
  if too_large then
    body = ""
  end
  local kind, header, payload = admit(link, body, too_large)
  if kind == "R" then
    link:release()
    return reply_or_unavailable(kind, header, payload)
  end
  if kind ~= "P" then
    link:release()
    if kind then
      ngx.log(ngx.ERR, "hook: unexpected reply ", kind, " to 'A'")
    end
    return unavailable()
  end
  local c = setmetatable({ id = header.call, plan = header, link = link, ctx = ctx, t0 = t0 }, Call)
  state.c = c -- from here on Python holds the call open until it is settled
  c.s = setmetatable(tbl(header.settings) or {}, { __index = s }) -- the plan's own settings first
  header.settings = c.s
  if header.fast == null then
    header.fast = nil
  end
  local conn, failed = upstream.open(link, header, payload, s, ctx)
  if not conn then
    if failed == "gone" or ctx.gone then
      return c:client_gone()
    end
    return c:finish_whole(0, failed, nil, nil)
  end
  c.conn = conn
  if ctx.gone then
    conn:done()
    return c:client_gone()
  end
  if header.stream ~= true or conn.status ~= 200 then
    return c:whole(conn)
  end
  return new_stream(c, conn):run()
end

function M.chat()
  if ngx.req.get_method() ~= "POST" or raw_path() ~= CHAT then
    return ngx.exec("@python")
  end
  return guarded(chat)
end

return M
