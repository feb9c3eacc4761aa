-- The LuaSocket contender, under lua5.4: socket.http as a user calls it,
-- http.request with an ltn12 sink, then cjson.decode of the body.
-- socket.http sends "Connection: close", so every call opens a new
-- connection; it has no concurrent interface.
--
--   lua5.4 scripts/bench/luasocket.lua MODE URL CALLS SECONDS [EXPECT]
--
-- MODE: get (EXPECT is the length of data.list) or post (enable one
-- account per call, the app_key in the JSON body). Prints calls=N
-- seconds=S cpu=S for the timed loop (after a warm-up; cpu: os.clock()).

local http = require "socket.http"
local ltn12 = require "ltn12"
local socket = require "socket"
local cjson = require "cjson"

local mode, url = arg[1], arg[2]
local calls, seconds, expect = tonumber(arg[3] or ""), tonumber(arg[4] or ""), tonumber(arg[5] or "")
if not ((mode == "get" or mode == "post") and url and calls and seconds) then
  io.stderr:write("usage: lua5.4 luasocket.lua get|post URL CALLS SECONDS [EXPECT]\n")
  os.exit(2)
end
local concat, gettime = table.concat, socket.gettime
local KEY = os.getenv "PROXYAPI_APP_KEY"
local NAMES = {}
for i = 1, 100 do
  NAMES[i] = "bench" .. i
end

local function call(i)
  local chunks = {}
  local request = { url = url, sink = ltn12.sink.table(chunks) }
  if mode == "post" then
    local body = cjson.encode { app_key = KEY, accounts = { NAMES[i % 100 + 1] } }
    request.method = "POST"
    request.source = ltn12.source.string(body)
    request.headers = { ["content-type"] = "application/json", ["content-length"] = #body }
  end
  local ok, status = http.request(request)
  if ok == nil or status ~= 200 then
    error("HTTP failure: " .. tostring(status), 0)
  end
  local reply = cjson.decode(concat(chunks))
  if reply.code ~= 200 then
    error("API code " .. tostring(reply.code), 0)
  end
  if expect and #reply.data.list ~= expect then
    error("unexpected reply", 0)
  end
  return reply
end

for i = 1, 5 do
  call(i)
end
local cpu_start = os.clock()
local start = gettime()
local deadline = start + seconds
local n = 0
while n < calls do
  n = n + 1
  call(n)
  if gettime() >= deadline then
    break
  end
end
io.stdout:write(string.format("calls=%d seconds=%.6f cpu=%.6f\n", n, gettime() - start, os.clock() - cpu_start))
