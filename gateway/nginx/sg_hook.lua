-- The nginx data plane's side of the hook (gateway/proxy/hook.py): every
-- rule stays in Python, asked over a unix socket per hook process.
--
-- Framing, both ways: a big-endian u32 length of the rest, a u32 request id,
-- one ASCII letter for the kind, a u32 length of a JSON header, the JSON
-- header and the body bytes.
--
-- Each nginx worker keeps one connection to each hook process, as the relay
-- does, and multiplexes its calls' messages over it: a timer of the worker's
-- own holds the connection (a writer thread sends what calls queued, many
-- frames in one write; the reader hands each reply to the call waiting for
-- its id), so a hook reads and answers many calls per turn of its event loop
-- instead of one per connection. A call keeps to the connection that
-- admitted it (Python keeps a call's state per connection, and settles what
-- a dropped connection left open as failed); when that connection drops, the
-- call's next message fails, and a new connection serves the next calls.

local cjson = require "cjson.safe"
local bit = require "bit"
local semaphore = require "ngx.semaphore"

local band, rshift = bit.band, bit.rshift
local char, byte, sub = string.char, string.byte, string.sub
local concat = table.concat

local M = {}

-- How long one request waits for its reply: a hung Python process must not
-- hold a call (and its caller) for ever.
local HOOK_WAIT = 120
-- How long a call waits for a first hook connection (nginx may start before
-- the hook processes).
local SETTINGS_WAIT = 10
-- How often an idle connection's reader looks up (to see the worker exiting).
local IDLE_READ_MS = 1000

M.settings = nil -- the first hook's answer to 'H', per worker
local conns = {} -- per hook socket: its connection's state (M.start)
local next_conn = 0
local ids = 0

local function u32(n)
  return char(band(rshift(n, 24), 255), band(rshift(n, 16), 255), band(rshift(n, 8), 255), band(n, 255))
end

local function read_u32(s, i)
  local a, b, c, d = byte(s, i, i + 3)
  return ((a * 256 + b) * 256 + c) * 256 + d
end

-- frame: one message, as the hook reads it.
local function frame(id, kind, meta, body)
  return u32(9 + #meta + #body) .. u32(id) .. kind .. u32(#meta) .. meta .. body
end

-- parse: a reply's kind, header (a table, or nil when unreadable) and body,
-- from what follows its length.
local function parse(rest)
  local mlen = read_u32(rest, 6)
  return sub(rest, 5, 5), cjson.decode(sub(rest, 10, 9 + mlen)), sub(rest, 10 + mlen)
end

local function next_id()
  ids = ids + 1
  if ids >= 4294967295 then
    ids = 1
  end
  return ids
end

-- text: s as valid UTF-8 for a JSON header, each byte that is not part of a
-- valid sequence replaced by U+FFFD (as Go's encoder does: Python reads the
-- header as text, and a caller's or an upstream's header may hold anything).
local REPLACEMENT = "\239\191\189"
function M.text(s)
  if not string.find(s, "[\128-\255]") then
    return s
  end
  local out, i, n = {}, 1, #s
  while i <= n do
    local c = byte(s, i)
    local len, lo, hi = 0, 0x80, 0xBF
    if c < 0x80 then
      len = 1
    elseif c >= 0xC2 and c <= 0xDF then
      len = 2
    elseif c >= 0xE0 and c <= 0xEF then
      len = 3
      if c == 0xE0 then lo = 0xA0 elseif c == 0xED then hi = 0x9F end
    elseif c >= 0xF0 and c <= 0xF4 then
      len = 4
      if c == 0xF0 then lo = 0x90 elseif c == 0xF4 then hi = 0x8F end
    end
    local ok = len > 0
    for k = 1, len - 1 do
      local cc = byte(s, i + k)
      if not cc or cc < (k == 1 and lo or 0x80) or cc > (k == 1 and hi or 0xBF) then
        ok = false
        break
      end
    end
    if ok then
      out[#out + 1] = sub(s, i, i + len - 1)
      i = i + len
    else
      out[#out + 1] = REPLACEMENT
      i = i + 1
    end
  end
  return concat(out)
end

-- latin1: s's bytes as the code points of a JSON string (Python's ASGI
-- servers read header bytes as latin-1, and the hook encodes them back).
function M.latin1(s)
  return (string.gsub(s, "[\128-\255]", function(c)
    local b = byte(c)
    return char(0xC0 + rshift(b, 6), 0x80 + band(b, 63))
  end))
end

-- The connection ------------------------------------------------------------

-- read_exact: n bytes, waiting through idle timeouts (keeping what arrived),
-- or nil when the connection failed or the worker is exiting with nothing left.
local function read_exact(c, sock, n)
  local parts, got = {}, 0
  while got < n do
    local data, err, partial = sock:receive(n - got)
    data = data or partial
    if data and data ~= "" then
      parts[#parts + 1] = data
      got = got + #data
    end
    if err then
      if err ~= "timeout" then
        return nil, err
      end
      if got == 0 and ngx.worker.exiting() and c.open == 0 then
        return nil, "exiting"
      end
    end
  end
  return concat(parts)
end

local function fail_pending(c, why)
  c.alive = false
  for id, waiter in pairs(c.pending) do
    waiter.failed = why
    waiter.sema:post(1)
    c.pending[id] = nil
  end
  c.queue = {}
end

local function writer(c, sock, gen)
  while c.gen == gen and c.alive do
    if #c.queue == 0 then
      c.wake:wait(1)
    end
    if c.gen ~= gen or not c.alive then
      return
    end
    if #c.queue > 0 then
      local out = c.queue
      c.queue = {}
      local ok, err = sock:send(out)
      if not ok then
        ngx.log(ngx.ERR, "hook ", c.path, ": ", tostring(err))
        fail_pending(c, err)
        sock:close()
        return
      end
    end
  end
end

-- ended: a session is over, however it ended (a Lua error in it included):
-- its calls' waits fail at once, its writer stops, its socket closes.
local function ended(c, why)
  c.ready = false
  fail_pending(c, why)
  c.wake:post(1)
  if c.writer then
    ngx.thread.wait(c.writer)
    c.writer = nil
  end
  if c.sock then
    c.sock:close()
    c.sock = nil
  end
end

-- session: connect, greet ('H'), then read replies until the connection drops.
local function session(c)
  local sock = ngx.socket.tcp()
  sock:settimeouts(5000, HOOK_WAIT * 1000, IDLE_READ_MS)
  local ok, err = sock:connect("unix:" .. c.path)
  if not ok then
    return nil, err
  end
  c.sock = sock
  c.gen = c.gen + 1
  local gen = c.gen
  c.queue, c.pending, c.alive = {}, {}, true
  c.writer = ngx.thread.spawn(writer, c, sock, gen)
  -- The greeting goes first, through the same queue and reader as the calls.
  local hello = next_id()
  local waiter = { sema = semaphore.new() }
  c.pending[hello] = waiter
  c.queue[#c.queue + 1] = frame(hello, "H", "{}", "")
  c.wake:post(1)
  while true do
    local size
    size, err = read_exact(c, sock, 4)
    if not size then
      break
    end
    local rest
    rest, err = read_exact(c, sock, read_u32(size, 1))
    if not rest then
      break
    end
    local id = read_u32(rest, 1)
    local w = c.pending[id]
    if w then
      c.pending[id] = nil
      w.reply = rest
      if id == hello then
        local kind, settings = parse(rest)
        if kind ~= "h" or type(settings) ~= "table" then
          err = "no settings"
          break
        end
        M.settings = M.settings or settings
        c.ready = true
      else
        w.sema:post(1)
      end
    end
  end
  ended(c, err or "closed")
  return err ~= "exiting", err
end

local function run(premature, c)
  if premature then
    return
  end
  local backoff = 0.05
  while not ngx.worker.exiting() do
    -- In a pcall: a reply this module cannot read (a bug on either side)
    -- must not end the timer that holds the connection, which would leave
    -- the worker's calls waiting on it for HOOK_WAIT; it drops the
    -- connection instead (Python then settles what it held open) and a new
    -- one is made.
    local ok, was_up, err = pcall(session, c)
    if not ok then
      ngx.log(ngx.ERR, "hook ", c.path, ": ", tostring(was_up))
      ended(c, "error")
      was_up, err = true, "error"
    end
    if was_up then
      ngx.log(ngx.WARN, "hook ", c.path, ": connection lost (", tostring(err), "); reconnecting")
      backoff = 0.05
    end
    if ngx.worker.exiting() then
      return
    end
    ngx.sleep(backoff)
    backoff = math.min(backoff * 2, 2)
  end
end

-- start: the worker's connections (init_worker_by_lua), one per hook socket.
function M.start(paths)
  for i, path in ipairs(paths) do
    local c = { path = path, gen = 0, alive = false, ready = false, queue = {}, pending = {},
                wake = semaphore.new(), open = 0 }
    conns[i] = c
    local ok, err = ngx.timer.at(0, run, c)
    if not ok then
      ngx.log(ngx.ERR, "hook ", path, ": cannot start its connection: ", err)
    end
  end
end

-- Calls ---------------------------------------------------------------------

local Link = {}
Link.__index = Link

-- request sends one frame and waits for its reply: kind, header (a table),
-- body; nil and an error when the hook could not answer (a reply 'X', the
-- call's connection gone, no reply in time).
function Link:request(kind, header, body)
  local c = self.c
  if self.dead or c.gen ~= self.gen or not c.ready then
    self.dead = true
    return nil, "hook connection lost"
  end
  body = body or ""
  local meta = type(header) == "string" and header or cjson.encode(header)
  local id = next_id()
  local waiter = { sema = semaphore.new() }
  c.pending[id] = waiter
  c.queue[#c.queue + 1] = frame(id, kind, meta, body)
  c.wake:post(1)
  local ok, err = waiter.sema:wait(HOOK_WAIT)
  if not ok then
    c.pending[id] = nil
    ngx.log(ngx.ERR, "hook gave no reply to frame ", kind, ": ", tostring(err))
    return nil, err
  end
  if waiter.failed then
    self.dead = true
    return nil, waiter.failed
  end
  local rkind, rheader, rbody = parse(waiter.reply)
  if type(rheader) ~= "table" then
    return nil, "unreadable reply header"
  end
  if rkind == "X" then
    ngx.log(ngx.ERR, "hook refused frame ", kind, ": ", tostring(rheader.error))
    return nil, "refused"
  end
  return rkind, rheader, rbody
end

-- release: the call is over (or abandoned: what it left open in Python
-- stays there until the shared connection drops).
function Link:release()
  if not self.released then
    self.released = true
    self.c.open = self.c.open - 1
  end
end


function Link:alive()
  return not self.dead and self.c.gen == self.gen and self.c.ready
end

-- link: the next hook connection that is up (round-robin), for one call; nil
-- when none is (waiting a while for the first, as the hooks may start after
-- nginx).
function M.link()
  local deadline = ngx.now() + (M.settings and 0 or SETTINGS_WAIT)
  while true do
    for _ = 1, #conns do
      next_conn = next_conn % #conns + 1
      local c = conns[next_conn]
      if c.ready then
        c.open = c.open + 1
        return setmetatable({ c = c, gen = c.gen }, Link)
      end
    end
    if ngx.now() >= deadline then
      ngx.log(ngx.ERR, "no hook connection is up")
      return nil
    end
    ngx.sleep(0.05)
  end
end

return M
