-- Shared by the specs: a fake API in a child process, its control
-- endpoints (spoken with LuaSocket, not with the client under test), and
-- small tools for running pxlua.
local http = require "socket.http"
local ltn12 = require "ltn12"
local socket = require "socket"
local cjson = require "cjson"

local helper = {}

helper.PXLUA = os.getenv("PXLUA") or "./build/pxlua"

local Fake = {}
Fake.__index = Fake

--- Starts `scripts/proxyapi-fake` on a free port; extra command-line
-- arguments may be given as a string.
function helper.start_fake(args)
  local cmd = "exec lua5.4 scripts/proxyapi-fake --port 0 --ttl 900 --seed 7 " .. (args or "")
  local pipe = assert(io.popen(cmd, "r"))
  local url, key = pipe:read("l"), pipe:read("l")
  assert(url and url:find("^PROXYAPI_BASE_URL="), "the fake API did not start")
  return setmetatable({
    pipe = pipe,
    base_url = url:match("=(.*)$"),
    app_key = key:match("=(.*)$"),
    port = math.tointeger(url:match(":(%d+)$")),
  }, Fake)
end

--- A control request (body: a table, sent as JSON); returns the HTTP
-- status and the decoded envelope (the text when it is not JSON), whatever
-- the status.
function Fake:try_control(method, path, body)
  local chunks = {}
  local text = body ~= nil and cjson.encode(body) or nil
  local ok, status = http.request {
    url = self.base_url .. path,
    method = method,
    source = text and ltn12.source.string(text) or nil,
    headers = text and { ["content-type"] = "application/json", ["content-length"] = #text } or nil,
    sink = ltn12.sink.table(chunks),
  }
  assert(ok, status)
  local answer = table.concat(chunks)
  local decoded, reply = pcall(cjson.decode, answer)
  return status, decoded and reply or answer
end

--- A control request that must answer 200; returns the envelope's data.
function Fake:control(method, path, body)
  local status, reply = self:try_control(method, path, body)
  assert(status == 200, "control request " .. path .. " answered " .. tostring(status))
  return reply.data
end

--- GET /_fake/clock, or with a body ({advance = s} | {to = "..."}, frozen) POST it.
function Fake:clock(body)
  if body == nil then
    return self:control("GET", "/_fake/clock")
  end
  return self:control("POST", "/_fake/clock", body)
end

--- POST /_fake/usage: {account = name | all = true, kb | gb, kb_per_day | gb_per_day}.
function Fake:add_usage(body)
  return self:control("POST", "/_fake/usage", body)
end

--- POST /_fake/products: {days = n, product_type = t, ips = n}; returns {product, static_ips, days_left}.
function Fake:add_product(body)
  return self:control("POST", "/_fake/products", body)
end

-- JSON numbers that are whole, as Lua integers.
local function integers(v)
  if type(v) == "table" then
    for k, x in pairs(v) do
      v[k] = integers(x)
    end
  elseif math.type(v) == "float" then
    return math.tointeger(v) or v
  end
  return v
end

--- A provider GET with the fake's key and query params, spoken with
-- LuaSocket; returns the decoded envelope (integers made integers).
function Fake:get(path, params)
  local query = { "app_key=" .. self.app_key }
  local function escape(x)
    return (tostring(x):gsub("[^%w%-_.~]", function(c)
      return string.format("%%%02X", c:byte())
    end))
  end
  for k, v in pairs(params or {}) do
    query[#query + 1] = escape(k) .. "=" .. escape(v)
  end
  local chunks = {}
  local ok, status = http.request {
    url = self.base_url .. path .. "?" .. table.concat(query, "&"),
    sink = ltn12.sink.table(chunks),
  }
  assert(ok, status)
  return integers(cjson.decode(table.concat(chunks)))
end

--- A provider POST of params (the key added) as JSON; returns the decoded envelope.
function Fake:post(path, params)
  local body = { app_key = self.app_key }
  for k, v in pairs(params or {}) do
    body[k] = v
  end
  local status, reply = self:try_control("POST", path, body)
  assert(status == 200, path .. " answered HTTP " .. tostring(status))
  return integers(reply)
end

function Fake:fault(fault)
  return self:control("POST", "/_fake/faults", fault)
end

function Fake:clear_faults()
  return self:control("POST", "/_fake/faults/clear")
end

--- The request log (provider endpoints only); integers made integers.
function Fake:log()
  local list = self:control("GET", "/_fake/log").list
  for _, entry in ipairs(list) do
    entry.seq, entry.conn = math.tointeger(entry.seq), math.tointeger(entry.conn)
    entry.status = math.tointeger(entry.status)
  end
  return list
end

function Fake:clear_log()
  return self:control("POST", "/_fake/log/clear")
end

function Fake:reset()
  return self:control("POST", "/_fake/reset")
end

function Fake:config(settings)
  return self:control("POST", "/_fake/config", settings)
end

--- The fake's accounts, by username.
function Fake:accounts()
  local by_name = {}
  for _, a in ipairs(self:control("GET", "/_fake/state").accounts) do
    by_name[a.username] = a
  end
  return by_name
end

function Fake:stop()
  self:close_clients()
  pcall(self.control, self, "POST", "/_fake/shutdown")
  self.pipe:close()
end

--- A client of the fake: no proxy, short backoff; the option tables
-- given win, later ones over earlier ones. `close_clients` closes it.
function Fake:client(...)
  local settings = {
    base_url = self.base_url, app_key = self.app_key, proxy = false,
    retry_backoff = 0.01, timeout = 5,
  }
  for i = 1, select("#", ...) do
    for k, v in pairs(select(i, ...) or {}) do
      settings[k] = v
    end
  end
  local c = require("proxyapi").new(settings)
  -- held weakly: a test may drop a client to see it collected
  self.clients = self.clients or setmetatable({}, { __mode = "k" })
  self.clients[c] = true
  return c
end

--- Closes every client `client` made that is still alive (for after_each).
function Fake:close_clients()
  for c in pairs(self.clients or {}) do
    c:close()
  end
  self.clients = nil
end

--- A loopback port nobody listens on (connections are refused).
function helper.refused_port()
  local server = assert(socket.bind("127.0.0.1", 0))
  local _, port = server:getsockname()
  server:close()
  return math.tointeger(port)
end

local function quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end
helper.quote = quote

-- Journals and histories that specs' children write never go to the
-- user's own folder: `make test` sets XDG_STATE_HOME, and so does this.
local STATE_HOME = os.getenv("XDG_STATE_HOME")
if STATE_HOME == nil or STATE_HOME == "" then
  STATE_HOME = os.tmpname()
  os.remove(STATE_HOME)
  assert(os.execute("mkdir -m 700 '" .. STATE_HOME .. "'"))
end
helper.STATE_HOME = STATE_HOME

--- Runs a shell command; returns its exit code, stdout and stderr.
function helper.run(command, stdin)
  command = "export XDG_STATE_HOME='" .. STATE_HOME .. "'; " .. command
  local out, err = os.tmpname(), os.tmpname()
  local input, stdin_file = "", nil
  if stdin ~= nil then
    stdin_file = helper.tempfile(stdin)
    input = " < " .. quote(stdin_file)
  end
  local ok, how, code = os.execute(command .. input .. " > " .. quote(out) .. " 2> " .. quote(err))
  if stdin_file then
    os.remove(stdin_file)
  end
  local function slurp(name)
    local f = assert(io.open(name))
    local text = f:read("a")
    f:close()
    os.remove(name)
    return text
  end
  if how == "signal" then
    code = 128 + code
  end
  return ok and 0 or code, slurp(out), slurp(err)
end

--- Runs pxlua with the given argument string.
function helper.pxlua(args, stdin, env)
  return helper.run((env and env .. " " or "") .. helper.PXLUA .. " " .. args, stdin)
end

--- The lines of a text, each without its "\n" (a last line without one is left out).
function helper.lines(text)
  local list = {}
  for line in text:gmatch("([^\n]*)\n") do
    list[#list + 1] = line
  end
  return list
end

--- Writes text to a new temporary file and returns its name.
function helper.tempfile(text)
  local name = os.tmpname()
  local f = assert(io.open(name, "w"))
  f:write(text)
  f:close()
  return name
end

return helper
