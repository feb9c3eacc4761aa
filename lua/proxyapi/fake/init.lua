--- A stateful fake of the provider's API over real HTTP/1.1 on loopback.
-- It keeps accounts in memory, enforces the reference's rules, answers
-- code 3 to a wrong key and (when not verified) 156 to writes, and has
-- seeded data for everything else; test hooks live under /_fake/ (faults,
-- request log, state, config, reset, shutdown). `proxyapi-fake` is its
-- command and `pxlua --fake` runs one for the length of a script.
--
-- One thread serves many connections: non-blocking sockets, socket.select,
-- and one coroutine per connection that suspends while it waits to read, to
-- write or for a delay, so that a slow reply never holds up the others.
-- @module proxyapi.fake
-- @usage
-- local server = assert(require("proxyapi.fake").new { port = 0 })
-- print(server.base_url, server.app_key)
-- server:run()
local socket = require "socket"
local cjson = require "cjson"
local data = require "proxyapi.fake.data"
local faults = require "proxyapi.fake.faults"
local handlers = require "proxyapi.fake.handlers"
local http = require "proxyapi.fake.http"

local gettime, select = socket.gettime, socket.select
local yield, resume, status_of = coroutine.yield, coroutine.resume, coroutine.status
local format, sub, rep, gsub = string.format, string.sub, string.rep, string.gsub
local envelope, array = handlers.envelope, handlers.array

local fake = {}

local BLOCK = 65536
local MAX_CONNS = 900        -- select() works on fds below FD_SETSIZE (1024)
local MAX_LOG = 10000
local JSON_TYPE = "application/json; charset=utf-8"

local function plain(s)
  return (gsub(s, "%W", "%%%0"))
end

local Conn = {}
Conn.__index = Conn

-- Data already buffered inside LuaSocket is returned before waiting, since
-- select() cannot see it.
function Conn:receive_chunk()
  while true do
    local chunk, err, partial = self.sock:receive(BLOCK)
    if chunk then return chunk end
    if partial and partial ~= "" then return partial end
    if err ~= "timeout" then return nil, err end
    yield "read"
  end
end

function Conn:send(s)
  local i = 1
  while true do
    local last, err, sent = self.sock:send(s, i)
    if last then return true end
    if err ~= "timeout" then return nil, err end
    i = sent + 1
    yield "write"
  end
end

function Conn.sleep(_, seconds)
  if seconds > 0 then yield("sleep", gettime() + seconds) end
end

local Server = {}
Server.__index = Server

local function random_key()
  -- from the clock, never from the data seed: two fakes get different keys
  local rand = data.rng(data.hash(format("%.6f", gettime()), os.time(), os.clock(), tostring {}))
  return data.alnum(rand, 32)
end

local function check(cond, msg)
  if not cond then error("proxyapi.fake.new: " .. msg, 3) end
end

--- Makes a fake server listening on host:port.
-- @tparam[opt] table opts
-- @tparam[opt="127.0.0.1"] string opts.host
-- @tparam[opt=0] integer opts.port 0: a free port
-- @tparam[opt] string opts.app_key default: a random 32-character key
-- @tparam[opt=1] integer opts.seed the seed of the generated data
-- @tparam[opt=false] boolean opts.empty start with no accounts
-- @tparam[opt=false] boolean opts.not_verified writes answer code 156
-- @tparam[opt] table opts.faults fault tables queued at start (see the README)
-- @tparam[opt] number opts.ttl seconds after which `run` returns
-- @tparam[opt] file opts.log a file handle for one line per request (no key)
-- @return a server with fields `base_url`, `app_key`, `port`
-- @return[2] nil
-- @treturn[2] string why it could not listen
-- @raise for malformed options
function fake.new(opts)
  opts = opts or {}
  check(type(opts) == "table", "options must be a table")
  local host, port = opts.host or "127.0.0.1", opts.port or 0
  check(type(host) == "string", "host must be a string")
  check(math.type(port) == "integer" and port >= 0 and port <= 65535, "port must be an integer 0..65535")
  check(opts.app_key == nil or (type(opts.app_key) == "string" and opts.app_key ~= ""),
    "app_key must be a non-empty string")
  check(opts.seed == nil or math.type(opts.seed) == "integer", "seed must be an integer")
  check(opts.ttl == nil or (type(opts.ttl) == "number" and opts.ttl > 0), "ttl must be a positive number")
  check(not opts.log or io.type(opts.log) == "file" or type(opts.log) == "table",
    "log must be a file handle")
  local initial_faults = {}
  for i, f in ipairs(opts.faults or {}) do
    local fault, err = faults.normalize(f)
    check(fault, "faults[" .. i .. "]: " .. tostring(err))
    initial_faults[i] = fault
  end

  local listener, err = socket.bind(host, port, 128)
  if not listener then return nil, "cannot listen on " .. host .. ":" .. port .. ": " .. tostring(err) end
  listener:settimeout(0)
  local _, bound_port = listener:getsockname()
  local self = setmetatable({
    listener = listener, host = host, port = tonumber(bound_port),
    app_key = opts.app_key or random_key(), ttl = opts.ttl, log_file = opts.log or nil,
    initial_faults = initial_faults, conns = {}, by_sock = {}, next_conn = 0, count = 0,
    recvt = {}, sendt = {},
  }, Server)
  self.base_url = format(host:find ":" and "http://[%s]:%d" or "http://%s:%d", host, self.port)
  self.state = handlers.new_state { app_key = self.app_key, seed = opts.seed or 1, empty = opts.empty,
                                    not_verified = opts.not_verified }
  self:reset()
  return self
end

-- Back to the start: seeded accounts and counters, config, the faults
-- given to new(), an empty log. Connection ids keep counting.
function Server:reset()
  handlers.reset(self.state)
  self.delay = 0
  self.faults = faults.copy(self.initial_faults)
  self.log, self.seq = {}, 0
end

function Server:record(entry)
  self.seq = self.seq + 1
  entry.seq = self.seq
  local log = self.log
  log[#log + 1] = entry
  if #log > 2 * MAX_LOG then self.log = table.move(log, #log - MAX_LOG + 1, #log, 1, {}) end
end

function Server:finish(entry, status)
  entry.t_end, entry.status = gettime(), status
  if self.log_file then
    self.log_file:write(format("%s conn=%d %s %s -> %s %.1fms%s\n", os.date "%H:%M:%S", entry.conn,
      entry.method, entry.path, status or "-", (entry.t_end - entry.t_start) * 1000,
      entry.fault and " fault=" .. entry.fault or ""))
    self.log_file:flush()
  end
end

local function reply(conn, status, body, content_type, keep_alive, extra)
  return conn:send(http.head(status, #body, content_type or JSON_TYPE, keep_alive, extra) .. body)
end

local function decode_object(body)
  if not body:find "^%s*{" then return false end
  local ok, value = pcall(cjson.decode, body)
  return ok and type(value) == "table" and value
end

local function without_key(params)
  local copy = {}
  if params then
    for k, v in pairs(params) do
      if k ~= "app_key" then copy[k] = v end
    end
  end
  return copy
end

function Server:handle(method, path, params)
  local ok, status, body, content_type, extra = pcall(handlers.handle, self.state, method, path, params)
  if ok then return status, body, content_type, extra end
  if io.stderr then io.stderr:write("proxyapi-fake: internal error: ", tostring(status), "\n") end
  return 500, envelope(500, "internal error"), JSON_TYPE
end

local canned = envelope(200, "success", { list = array {} })

local function fault_body(fault)
  local action = fault.action
  if action == "badjson" then return '{"code":200,"msg":"ok","data":{' end
  if action == "wrong_shape" then return '{"code":200,"msg":"ok","data":"unexpected"}' end
  if action == "oversize" then
    local head = '{"code":200,"msg":"success","data":null,"padding":"'
    return head .. rep("x", math.max(0, (fault.size or 2 * 1024 * 1024) - #head - 2)) .. '"}'
  end
  if fault.body then return fault.body end
  if fault.code then return envelope(fault.code, fault.msg or "fault") end
  if fault.status then return envelope(fault.status, http.reasons[fault.status] or "fault") end
  if action == "stall" or action == "truncate" then return canned end
end

-- Answer a faulted request; nil when the fault only delays it.
function Server:apply_fault(conn, req, fault, params, entry)
  local action = fault.action
  if action == "close" or action == "reset" or action == "drop_reply" then
    if action == "drop_reply" then self:handle(req.method, req.path, params) end
    if action == "reset" then conn.sock:setoption("linger", { on = true, timeout = 0 }) end
    conn.sock:close()
    self:finish(entry, nil)
    return false
  end
  local body = fault_body(fault)
  if not body then return nil end
  local status, extra = fault.status or 200, fault.headers
  if fault.retry_after then
    extra = { ["Retry-After"] = fault.retry_after }
    for k, v in pairs(fault.headers or {}) do extra[k] = v end
  end
  if action == "stall" or action == "truncate" then
    local half = sub(body, 1, #body // 2)
    conn:send(http.head(status, #body, JSON_TYPE, true, extra) .. half)
    self:finish(entry, status)
    if action == "stall" then
      repeat until not conn:receive_chunk()   -- keep it open, reading nothing more, until the peer leaves
    end
    return false
  end
  local keep = req.keep_alive and not self.stopped
  reply(conn, status, body, JSON_TYPE, keep, extra)
  self:finish(entry, status)
  return keep
end

-- One provider request; returns whether the connection stays open.
function Server:respond(conn, req)
  local params
  if req.method == "POST" and handlers.routes[req.path] then
    params = decode_object(req.body)
  else
    params = http.parse_query(req.query)
  end
  -- the request as it came over the wire (key masked), for specs of the client's marshalling
  local wire = req.method == "POST" and req.body or req.query or ""
  local entry = { conn = conn.id, method = req.method, path = req.path, params = without_key(params),
                  wire = gsub(wire, plain(self.app_key), "***"), t_start = gettime(),
                  user_agent = req.headers["user-agent"], content_type = req.headers["content-type"] }
  self:record(entry)
  local fault = faults.take(self.faults, req.method, req.path)
  if fault then entry.fault = faults.describe(fault) end
  conn:sleep(self.delay + (fault and fault.delay or 0))
  if fault then
    local keep = self:apply_fault(conn, req, fault, params, entry)
    if keep ~= nil then return keep end
  end
  local status, body, content_type, extra = self:handle(req.method, req.path, params)
  local keep = req.keep_alive and not self.stopped
  local ok = reply(conn, status, body, content_type, keep, extra)
  self:finish(entry, status)
  return ok and keep
end

-- Control endpoints: method and path -> function(server, body) -> data | nil, error.
local control = {}

local function control_body(req)
  if not req.body:find "%S" then return {} end
  local value = decode_object(req.body)
  if not value then return nil, "body must be a JSON object" end
  return value
end

control["POST /_fake/faults"] = function(self, req)
  local ok, value = pcall(cjson.decode, req.body)
  if not ok or type(value) ~= "table" then return nil, "body must be a fault object or an array of them" end
  local list = value[1] and value or { value }
  local checked = {}
  for i, f in ipairs(list) do
    local fault, err = faults.normalize(f)
    if not fault then return nil, "fault " .. i .. ": " .. err end
    checked[i] = fault
  end
  table.move(checked, 1, #checked, #self.faults + 1, self.faults)
  return { queued = #self.faults }
end

local function clear_faults(self)
  self.faults = {}
  return { queued = 0 }
end
control["DELETE /_fake/faults"] = clear_faults
control["POST /_fake/faults/clear"] = clear_faults

control["GET /_fake/log"] = function(self) return { list = array(self.log) } end
control["POST /_fake/log/clear"] = function(self)
  self.log = {}
  return nil
end

control["GET /_fake/state"] = function(self)
  return { accounts = array(self.state.accounts), not_verified = self.state.not_verified,
           delay = self.delay, faults = array(self.faults) }
end

control["POST /_fake/config"] = function(self, req)
  local config, err = control_body(req)
  if not config then return nil, err end
  for k in pairs(config) do
    if k ~= "not_verified" and k ~= "delay" then return nil, "unknown config field '" .. tostring(k) .. "'" end
  end
  if config.not_verified ~= nil and type(config.not_verified) ~= "boolean" then
    return nil, "not_verified must be a boolean"
  end
  if config.delay ~= nil and not (type(config.delay) == "number" and config.delay >= 0 and config.delay < 3600) then
    return nil, "delay must be 0..3600 seconds"
  end
  if config.not_verified ~= nil then self.state.not_verified = config.not_verified end
  if config.delay ~= nil then self.delay = config.delay end
  return { not_verified = self.state.not_verified, delay = self.delay }
end

control["POST /_fake/reset"] = function(self)
  self:reset()
  return nil
end

control["POST /_fake/shutdown"] = function() return nil end

local control_paths = {}
for key in pairs(control) do control_paths[key:match " (.*)"] = true end

function Server:control(conn, req)
  local fn = control[req.method .. " " .. req.path]
  local status, body = 200
  if fn then
    local ok, value, err = pcall(fn, self, req)
    if not ok then
      status, body = 500, envelope(500, "internal error: " .. tostring(value))
    elseif err then
      status, body = 400, envelope(400, err)
    else
      body = envelope(200, "success", value)
    end
  elseif control_paths[req.path] then
    status, body = 405, envelope(405, "method not allowed")
  else
    status, body = 404, envelope(404, "not found")
  end
  local stop = req.path == "/_fake/shutdown" and status == 200
  local keep = req.keep_alive and not stop and not self.stopped
  reply(conn, status, body, JSON_TYPE, keep)
  if stop then self.stopped = true end
  return keep
end

function Server:serve(conn)
  while true do
    local req, err = http.read_request(conn)
    if not req then
      if err ~= "closed" then reply(conn, 400, envelope(400, "bad request: " .. err), JSON_TYPE, false) end
      return
    end
    local keep
    if req.path:find "^/_fake/" then
      keep = self:control(conn, req)
    else
      keep = self:respond(conn, req)
    end
    if not keep then return end
  end
end

function Server:drop(conn)
  conn.sock:close()
  self.conns[conn], self.by_sock[conn.sock] = nil, nil
end

function Server:resume(conn)
  conn.waiting, conn.wake_at = nil, nil
  local ok, what, at = resume(conn.co)
  if not ok then
    if io.stderr then io.stderr:write("proxyapi-fake: connection ", conn.id, ": ", tostring(what), "\n") end
    return self:drop(conn)
  end
  if status_of(conn.co) == "dead" then return self:drop(conn) end
  conn.waiting, conn.wake_at = what, at
end

function Server:accept()
  while self.count < MAX_CONNS do
    local sock = self.listener:accept()
    if not sock then return end
    sock:settimeout(0)
    sock:setoption("tcp-nodelay", true)
    self.next_conn = self.next_conn + 1
    local conn = setmetatable({ sock = sock, id = self.next_conn, buf = "", pos = 1 }, Conn)
    conn.co = coroutine.create(function() return self:serve(conn) end)
    self.conns[conn], self.by_sock[sock] = true, conn
    self.count = self.count + 1
    self:resume(conn)
  end
end

--- One turn of the loop: wait up to timeout seconds (less when a delay ends
-- sooner), then accept, read, write and wake what is due.
-- @tparam[opt=0] number timeout seconds
-- @treturn boolean false once the fake has been shut down or closed
-- @function server:step
function Server:step(timeout)
  if self.closed then return false end
  local now, wait = gettime(), timeout or 0
  local recvt, sendt, nr, ns, count = self.recvt, self.sendt, 0, 0, 0
  for conn in pairs(self.conns) do
    count = count + 1
    local waiting = conn.waiting
    if waiting == "read" then
      nr = nr + 1
      recvt[nr] = conn.sock
    elseif waiting == "write" then
      ns = ns + 1
      sendt[ns] = conn.sock
    elseif waiting == "sleep" and conn.wake_at - now < wait then
      wait = math.max(0, conn.wake_at - now)
    end
  end
  self.count = count
  if count < MAX_CONNS then
    nr = nr + 1
    recvt[nr] = self.listener
  end
  for i = nr + 1, #recvt do recvt[i] = nil end
  for i = ns + 1, #sendt do sendt[i] = nil end
  local readable, writable, err = select(recvt, sendt, wait)
  if err and err ~= "timeout" then return nil, err end
  for _, sock in ipairs(readable) do
    if sock == self.listener then
      self:accept()
    else
      local conn = self.by_sock[sock]
      if conn and conn.waiting == "read" then self:resume(conn) end
    end
  end
  for _, sock in ipairs(writable) do
    local conn = self.by_sock[sock]
    if conn and conn.waiting == "write" then self:resume(conn) end
  end
  now = gettime()
  local due = {}
  for conn in pairs(self.conns) do
    if conn.waiting == "sleep" and conn.wake_at <= now then due[#due + 1] = conn end
  end
  for _, conn in ipairs(due) do self:resume(conn) end
  return not self.stopped
end

--- Serves until POST /_fake/shutdown, the ttl, or an error; then closes.
-- @treturn boolean true
-- @return[2] nil
-- @treturn[2] string the error
-- @function server:run
function Server:run()
  local deadline = self.ttl and gettime() + self.ttl
  local ok, err = true, nil
  while ok do
    local wait = 1
    if deadline then
      local left = deadline - gettime()
      if left <= 0 then break end
      wait = math.min(wait, left)
    end
    ok, err = self:step(wait)
  end
  self:close()
  if err then return nil, err end
  return true
end

--- Closes the listener and every connection; idempotent.
-- @function server:close
function Server:close()
  if self.closed then return end
  self.closed = true
  for conn in pairs(self.conns) do conn.sock:close() end
  self.conns, self.by_sock = {}, {}
  self.listener:close()
end

Server.__close = Server.close
Server.__gc = Server.close

function Server:__tostring()
  return format("proxyapi.fake (%s)", self.base_url)   -- never the key
end

--- Parses the command line's `key=value,key=value` form of a fault.
-- @function parse_fault
fake.parse_fault = faults.parse_spec

return fake
