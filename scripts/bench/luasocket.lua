-- The LuaSocket contender, under lua5.4: socket.http as a user calls it,
-- http.request with an ltn12 sink, then cjson.decode of the body.
-- socket.http sends "Connection: close", so every call opens a new
-- connection.
--
--   lua5.4 scripts/bench/luasocket.lua URL CALLS SECONDS EXPECT
--
-- EXPECT is the length of data.list. Prints calls=N seconds=S cpu=S for
-- the timed loop (after a warm-up; cpu: os.clock()).

local http = require "socket.http"
local ltn12 = require "ltn12"
local socket = require "socket"
local cjson = require "cjson"

local url, calls, seconds, expect = arg[1], tonumber(arg[2] or ""), tonumber(arg[3] or ""), tonumber(arg[4] or "")
if not (url and calls and seconds and expect) then
  io.stderr:write("usage: lua5.4 luasocket.lua URL CALLS SECONDS EXPECT\n")
  os.exit(2)
end
local concat, gettime = table.concat, socket.gettime

local function list_accounts()
  local chunks = {}
  local ok, status = http.request { url = url, sink = ltn12.sink.table(chunks) }
  if ok == nil or status ~= 200 then
    return nil, "HTTP failure: " .. tostring(status)
  end
  local reply = cjson.decode(concat(chunks))
  if reply.code ~= 200 then
    return nil, "API code " .. tostring(reply.code)
  end
  return reply.data.list
end

for _ = 1, 5 do
  local list = assert(list_accounts())
  assert(#list == expect, "unexpected reply")
end
local cpu_start = os.clock()
local start = gettime()
local deadline = start + seconds
local n = 0
while n < calls do
  n = n + 1
  assert(list_accounts())
  if gettime() >= deadline then
    break
  end
end
io.stdout:write(string.format("calls=%d seconds=%.6f cpu=%.6f\n", n, gettime() - start, os.clock() - cpu_start))
