--- `proxyapi --fake`: a fake of the API in a child process for the length
-- of the command (the same interpreter runs it: lua5.4 with this
-- process's module paths, or pxlua, which has it built in), and a journal
-- of its own in a private temporary folder, removed with it. The child
-- runs in a session of its own (setsid), so that a Ctrl-C meant for the
-- command does not stop the fake under requests still in flight; it ends
-- when told (POST /_fake/shutdown; SIGKILL if that fails), when its parent
-- is gone (Linux: its parent process changes), or after an hour at most.
-- @module proxyapi.command.fake

local core = require "proxyapi.core"

local ipairs, tostring, tonumber, rawget, require = ipairs, tostring, tonumber, rawget, require
local format, gsub, match, find = string.format, string.gsub, string.match, string.find
local popen, os_remove, tmpname, execute = io.popen, os.remove, os.tmpname, os.execute

local fake = {}

local CHILD = [[
local fake = require "proxyapi.fake"
local core = require "proxyapi.core"
local socket = require "socket"
local function parent()
  local f = io.open("/proc/self/stat")
  if f == nil then return nil end
  local stat = f:read("l") or ""
  f:close()
  return stat:match("^%d+ %b() %S+ (%d+)")
end
local first = parent()
local server = assert(fake.new { host = "127.0.0.1", port = 0 })
io.stdout:write("PROXYAPI_BASE_URL=", server.base_url, "\nPROXYAPI_APP_KEY=", server.app_key,
  "\nPID=", core.pid(), "\n")
io.stdout:flush()
local deadline = socket.gettime() + 3600
while server:step(0.2) and socket.gettime() < deadline and parent() == first do end
server:close()
]]

local function quote(s)
  return "'" .. gsub(s, "'", "'\\''") .. "'"
end

--- The interpreter running this program (`arg`'s lowest index), and
-- whether it is pxlua (its modules are built in).
local function interpreter()
  local args = rawget(_G, "arg")
  local i = 0
  while args and args[i - 1] ~= nil do
    i = i - 1
  end
  local path = args and i < 0 and args[i] or "lua5.4"
  return path, package.preload["proxyapi.core"] ~= nil
end

-- Asks the fake to end (LuaSocket, not the client: after an interrupt the
-- client sends nothing more).
local function shutdown(base_url)
  local socket = require "socket"
  local host, port = match(base_url, "^http://([^:/]+):(%d+)")
  local c = socket.tcp()
  c:settimeout(2)
  if not (host and c:connect(host, tonumber(port))) then
    c:close()
    return false
  end
  c:send("POST /_fake/shutdown HTTP/1.1\r\nHost: " .. host .. "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
  local reply = c:receive("*l")
  c:close()
  return reply ~= nil and find(reply, "^HTTP/1%.1 200") ~= nil
end

--- Starts a fake. Returns `{ base_url =, app_key =, journal = path }`.
-- @treturn table the fake
-- @return[2] nil
-- @treturn[2] string why it did not start
-- @usage local f = assert(fake.start()); ...; fake.stop(f)
function fake.start()
  local interp, built_in = interpreter()
  local env = ""
  if not built_in then
    env = "LUA_PATH=" .. quote(package.path) .. " LUA_CPATH=" .. quote(package.cpath) .. " "
  end
  local setsid = execute("command -v setsid >/dev/null 2>&1") and "setsid " or ""
  local pipe = popen("exec " .. setsid .. "env " .. env .. quote(interp) .. " -e " .. quote(CHILD), "r")
  if pipe == nil then
    return nil, "cannot start the fake API"
  end
  local url, key, pid = pipe:read("l"), pipe:read("l"), pipe:read("l")
  local f = {
    pipe = pipe,
    base_url = url and match(url, "^PROXYAPI_BASE_URL=(.*)$"),
    app_key = key and match(key, "^PROXYAPI_APP_KEY=(.*)$"),
    pid = pid and match(pid, "^PID=(%d+)$"),
  }
  if not (f.base_url and f.app_key and f.pid) then
    pipe:close()
    return nil, "the fake API did not start (is lua-socket installed?)"
  end
  local dir = tmpname()
  os_remove(dir)
  local ok, err = core.mkdir_private(dir)
  if not ok then
    fake.stop(f)
    return nil, format("cannot make a folder for the fake's journal: %s", tostring(err))
  end
  f.dir, f.journal = dir, dir .. "/journal.sqlite3"
  return f
end

--- Stops a fake and removes its journal; idempotent.
-- @tparam table f from `start`
-- @usage fake.stop(f)
function fake.stop(f)
  if f.pid then
    if not shutdown(f.base_url) then
      execute("kill -KILL " .. f.pid .. " 2>/dev/null")
    end
    f.pid = nil
  end
  if f.pipe then
    f.pipe:close()
    f.pipe = nil
  end
  if f.dir then
    for _, suffix in ipairs { "", "-wal", "-shm", "-journal" } do
      os_remove(f.journal .. suffix)
    end
    os_remove(f.dir)
    f.dir = nil
  end
end

return fake
