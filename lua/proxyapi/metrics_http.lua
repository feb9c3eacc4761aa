--- A small `/metrics` server on LuaSocket: one request at a time, each
-- bounded in size and time, answered from the last poll's values.
--
-- Polling happens between requests, never inside one: `serve` polls once
-- before it listens, then, whenever the values are `min_interval` old
-- (counted from the start of the last poll), before it accepts the next
-- connection. The accept waits at most until the next poll is due (and at
-- most `tick` seconds, so `stop` is asked often), so polls happen on time
-- with or without scrapes, and a scrape never waits on the provider
-- (unless it arrives while a poll runs).
-- @module proxyapi.metrics_http

local socket = require "socket"
local metrics = require "proxyapi.metrics"

local type, pairs, ipairs, tostring, tonumber, pcall, error = type, pairs, ipairs, tostring, tonumber, pcall, error
local tointeger = math.tointeger
local format, find, match, sub, lower = string.format, string.find, string.match, string.sub, string.lower
local min, max = math.min, math.max

local metrics_http = {}

local MAX_HEAD = 8192 -- request line and headers
local MAX_DRAIN = 65536 -- bytes read and dropped before closing after an error

--- Splits `"host:port"` or `"[v6]:port"`.
-- @tparam string listen
-- @treturn string host
-- @treturn integer port (0 = any free port)
-- @treturn[2] nil
-- @treturn[2] string why
function metrics_http.parse_listen(listen)
  if type(listen) ~= "string" then
    return nil, "listen: host:port expected, got " .. type(listen)
  end
  local host, port = match(listen, "^%[([%x:%.]+)%]:(%d+)$")
  if not host then
    host, port = match(listen, "^([%w%.%-_%*]+):(%d+)$")
  end
  port = port and #port <= 5 and tointeger(tonumber(port))
  if not host or not port or port > 65535 then
    return nil, "listen " .. listen .. ": host:port expected (e.g. 127.0.0.1:9150 or [::1]:9150)"
  end
  return host, port
end

-- An IPv6 literal -> its eight 16-bit groups, or nil.
local function ipv6_groups(host)
  local head, tail = match(host, "^([%x:]*)::([%x:]*)$")
  local parts = {}
  local function split(s, into)
    if s == "" then
      return true
    end
    for group in (s .. ":"):gmatch("([^:]*):") do
      if not find(group, "^%x%x?%x?%x?$") then
        return false
      end
      into[#into + 1] = tonumber(group, 16)
    end
    return true
  end
  if head then
    local back = {}
    if not (split(head, parts) and split(tail, back)) or #parts + #back > 7 then
      return nil
    end
    while #parts + #back < 8 do
      parts[#parts + 1] = 0
    end
    for _, g in ipairs(back) do
      parts[#parts + 1] = g
    end
  elseif not split(host, parts) or #parts ~= 8 then
    return nil
  end
  return parts
end

--- Whether a host is a loopback address: 127.0.0.0/8, ::1 (in any
-- spelling), or `localhost` (taken as 127.0.0.1, not looked up).
-- @tparam string host
-- @treturn boolean
function metrics_http.is_loopback(host)
  host = lower(host)
  if host == "localhost" then
    return true
  end
  local groups = find(host, ":") and ipv6_groups(host)
  if groups then
    for i = 1, 7 do
      if groups[i] ~= 0 then
        return false
      end
    end
    return groups[8] == 1
  end
  local a, b, c, d = match(host, "^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
  if not a then
    return false
  end
  for _, octet in ipairs { a, b, c, d } do
    if #octet > 3 or tonumber(octet) > 255 then
      return false
    end
  end
  return tonumber(a) == 127
end

local REASONS = { [200] = "OK", [400] = "Bad Request", [404] = "Not Found", [405] = "Method Not Allowed",
                  [408] = "Request Timeout", [431] = "Request Header Fields Too Large" }

-- Reads the request head within the deadline: the text before the blank
-- line, or nil and "timeout" | "closed" | "too large".
local function read_head(client, deadline, clock)
  client:settimeout(0)
  local buf = ""
  while true do
    local s = find(buf, "\r?\n\r?\n")
    if s then
      return sub(buf, 1, s - 1)
    elseif #buf >= MAX_HEAD then
      return nil, "too large"
    end
    local left = deadline - clock()
    if left <= 0 then
      return nil, "timeout", buf
    end
    local readable = socket.select({ client }, nil, left)
    if readable[client] then
      local data, err, partial = client:receive(MAX_HEAD - #buf)
      data = data or partial
      if data and #data > 0 then
        buf = buf .. data
      elseif err == "closed" then
        return nil, "closed"
      end
    end
  end
end

local function respond(client, deadline, clock, status, headers, body, head_only)
  local lines = { format("HTTP/1.1 %d %s", status, REASONS[status]) }
  headers["Content-Length"] = tostring(#body)
  headers["Connection"] = "close"
  for _, name in ipairs { "Content-Type", "Content-Length", "Allow", "Connection" } do
    if headers[name] then
      lines[#lines + 1] = name .. ": " .. headers[name]
    end
  end
  local text = table.concat(lines, "\r\n") .. "\r\n\r\n" .. (head_only and "" or body)
  client:settimeout(max(0, deadline - clock()))
  client:send(text)
end

-- After an error reply: stop sending, drop what the client still sends
-- (a little, briefly) so that closing does not reset the reply away.
local function linger(client, clock)
  client:shutdown("send")
  client:settimeout(0)
  local until_t, dropped = clock() + 0.2, 0
  while dropped < MAX_DRAIN and clock() < until_t do
    local readable = socket.select({ client }, nil, until_t - clock())
    if not readable[client] then
      break
    end
    local data, err, partial = client:receive(4096)
    data = data or partial or ""
    dropped = dropped + #data
    if err == "closed" then
      break
    end
  end
end

local function handle(client, st)
  local clock = st.clock
  local deadline = clock() + st.read_timeout
  local head, why, partial = read_head(client, deadline, clock)
  local plain = { ["Content-Type"] = "text/plain; charset=utf-8" }
  if not head then
    if why == "too large" then
      respond(client, clock() + 1, clock, 431, plain, "request head too large\n")
      linger(client, clock)
    elseif why == "timeout" and partial ~= "" then
      respond(client, clock() + 1, clock, 408, plain, "request timeout\n")
    end
    return
  end
  local method, target = match(match(head, "^[^\r\n]*"), "^(%u+) (/%S*) HTTP/1%.[01]$")
  if not method then
    respond(client, deadline, clock, 400, plain, "bad request\n")
    return linger(client, clock)
  end
  local path = match(target, "^[^?#]*")
  if method ~= "GET" and method ~= "HEAD" then
    plain.Allow = "GET, HEAD"
    return respond(client, deadline, clock, 405, plain, "only GET and HEAD\n")
  elseif path ~= "/metrics" then
    return respond(client, deadline, clock, 404, plain, "not found; try /metrics\n", method == "HEAD")
  end
  local body = metrics.render(st.current)
  if st.extra then
    local ok, text = pcall(st.extra)
    if ok and type(text) == "string" then
      body = body .. text
    elseif not ok then
      st.log("extra metrics failed: " .. tostring(text))
    end
  end
  respond(client, deadline, clock, 200, { ["Content-Type"] = metrics.CONTENT_TYPE }, body, method == "HEAD")
end

local function is_up(p)
  return p.up == true or p.up == 1
end

-- One poll; a failure marks every profile down and keeps its last values.
local function poll(st)
  st.polled_at = st.clock()
  local ok, snap, err = pcall(st.poll)
  if not ok or snap == nil then
    st.log("poll failed: " .. tostring(ok and err or snap))
    for _, p in pairs(st.current.profiles) do
      p.up = false
    end
    st.current.up = false
    return
  end
  local profiles = {}
  for name, p in pairs(snap.profiles or {}) do
    local was = st.current.profiles[name]
    local copy = { up = is_up(p), accounts = p.accounts, products = p.products }
    if was and not copy.up then
      copy.accounts, copy.products = copy.accounts or was.accounts, copy.products or was.products
    end
    profiles[name] = copy
  end
  st.current = { profiles = profiles, utc_offset = snap.utc_offset, up = snap.up == nil or snap.up }
end

--- Serves `/metrics` until `stop()` is true or `max_requests` are served.
-- `GET` (and `HEAD`) `/metrics` answers 200 with `Content-Type: text/plain;
-- version=0.0.4`; other paths 404; other methods 405; a request head over
-- 8 KiB 431; a malformed one 400. A connection that has not sent its head
-- within `read_timeout` is closed (408 if it sent part of one). Every
-- reply closes the connection.
-- @tparam table opts
-- @tparam string opts.listen `"127.0.0.1:PORT"` (port 0: any free port; see `on_listen`)
-- @tparam function opts.poll `function() -> snapshot` (as `metrics.render` takes) or `nil, err`; a
--   profile with `up` false and no accounts (products) keeps its last ones
-- @tparam[opt=false] boolean opts.allow_any allow an address that is not loopback
-- @tparam[opt=60] number opts.min_interval seconds between polls, at least
-- @tparam[opt] function opts.extra `function() -> text` appended to each scrape (e.g. `requests:render()`)
-- @tparam[opt] function opts.stop `function() -> bool`, asked between requests and at least every `tick`
-- @tparam[opt] integer opts.max_requests return after this many connections
-- @tparam[opt] function opts.on_listen `function(host, port)` once listening
-- @tparam[opt=5] number opts.read_timeout seconds a client has to send its request head
-- @tparam[opt=1] number opts.tick longest wait in accept, in seconds
-- @tparam[opt] function opts.log `function(line)` for poll failures (default: stderr)
-- @tparam[opt] function opts.clock seconds, for specs (default `socket.gettime`)
-- @treturn true when stopped
-- @treturn[2] nil
-- @treturn[2] string why it could not listen
-- @usage metrics_http.serve { listen = "127.0.0.1:9150", poll = poll, extra = function() return reqs:render() end,
--   stop = function() return core.interrupted() end }
function metrics_http.serve(opts)
  if type(opts) ~= "table" or type(opts.poll) ~= "function" then
    error("bad argument #1 to 'serve' (table with a poll function expected)", 2)
  end
  for _, name in ipairs { "min_interval", "read_timeout", "tick" } do
    local v = opts[name]
    if v ~= nil and (type(v) ~= "number" or not (v >= 0 and v < math.huge)) then
      error("bad argument #1 to 'serve' (" .. name .. ": seconds expected)", 2)
    end
  end
  local host, port = metrics_http.parse_listen(opts.listen)
  if not host then
    return nil, port
  end
  if not opts.allow_any and not metrics_http.is_loopback(host) then
    return nil, "listen " .. opts.listen .. ": not a loopback address (127.0.0.0/8 or ::1); " ..
      "allow_any (--listen-any) serves other hosts"
  end
  if lower(host) == "localhost" then
    host = "127.0.0.1"
  end
  local st = {
    poll = opts.poll, extra = opts.extra, clock = opts.clock or socket.gettime,
    read_timeout = opts.read_timeout or 5, min_interval = opts.min_interval or 60,
    log = opts.log or function(line) io.stderr:write("proxyapi metrics: ", line, "\n") end,
    current = { profiles = {}, up = false },
  }
  local tick, stop, limit = opts.tick or 1, opts.stop, opts.max_requests
  poll(st)
  local server, err = socket.bind(host, port)
  if not server then
    return nil, "listen " .. opts.listen .. ": " .. tostring(err)
  end
  if opts.on_listen then
    local _, bound = server:getsockname()
    opts.on_listen(host, tointeger(bound))
  end
  local served = 0
  while not (stop and stop()) do
    local now = st.clock()
    if now >= st.polled_at + st.min_interval or now < st.polled_at then
      poll(st)
      now = st.clock()
    end
    server:settimeout(max(0, min(tick, st.polled_at + st.min_interval - now)))
    local client = server:accept()
    if client then
      local ok, failure = pcall(handle, client, st)
      client:close()
      if not ok then
        server:close()
        error(failure, 0)
      end
      served = served + 1
      if limit and served >= limit then
        break
      end
    end
  end
  server:close()
  return true
end

return metrics_http
