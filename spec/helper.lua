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

--- A control request; returns the decoded envelope's data.
function Fake:control(method, path, body)
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
  assert(status == 200, "control request " .. path .. " answered " .. tostring(status))
  local reply = cjson.decode(table.concat(chunks))
  return reply.data
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

--- Runs a shell command; returns its exit code, stdout and stderr.
function helper.run(command, stdin)
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
