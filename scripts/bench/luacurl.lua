-- The lua-curl contender, under lua5.1: Debian's lua-curl 0.3 (an old
-- libcurl binding for Lua 5.1/5.2, not Lua-cURLv3) with one reused easy
-- handle, so one keep-alive connection, and Debian's cjson for 5.1.
--
--   lua5.1 scripts/bench/luacurl.lua URL CALLS SECONDS EXPECT
--
-- EXPECT is the length of data.list. Prints calls=N seconds=S cpu=S for
-- the timed loop (after a warm-up; cpu: os.clock()).

local curl = require "curl"
local socket = require "socket" -- gettime only
local cjson = require "cjson"

local url, calls, seconds, expect = arg[1], tonumber(arg[2] or ""), tonumber(arg[3] or ""), tonumber(arg[4] or "")
if not (url and calls and seconds and expect) then
  io.stderr:write("usage: lua5.1 luacurl.lua URL CALLS SECONDS EXPECT\n")
  os.exit(2)
end
local concat, gettime = table.concat, socket.gettime

local easy = curl.easy_init()
local chunks, nchunks = {}, 0
easy:setopt(curl.OPT_URL, url)
easy:setopt(curl.OPT_WRITEFUNCTION, function(s, len)
  nchunks = nchunks + 1
  chunks[nchunks] = s
  return len
end)

local function list_accounts()
  chunks, nchunks = {}, 0
  local rc = easy:perform()
  if rc ~= 0 then
    return nil, "libcurl error " .. tostring(rc)
  end
  local reply = cjson.decode(concat(chunks, "", 1, nchunks))
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
