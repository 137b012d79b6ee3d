-- The event-stream side of the nginx data plane: lines cut as the Python
-- gateway cuts them (gateway/proxy/server.py, SseScanner) and the
-- conservative fast path of the credential check (a line passes unchanged
-- only when it certainly holds nothing the redaction would change; any doubt
-- sends it to the hook, where the Python scanner decides).
--
-- The gateway's tests hold these rules to the Python path's by running the
-- same cases through both planes (tests/gateway/planes.py).

local byte, sub, find, lower = string.byte, string.sub, string.find, string.lower
local gsub = string.gsub

local M = {}

-- Splitter ------------------------------------------------------------------

local Splitter = {}
Splitter.__index = Splitter

-- max_line: a line longer than this is skipped to its end (and the stream's
-- usage marked unreadable); plain: no redaction, where the Python scanner
-- ends lines at \n only (it changes nothing it passes).
function M.splitter(max_line, plain)
  if not max_line or max_line <= 0 then
    max_line = 1048576
  end
  return setmetatable({ max_line = max_line, plain = plain, cr = false, buf = "", skipping = false,
                        unreadable = false }, Splitter)
end

function Splitter:bound()
  if #self.buf > self.max_line then
    self.buf = ""
    self.skipping = true
    self.unreadable = true
  end
end

-- feed scans one chunk and calls line(text) for every line it completes, in
-- order, without its line end; line returns false to stop (the rest of the
-- chunk's lines are then not scanned).
function Splitter:feed(chunk, line)
  if chunk == "" then
    return -- (the Python side never feeds an empty chunk: it would forget cr)
  end
  if not self.plain then
    if self.cr and byte(chunk, 1) == 10 then
      chunk = sub(chunk, 2)
    end
    self.cr = byte(chunk, -1) == 13
    if find(chunk, "\r", 1, true) then
      chunk = gsub(chunk, "\r\n?", "\n")
    end
  end
  self:lines(chunk, line)
end

-- lines splits a chunk whose line ends are \n.
function Splitter:lines(chunk, line)
  local nl = find(chunk, "\n", 1, true)
  if not nl then -- no line ends in this chunk
    if not self.skipping then
      self.buf = self.buf .. chunk
      self:bound()
    end
    return
  end
  -- The last line end: what follows it is carried to the next chunk.
  local last, at = nl, nl
  while true do
    at = find(chunk, "\n", last + 1, true)
    if not at then
      break
    end
    last = at
  end
  local skipped = self.skipping
  local first
  if not skipped then
    first = self.buf .. sub(chunk, 1, nl - 1)
  end
  self.skipping = false
  self.buf = sub(chunk, last + 1)
  self:bound()
  if not skipped and not line(first) then
    return
  end
  local pos = nl + 1
  while pos <= last do
    at = find(chunk, "\n", pos, true)
    if not line(sub(chunk, pos, at - 1)) then
      return
    end
    pos = at + 1
  end
end

-- unfinished: the last line the stream did not end (nil when it is being skipped).
function Splitter:unfinished()
  if self.skipping then
    return nil
  end
  return self.buf
end

-- trim: the bytes Python's bytes.strip() removes, from both ends.
function M.trim(s, from)
  local a = find(s, "[^ \t\n\r\v\f]", from or 1)
  if not a then
    return ""
  end
  local b = find(s, "[ \t\n\r\v\f]*$", a)
  return sub(s, a, b - 1)
end

-- Fast path -----------------------------------------------------------------

local Fast = {}
Fast.__index = Fast

local function ascii(s)
  return not find(s, "[\128-\255]")
end

local function has_escape_byte(s)
  return find(s, "[\\%%&]") ~= nil
end

-- M.fast returns nil (no fast path: every line goes to the hook) unless every
-- form is non-empty printable ASCII without '"' or '\' (the forms then appear
-- in JSON text as they are).
function M.fast(spec)
  if not spec or type(spec.forms) ~= "table" or #spec.forms == 0 then
    return nil
  end
  local f = setmetatable({ forms = {}, shortest = tonumber(spec.shortest) or 0, longest = tonumber(spec.longest) or 0,
                           clean_env = nil }, Fast)
  local real_shortest, real_longest = nil, 0
  for _, s in ipairs(spec.forms) do
    if type(s) ~= "string" or s == "" or find(s, '[%z\1-\31\127-\255"\\]') then
      return nil
    end
    local low = lower(s)
    f.forms[#f.forms + 1] = low
    if not real_shortest or #low < real_shortest then
      real_shortest = #low
    end
    if #low > real_longest then
      real_longest = #low
    end
  end
  -- Python's numbers are the forms' lengths; trust the forms if they disagree
  -- (a larger shortest would let a form through unchecked).
  if f.shortest > real_shortest or f.shortest <= 0 then
    f.shortest = real_shortest
  end
  if f.longest < real_longest then
    f.longest = real_longest
  end
  return f
end

-- clean: s has no '\', '%', '&' and its ASCII lowercase holds no form.
function Fast:clean(s)
  if has_escape_byte(s) then
    return false
  end
  if #s < self.shortest then
    return true
  end
  local low = lower(s) -- (LuaJIT's lower is ASCII-only, as the rule needs)
  for _, form in ipairs(self.forms) do
    if find(low, form, 1, true) then
      return false
    end
  end
  return true
end

-- text_fast: a line that is not an event may pass as it is.
function M.text_fast(f, line)
  return f ~= nil and ascii(line) and f:clean(line)
end

-- holds: the end of v (ASCII) could begin a form: some non-empty suffix of
-- lower(v), shorter than the form, is a prefix of the form.
function Fast:holds(v)
  local low = lower(sub(v, -self.longest))
  local m = #low
  for _, form in ipairs(self.forms) do
    local from = m - #form + 2
    if from < 1 then
      from = 1
    end
    for a = from, m do
      local suffix = sub(low, a)
      if sub(form, 1, #suffix) == suffix then
        return true
      end
    end
  end
  return false
end

-- The joined values, as the Python scanner finds them (PCRE, compiled once
-- per worker: "o", and JIT-compiled: "j"). PCRE's alternation takes the
-- first key that matches at a position, as Go's and Python's do.
local JOINED = [["(?:content|refusal|reasoning_content|reasoning|arguments)"[ \t\n\r]*:[ \t\n\r]*"([^"]*)"]]
local re_find = ngx.re.find

-- event_fast: an event's JSON payload may pass as it came, unparsed.
function M.event_fast(f, payload)
  if f == nil or has_escape_byte(payload) then
    return false
  end
  local parts, pos = nil, 1
  local ctx = { pos = 1 }
  while true do
    local vs, ve, err = re_find(payload, JOINED, "jo", ctx, 1) -- the value: [vs, ve]
    if not vs then
      if err then
        return false -- (in doubt: the hook decides)
      end
      break
    end
    if ve >= vs then
      local v = sub(payload, vs, ve)
      if not ascii(v) then
        return false
      end
      if #v >= f.shortest and not f:clean(v) then
        return false
      end
      if f:holds(v) then
        return false
      end
      parts = parts or {}
      parts[#parts + 1] = sub(payload, pos, vs - 1)
      parts[#parts + 1] = "\0" -- no form holds a NUL: none can span the cut
      pos = ve + 1
    end
  end
  local env = payload
  if parts then
    parts[#parts + 1] = sub(payload, pos)
    env = table.concat(parts)
  end
  if env ~= f.clean_env then
    if not f:clean(env) then
      return false
    end
    f.clean_env = env
  end
  return true
end

-- passes: whether a line that is neither blank nor the [DONE] event may go
-- to the caller as it came: "event" for a data event the fast path proved
-- harmless, "text" for any other line it did; nil when the hook must decide.
-- ``payload``: the data event's payload, trimmed (worked out if not given).
function M.passes(f, line, payload)
  if payload == nil and sub(line, 1, 5) == "data:" then
    payload = M.trim(line, 6)
  end
  if payload == nil or byte(payload, 1) ~= 123 then -- not a JSON event: a line of text
    return M.text_fast(f, line) and "text" or nil
  end
  if not find(payload, '"usage"', 1, true) and M.event_fast(f, payload) then
    return "event"
  end
  return nil
end

return M
