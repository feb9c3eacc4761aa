--- A stateful fake of the provider's API over real HTTP/1.1 on loopback.
-- It keeps accounts in memory, enforces the reference's rules, answers
-- code 3 to a wrong key and (when not verified) 156 to writes, and has
-- seeded data for everything else; test hooks live under /_fake/ (faults,
-- request log, state, config, clock, usage, products, reset, shutdown).
-- It has its own clock, which starts at the real time (or at `now`) and
-- which the hooks move forward. `proxyapi-fake` is its command and
-- `pxlua --fake` runs one for the length of a script.
--
-- One thread serves many connections (loop.lua, conn.lua); faults.lua
-- answers faulted requests, control.lua the hooks, handlers.lua the
-- provider's endpoints.
-- @module proxyapi.fake
-- @usage
-- local server = assert(require("proxyapi.fake").new { port = 0 })
-- print(server.base_url, server.app_key)
-- server:run()
local socket = require "socket"
local clock = require "proxyapi.fake.clock"
local data = require "proxyapi.fake.data"
local faults = require "proxyapi.fake.faults"
local handlers = require "proxyapi.fake.handlers"
local json = require "proxyapi.fake.json"
local loop = require "proxyapi.fake.loop"

local gettime = socket.gettime
local format = string.format

local fake = {}

local MAX_LOG = 10000

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
-- @tparam[opt] string opts.now the fake's clock starts at this local time,
--  "YYYY-MM-DD HH:MM:SS" (default: the real time)
-- @tparam[opt=false] boolean opts.frozen the clock moves only when told to
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
  local start = opts.now and data.parse_time(opts.now)
  check(opts.now == nil or start, "now must be a real time as YYYY-MM-DD HH:MM:SS")
  check(opts.frozen == nil or type(opts.frozen) == "boolean", "frozen must be a boolean")
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
                                    not_verified = opts.not_verified, clock = clock.new(start, opts.frozen) }
  self:reset()
  return self
end

-- Back to the start: seeded accounts, usage and packages, the clock at its
-- start setting, config, the faults given to new() (and only those), an
-- empty log. Connection ids keep counting.
function Server:reset()
  handlers.reset(self.state)
  self.delay = 0
  self.faults = faults.copy(self.initial_faults)
  self.log, self.seq = {}, 0
end

-- The request log: one entry per provider request (never the key).
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

-- A provider request -> status, body, content type, extra headers; an
-- error inside answers 500 and is reported on stderr.
function Server:handle(method, path, params)
  local ok, status, body, content_type, extra = pcall(handlers.handle, self.state, method, path, params)
  if ok then return status, body, content_type, extra end
  if io.stderr then io.stderr:write("proxyapi-fake: internal error: ", tostring(status), "\n") end
  return 500, json.envelope(500, "internal error"), json.TYPE
end

--- One turn of the loop: wait up to timeout seconds (less when a delay ends
-- sooner), then accept, read, write and wake what is due.
-- @tparam[opt=0] number timeout seconds
-- @treturn boolean false once the fake has been shut down or closed
-- @function server:step
function Server:step(timeout)
  if self.closed then return false end
  return loop.step(self, timeout)
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
  for c in pairs(self.conns) do c.sock:close() end
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
