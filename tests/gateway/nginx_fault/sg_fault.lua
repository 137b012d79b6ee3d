-- A fault for tests/gateway/test_nginx_plane.py: the plane's Lua failing
-- mid-call, as a bug would, where the caller's X-Lua-Fault header says:
--   before-upstream: as the upstream request is about to be made;
--   mid-stream: on the second line of a stream's answer.
-- Loaded only by that test's nginx (never by the product's configuration).

local sse = require "sg_sse"
local upstream = require "sg_upstream"

local open, passes = upstream.open, sse.passes

upstream.open = function(...)
  if ngx.var.http_x_lua_fault == "before-upstream" then
    error("injected fault: before the upstream request")
  end
  return open(...)
end

sse.passes = function(...)
  if ngx.var.http_x_lua_fault == "mid-stream" then
    local seen = (ngx.ctx.fault_lines or 0) + 1
    ngx.ctx.fault_lines = seen
    if seen == 2 then
      error("injected fault: mid-stream")
    end
  end
  return passes(...)
end
