-- The nginx data plane's side of the hook (gateway/proxy/hook.py): every
-- rule stays in Python, asked over a unix socket per hook process.
--
-- Framing, both ways: a big-endian u32 length of the rest, a u32 request id,
-- one ASCII letter for the kind, a u32 length of a JSON header, the JSON
-- header and the body bytes. One call holds one connection from its
-- admission to its settlement (Python keeps a call's state per connection;
-- a connection that drops leaves its open calls settled as failed), and
-- asks one thing at a time on it; the connection then goes back to the
-- worker's pool for the next call.

local cjson = require "cjson.safe"
local bit = require "bit"

local band, rshift = bit.band, bit.rshift
local char, byte, sub = string.char, string.byte, string.sub

local M = {}

-- How long one request waits for its reply: a hung Python process must not
-- hold a call (and its caller) for ever.
local HOOK_WAIT_MS = 120000
-- How long a call waits for the first hook's settings (nginx may start
-- before the hook processes).
local SETTINGS_WAIT = 10
-- Idle hook connections each worker keeps per hook socket.
local POOL_SIZE = 256

local hooks = {}   -- the hook sockets' paths (M.setup)
local next_hook = 0
M.settings = nil   -- the first hook's answer to 'H', per worker
local ids = 0

function M.setup(paths)
  hooks = paths
end

local function u32(n)
  return char(band(rshift(n, 24), 255), band(rshift(n, 16), 255), band(rshift(n, 8), 255), band(n, 255))
end

local function read_u32(s, i)
  local a, b, c, d = byte(s, i, i + 3)
  return ((a * 256 + b) * 256 + c) * 256 + d
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
  return table.concat(out)
end

-- latin1: s's bytes as the code points of a JSON string (Python's ASGI
-- servers read header bytes as latin-1, and the hook encodes them back).
function M.latin1(s)
  return (string.gsub(s, "[\128-\255]", function(c)
    local b = byte(c)
    return char(0xC0 + rshift(b, 6), 0x80 + band(b, 63))
  end))
end

local Link = {}
Link.__index = Link

-- request sends one frame and reads its reply: kind, header (a table), body;
-- nil and an error when the hook could not answer (a reply 'X', a dropped
-- connection, no reply in time). A failed link is closed and stays dead.
function Link:request(kind, header, body)
  if self.dead then
    return nil, "hook connection lost"
  end
  body = body or ""
  local meta = type(header) == "string" and header or cjson.encode(header)
  ids = ids + 1
  if ids >= 4294967295 then
    ids = 1
  end
  local id = ids -- (other calls take ids while this one waits)
  local sock = self.sock
  local ok, err = sock:send({ u32(9 + #meta + #body), u32(id), kind, u32(#meta), meta, body })
  if not ok then
    return self:fail(err)
  end
  local size
  size, err = sock:receive(4)
  if not size then
    return self:fail(err)
  end
  local rest
  rest, err = sock:receive(read_u32(size, 1))
  if not rest then
    return self:fail(err)
  end
  if read_u32(rest, 1) ~= id then
    return self:fail("reply to another request")
  end
  local rkind = sub(rest, 5, 5)
  local mlen = read_u32(rest, 6)
  local rheader = cjson.decode(sub(rest, 10, 9 + mlen))
  if type(rheader) ~= "table" then
    return self:fail("unreadable reply header")
  end
  if rkind == "X" then
    ngx.log(ngx.ERR, "hook refused frame ", kind, ": ", tostring(rheader.error))
    return nil, "refused"
  end
  return rkind, rheader, sub(rest, 10 + mlen)
end

function Link:fail(err)
  self.dead = true
  self.sock:close()
  ngx.log(ngx.ERR, "hook: ", tostring(err))
  return nil, err
end

-- release: the call is over; the connection goes back to the pool.
function Link:release()
  if not self.dead then
    self.sock:setkeepalive(60000, POOL_SIZE)
    self.dead = true
  end
end

-- close: the call is being abandoned (its open state in Python is settled
-- as failed when the connection drops).
function Link:close()
  if not self.dead then
    self.sock:close()
    self.dead = true
  end
end

local function connect(path)
  local sock = ngx.socket.tcp()
  sock:settimeouts(5000, HOOK_WAIT_MS, HOOK_WAIT_MS)
  local ok, err = sock:connect("unix:" .. path)
  if not ok then
    return nil, err
  end
  local link = setmetatable({ sock = sock, path = path }, Link)
  if not M.settings then
    local kind, settings = link:request("H", "{}")
    if kind ~= "h" then
      link:close()
      return nil, "no settings"
    end
    M.settings = settings
  end
  return link
end

-- link: a connection to the next hook (round-robin) that answers, with the
-- settings read; nil when none does (waiting a while for the first answer,
-- as the hooks may start after nginx).
function M.link()
  local deadline = ngx.now() + (M.settings and 0 or SETTINGS_WAIT)
  while true do
    local err
    for _ = 1, #hooks do
      next_hook = next_hook % #hooks + 1
      local link
      link, err = connect(hooks[next_hook])
      if link then
        return link
      end
    end
    if ngx.now() >= deadline then
      ngx.log(ngx.ERR, "no hook answers (the last: ", hooks[next_hook], ": ", tostring(err), ")")
      return nil
    end
    ngx.sleep(0.05)
  end
end

return M
