-- The lua-curl contender, under lua5.1: Debian's lua-curl 0.3 (an old
-- libcurl binding for Lua 5.1/5.2, not Lua-cURLv3; it has no multi
-- interface) with one reused easy handle, so one keep-alive connection,
-- and Debian's cjson for 5.1.
--
--   lua5.1 scripts/bench/luacurl.lua MODE URL CALLS SECONDS [EXPECT]
--
-- MODE: get (EXPECT is the length of data.list) or post (enable one
-- account per call, the app_key in the JSON body). Prints calls=N
-- seconds=S cpu=S for the timed loop (after a warm-up; cpu: os.clock()).

local curl = require "curl"
local socket = require "socket" -- gettime only
local cjson = require "cjson"

local mode, url = arg[1], arg[2]
local calls, seconds, expect = tonumber(arg[3] or ""), tonumber(arg[4] or ""), tonumber(arg[5] or "")
if not ((mode == "get" or mode == "post") and url and calls and seconds) then
  io.stderr:write("usage: lua5.1 luacurl.lua get|post URL CALLS SECONDS [EXPECT]\n")
  os.exit(2)
end
local concat, gettime = table.concat, socket.gettime
local KEY = os.getenv "PROXYAPI_APP_KEY"
local NAMES = {}
for i = 1, 100 do
  NAMES[i] = "bench" .. i
end

local easy = curl.easy_init()
local chunks, nchunks = {}, 0
easy:setopt(curl.OPT_URL, url)
easy:setopt(curl.OPT_WRITEFUNCTION, function(s, len)
  nchunks = nchunks + 1
  chunks[nchunks] = s
  return len
end)
if mode == "post" then
  easy:setopt(curl.OPT_HTTPHEADER, { "Content-Type: application/json" })
end

local function call(i)
  chunks, nchunks = {}, 0
  if mode == "post" then
    easy:setopt(curl.OPT_POSTFIELDS, cjson.encode { app_key = KEY, accounts = { NAMES[i % 100 + 1] } })
  end
  local rc = easy:perform()
  if rc ~= 0 then
    error("libcurl error " .. tostring(rc), 0)
  end
  local reply = cjson.decode(concat(chunks, "", 1, nchunks))
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
