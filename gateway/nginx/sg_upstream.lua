-- The nginx data plane's one upstream client, for http and https alike:
-- HTTP/1.1 over a cosocket from a per-worker pool (one pool per endpoint),
-- the public-address rule asked of the hook for each new connection ('D'),
-- TLS verified against the gateway's CA bundle, and every read bounded by
-- the call's read timeout (counted per read, as on the Python path) in
-- short slices, so that a caller going away lets go of the upstream at once.

local find, sub, lower, match = string.find, string.sub, string.lower, string.match
local concat = table.concat
local min = math.min

local M = {}

local SLICE = 0.25       -- seconds: how often a silent upstream read looks at the caller
local MAX_HEAD = 1048576 -- bytes of status line and headers
local IDLE_MS = 4000     -- an idle upstream connection's life in the pool (uvicorn closes its own after 5 s)
local FOREVER = 86400    -- seconds: a timeout of 0 in the settings means none

-- Per worker: which address the hook approved for each endpoint, and how many
-- of its connections this worker put back in the pool (a hint: a connection
-- the pool dropped meanwhile shows as a new one, which is then checked).
local approved, pooled = {}, {}

local function parse_url(url)
  local scheme, rest = match(url, "^(https?)://(.+)$")
  if not scheme then
    return nil
  end
  local authority, path = match(rest, "^([^/?#]*)(.*)$")
  if path == "" then
    path = "/"
  end
  path = match(path, "^[^#]*")
  local host, port = match(authority, "^%[(.+)%]:?(%d*)$")
  if not host then
    host, port = match(authority, "^([^:]+):?(%d*)$")
  end
  if not host then
    return nil
  end
  local default = scheme == "https" and 443 or 80
  return { scheme = scheme, host = host, port = tonumber(port) or default, path = path, authority = authority }
end

local function ms(seconds)
  if not seconds or seconds <= 0 then
    seconds = FOREVER
  end
  return math.floor(seconds * 1000 + 0.5)
end

local Conn = {}
Conn.__index = Conn

-- fill reads more into the buffer; nil and "timeout" / "gone" / an error.
-- The wait is the read timeout in slices, each one looking at the caller.
function Conn:fill()
  if self.no_wait then
    return nil, "would wait"
  end
  local waited = 0
  local sock = self.sock
  while true do
    local data, err = sock:receiveany(65536)
    if data then
      self.buf = self.buf .. data
      return true
    end
    if err ~= "timeout" then
      return nil, err
    end
    if self.ctx.gone then
      return nil, "gone"
    end
    waited = waited + SLICE
    if waited >= self.read_timeout then
      return nil, "timeout"
    end
  end
end

function Conn:line()
  while true do
    local at = find(self.buf, "\n", self.pos, true)
    if at then
      local line = sub(self.buf, self.pos, at - 1)
      self.pos = at + 1
      if sub(line, -1) == "\r" then
        line = sub(line, 1, -2)
      end
      return line
    end
    if #self.buf - self.pos > MAX_HEAD then
      return nil, "head too large"
    end
    self:compact()
    local ok, err = self:fill()
    if not ok then
      return nil, err
    end
  end
end

function Conn:compact()
  if self.pos > 1 then
    self.buf = sub(self.buf, self.pos)
    self.pos = 1
  end
end

-- take: up to n buffered bytes (reading more when none are buffered).
function Conn:take(n)
  if self.pos > #self.buf then
    self.buf, self.pos = "", 1
    local ok, err = self:fill()
    if not ok then
      return nil, err
    end
  end
  local piece = sub(self.buf, self.pos, self.pos + n - 1)
  self.pos = self.pos + #piece
  return piece
end

-- counted: the next piece of what is left of a counted run (a body's
-- length, or a chunk's).
function Conn:counted()
  local piece, err = self:take(min(self.left, 65536))
  if not piece then
    return nil, err
  end
  self.left = self.left - #piece
  return piece
end

-- read: the next piece of the body; nil, nil at its end; nil, err on failure.
function Conn:read()
  if self.finished then
    return nil
  end
  local mode = self.mode
  if mode == "length" then
    if self.left == 0 then
      self.finished = true
      return nil
    end
    return self:counted()
  elseif mode == "chunked" then
    while self.left == 0 do
      if self.chunks > 0 then -- the CRLF after the previous chunk's data
        local _, err = self:line()
        if err then
          return nil, err
        end
      end
      local size_line, err = self:line()
      if not size_line then
        return nil, err
      end
      local size = tonumber(match(size_line, "^%s*(%x+)"), 16)
      if not size then
        return nil, "bad chunk size"
      end
      self.chunks = self.chunks + 1
      if size == 0 then
        repeat -- trailers, to the empty line
          local trailer, terr = self:line()
          if not trailer then
            return nil, terr
          end
        until trailer == ""
        self.finished = true
        return nil
      end
      self.left = size
    end
    return self:counted()
  end
  -- to the connection's close
  local piece, err = self:take(65536)
  if not piece then
    if err == "closed" then
      self.finished = true
      return nil
    end
    return nil, err
  end
  return piece
end

-- done: the call is over; a connection whose answer was read to its end goes
-- back to the pool.
function Conn:done()
  if self.sock == nil then
    return
  end
  if self.finished and self.reusable and self.pos > #self.buf then
    if self.sock:setkeepalive(IDLE_MS, self.pool_size) then
      pooled[self.key] = (pooled[self.key] or 0) + 1
    end
  else
    self.sock:close()
  end
  self.sock = nil
end

-- A head read, in the relay's terms: "timeout" (the pool, the connect or the
-- head took too long), "address_refused" or "unreachable".
local function head_kind(err)
  if err == "timeout" or (type(err) == "string" and find(err, "timeout", 1, true)) then
    return "timeout"
  end
  return "unreachable"
end

-- address: where the endpoint may be reached (the hook's answer to 'D',
-- which also resolves a name where private upstreams are allowed: nginx has
-- no resolver configured).
local function address(link, u, s)
  if s.allow_private and (match(u.host, "^%d+%.%d+%.%d+%.%d+$") or find(u.host, ":", 1, true)) then
    return u.host -- an address already, and any address is allowed
  end
  local kind, reply = link:request("D", { host = u.host, port = u.port })
  if kind ~= "d" then
    return nil, "unreachable"
  end
  if reply.refused then
    return nil, "address_refused"
  end
  if type(reply.address) ~= "string" or reply.address == "" then
    return nil, "unreachable"
  end
  return reply.address
end

-- socket: a new cosocket with the call's timeouts (the wait for a pooled
-- connection and the connect together; each write; each read in slices).
local function socket(cs)
  local sock = ngx.socket.tcp()
  sock:settimeouts(ms(cs.connect_timeout + (cs.pool_timeout or 0)), ms(cs.write_timeout), ms(SLICE))
  return sock
end

-- connect: a connection to the endpoint, from the pool or new (the new one's
-- address approved by the hook).
local function connect(link, u, s, cs)
  local key = u.scheme .. "://" .. u.authority .. ":" .. u.port
  local opts = { pool = key }
  local max = tonumber(s.max_connections) or 0
  if max > 0 then
    opts.pool_size, opts.backlog = max, 1048576
  end
  local sock = socket(cs)
  local reused = false
  if (pooled[key] or 0) > 0 and approved[key] then
    local ok = sock:connect(approved[key], u.port, opts)
    if ok and sock:getreusedtimes() > 0 then
      pooled[key] = pooled[key] - 1
      reused = true
    else
      pooled[key] = 0 -- the pool has none left: what was connected is new, and unchecked
      sock:close()
      sock = socket(cs)
    end
  end
  if not reused then
    local ip, kind = address(link, u, s)
    if not ip then
      return nil, kind
    end
    approved[key] = ip
    local ok, err = sock:connect(ip, u.port, opts)
    if not ok then
      return nil, head_kind(err)
    end
    if u.scheme == "https" and sock:getreusedtimes() == 0 then
      local sni = (not match(u.host, "^[%d.]+$") and not find(u.host, ":", 1, true)) and u.host or nil
      -- In a pcall: lua-resty-core 0.1.25 (Debian 12) asserts, rather than
      -- returning the error, when a handshake that completed at once then
      -- fails its verification; either way the handshake failed.
      local ok, session, herr = pcall(sock.sslhandshake, sock, nil, sni or u.host, true)
      if not ok then
        session, herr = nil, session
      end
      if not session then
        sock:close()
        return nil, head_kind(herr)
      end
    end
  end
  return sock, nil, key, opts.pool_size
end

-- open makes the upstream request of a plan and reads its head: a Conn with
-- status, headers (lower-cased names, first values) and read(); or nil and
-- the kind of failure. ctx.gone says the caller went away.
function M.open(link, plan, payload, s, ctx)
  local cs = plan.settings or s
  local u = parse_url(plan.url or "")
  if not u then
    return nil, "unreachable"
  end
  local sock, kind, key, pool_size = connect(link, u, s, cs)
  if not sock then
    return nil, kind
  end
  local host = u.authority
  local lines = {}
  for _, kv in ipairs(plan.headers or {}) do
    local name = lower(kv[1])
    if name == "host" then
      host = kv[2]
    elseif name ~= "content-length" and name ~= "transfer-encoding" and name ~= "connection" then
      lines[#lines + 1] = kv[1] .. ": " .. kv[2] .. "\r\n"
    end
  end
  local request = "POST " .. u.path .. " HTTP/1.1\r\nHost: " .. host .. "\r\n" .. concat(lines)
    .. "Content-Length: " .. #payload .. "\r\n\r\n"
  local ok, err = sock:send({ request, payload })
  if not ok then
    sock:close()
    return nil, head_kind(err)
  end
  local conn = setmetatable({ sock = sock, buf = "", pos = 1, ctx = ctx, key = key, pool_size = pool_size,
                              read_timeout = (cs.read_timeout and cs.read_timeout > 0)
                                and cs.read_timeout or FOREVER, chunks = 0, left = 0 }, Conn)
  local status, version
  repeat
    local line, lerr = conn:line()
    if not line then
      sock:close()
      if lerr == "gone" then
        return nil, "gone"
      end
      return nil, head_kind(lerr)
    end
    version, status = match(line, "^HTTP/(%d%.%d) (%d%d%d)")
    if not status then
      sock:close()
      return nil, "unreachable"
    end
    status = tonumber(status)
    local headers, size = {}, #line
    local connection_close = version == "1.0"
    while true do
      local h, herr = conn:line()
      if not h then
        sock:close()
        return nil, herr == "gone" and "gone" or head_kind(herr)
      end
      if h == "" then
        break
      end
      size = size + #h
      if size > MAX_HEAD then
        sock:close()
        return nil, "unreachable"
      end
      local name, value = match(h, "^([^:%s]+)%s*:%s*(.-)%s*$")
      if name then
        name = lower(name)
        if headers[name] == nil then
          headers[name] = value
        end
      end
    end
    conn.headers = headers
    if headers.connection and find(lower(headers.connection), "close", 1, true) then
      connection_close = true
    end
    conn.reusable = not connection_close
  until status >= 200 or status == 101
  conn.status = status
  local te = conn.headers["transfer-encoding"]
  if te and find(lower(te), "chunked", 1, true) then
    conn.mode = "chunked"
  elseif conn.headers["content-length"] and match(conn.headers["content-length"], "^%d+$") then
    conn.mode, conn.left = "length", tonumber(conn.headers["content-length"])
  elseif status == 204 or status == 304 then
    conn.mode, conn.left = "length", 0
  else
    conn.mode, conn.reusable = "close", false
  end
  return conn
end

return M
