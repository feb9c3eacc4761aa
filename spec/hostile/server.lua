-- A hostile HTTP server for spec/hostile_spec.lua, written apart from the
-- project's fake: raw LuaSocket, one coroutine per connection, driven by
-- socket.select, so that many connections are served at once.
--
--   lua5.4 spec/hostile/server.lua --port 0 --ttl 120
--
-- prints its port on the first line. The first path segment chooses the
-- attack: "/<mode>[=<param>][~<tag>]/..." (percent-decoded), so a client
-- whose base_url is "http://127.0.0.1:P/<segment>" meets it on every
-- endpoint. The tag only keeps the hit counts of one spec apart from
-- another's. A CONNECT (the server as an outbound proxy) is keyed by the
-- first label of the host it names. Control paths:
--   GET /_hits/<segment>   {"n": requests seen, "list": [{method, path, query, body}]}
--   GET /_stop             ends the server
-- Everything is bounded: request lines and headers, bodies, connections,
-- what a mode writes, and the lifetime (--ttl seconds).
local dir = (arg[0]:match("^(.*)/[^/]*$") or ".")
package.path = dir .. "/?.lua;" .. package.path

local socket = require "socket"
local cjson = require "cjson"
local modes = require "wire_modes"
for name, mode in pairs(require "body_modes") do
  modes[name] = mode
end

local gettime = socket.gettime
local create, resume, yield, cstatus = coroutine.create, coroutine.resume, coroutine.yield, coroutine.status

local MAX_LINE = 16 * 1024
local MAX_HEADERS = 100
local MAX_BODY = 1024 * 1024
local MAX_CONNECTIONS = 400
local MAX_LOGGED = 300
local UNREAD = { early = true, early_close = true }

local port, ttl = 0, 120
do
  local i = 1
  while arg[i] do
    if arg[i] == "--port" then
      port = assert(math.tointeger(tonumber(arg[i + 1])), "--port N")
    elseif arg[i] == "--ttl" then
      ttl = assert(tonumber(arg[i + 1]), "--ttl SECONDS")
    else
      error("unknown argument " .. arg[i])
    end
    i = i + 2
  end
end

local CLOSED = setmetatable({}, { __tostring = function() return "connection closed" end })

-- ---------------------------------------------------------------------
-- A connection, as its handler sees it; every wait yields to the loop.

local Conn = {}
Conn.__index = Conn

function Conn:wait(what, at)
  self.want, self.wake = what, at
  yield()
  self.want, self.wake = nil, nil
end

--- Reads a line (without CRLF), or `n` bytes; raises CLOSED at the end.
function Conn:receive(pattern)
  local got = ""
  while true do
    local data, err, partial = self.sock:receive(pattern, got)
    if data then
      return data
    end
    got = partial or got
    if err ~= "timeout" or #got > MAX_LINE and pattern == "*l" then
      error(CLOSED, 0)
    end
    self:wait("read")
  end
end

--- Writes all of `data`; raises CLOSED when the peer has gone.
function Conn:send(data)
  local from = 1
  while from <= #data do
    local last, err, partial = self.sock:send(data, from)
    if last then
      return
    end
    if err ~= "timeout" then
      error(CLOSED, 0)
    end
    from = partial + 1
    self:wait("write")
  end
end

function Conn:sleep(seconds)
  self:wait("sleep", gettime() + seconds)
end

--- Closes; with `reset`, the peer sees a TCP reset instead of a FIN.
function Conn:close(reset)
  if reset then
    self.sock:setoption("linger", { on = true, timeout = 0 })
  end
  self.sock:close()
  error(CLOSED, 0)
end

--- A whole response: status line, headers (with a Content-Length unless
-- one is given or `length = false`), body.
function Conn:respond(status, body, headers, reason)
  local lines = { string.format("HTTP/1.1 %d %s", status, reason or "Hostile") }
  local has_length, has_type = false, false
  for _, h in ipairs(headers or {}) do
    lines[#lines + 1] = h
    has_length = has_length or h:lower():find("^content%-length:") ~= nil
      or h:lower():find("^transfer%-encoding:") ~= nil
    has_type = has_type or h:lower():find("^content%-type:") ~= nil
  end
  if not has_type then
    lines[#lines + 1] = "Content-Type: application/json"
  end
  if not has_length then
    lines[#lines + 1] = "Content-Length: " .. #body
  end
  self:send(table.concat(lines, "\r\n") .. "\r\n\r\n" .. body)
end

-- ---------------------------------------------------------------------
-- Requests

local function unescape(s)
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

local function query_value(query, name)
  for pair in (query or ""):gmatch("[^&]+") do
    local k, v = pair:match("^([^=]*)=?(.*)$")
    if unescape(k) == name then
      return unescape(v)
    end
  end
  return nil
end

--- The app_key a request carried (query string or JSON body).
local function app_key_of(req)
  local key = query_value(req.query, "app_key")
  if key == nil and req.body ~= "" then
    local ok, decoded = pcall(cjson.decode, req.body)
    if ok and type(decoded) == "table" and type(decoded.app_key) == "string" then
      key = decoded.app_key
    end
  end
  return key
end

local function read_request(c)
  local line = c:receive("*l")
  local method, target = line:match("^(%u+) (%S+) HTTP/1%.[01]$")
  if not method then
    c:close()
  end
  local headers = {}
  for _ = 1, MAX_HEADERS + 1 do
    local h = c:receive("*l")
    if h == "" then
      break
    end
    local name, value = h:match("^([^:]+):%s*(.-)%s*$")
    if name then
      headers[name:lower()] = value
    end
  end
  local req = { method = method, target = target, headers = headers, body = "" }
  local length = math.tointeger(tonumber(headers["content-length"] or "0")) or 0
  req.length = math.min(length, MAX_BODY)
  if method == "CONNECT" then
    req.segment = target:match("^([^.:]+)") or ""
    req.mode, req.path = req.segment:match("^(%a+)") or "", target
  else
    local path, query = target:match("^([^?]*)%??(.*)$")
    local segment, rest = path:match("^/([^/]*)(.*)$")
    req.segment = unescape(segment or "")
    req.path, req.query = rest or "", query
    local name, param = req.segment:match("^([%w_]+)=?([^~]*)")
    req.mode, req.param = name or "", param or ""
  end
  -- the early modes answer before they read the body
  if req.length > 0 and not UNREAD[req.mode] then
    req.body = c:receive(req.length)
  end
  req.app_key = app_key_of(req)
  return req
end

-- ---------------------------------------------------------------------
-- Hits and control

local hits = {} -- segment -> { n =, list = }

local function record(req)
  local h = hits[req.segment]
  if h == nil then
    h = { n = 0, list = {} }
    hits[req.segment] = h
  end
  h.n = h.n + 1
  if #h.list < MAX_LOGGED then
    h.list[#h.list + 1] = { method = req.method, path = req.path, query = req.query or "", body = req.body }
  end
  return h.n
end

local stopping = false

local function control(c, req)
  if req.segment == "_stop" then
    stopping = true
    c:respond(200, "{}", { "Connection: close" })
    c:close()
  end
  local key = unescape((req.path or ""):match("^/(.*)$") or "")
  local h = hits[key] or { n = 0, list = {} }
  c:respond(200, cjson.encode { n = h.n, list = setmetatable(h.list, cjson.array_mt) })
end

local function serve(c)
  while true do
    local req = read_request(c)
    if req.segment:sub(1, 1) == "_" then
      control(c, req)
    else
      local mode = modes[req.mode] or modes.unknown
      req.hit = record(req)
      if mode(c, req, req.param) == "close" then
        c:close()
      end
    end
  end
end

-- ---------------------------------------------------------------------
-- The loop

local server = assert(socket.bind("127.0.0.1", port))
server:settimeout(0)
io.stdout:write(select(2, server:getsockname()), "\n")
io.stdout:flush()

local conns = {} -- sock -> conn
local count = 0
local deadline = gettime() + ttl

local function step(c)
  local ok, err = resume(c.co, c)
  if not ok and err ~= CLOSED then
    io.stderr:write("hostile server: ", tostring(err), "\n")
  end
  if cstatus(c.co) == "dead" then
    pcall(c.sock.close, c.sock)
    conns[c.sock] = nil
    count = count - 1
  end
end

while not stopping and gettime() < deadline do
  local rset, wset, wake = { server }, {}, deadline
  for sock, c in pairs(conns) do
    if c.want == "read" then
      rset[#rset + 1] = sock
    elseif c.want == "write" then
      wset[#wset + 1] = sock
    elseif c.want == "sleep" and c.wake < wake then
      wake = c.wake
    end
  end
  local readable, writable = socket.select(rset, wset, math.max(0, math.min(wake - gettime(), 0.5)))
  if readable[server] then
    while count < MAX_CONNECTIONS do
      local sock = server:accept()
      if not sock then
        break
      end
      sock:settimeout(0)
      sock:setoption("tcp-nodelay", true)
      local c = setmetatable({ sock = sock, co = create(serve) }, Conn)
      conns[sock], count = c, count + 1
      step(c)
    end
  end
  local now = gettime()
  local due = {}
  for sock, c in pairs(conns) do
    if (c.want == "read" and readable[sock]) or (c.want == "write" and writable[sock])
      or (c.want == "sleep" and c.wake <= now) then
      due[#due + 1] = c
    end
  end
  for _, c in ipairs(due) do
    step(c)
  end
end
