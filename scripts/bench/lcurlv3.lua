-- The Lua-cURLv3 contender, under lua5.4 (built by the Makefile from
-- ../shared/peers into build/peers/; never part of the repository), in
-- its usual idiom for a JSON API: one reused easy handle, a
-- writefunction appending the chunks to a table, table.concat, then
-- cjson.decode (and cjson.encode for a POST body).
--
--   lua5.4 scripts/bench/lcurlv3.lua MODE URL CALLS SECONDS [EXPECT]
--
-- MODE: get (EXPECT is the length of data.list), post (enable one
-- account per call, the app_key in the JSON body as proxyapi sends it),
-- multi (the same POSTs through a multi handle, 16 easy handles, 16 in
-- flight, a finished one starting the next), peak (one GET, then VmHWM).
-- Prints calls=N seconds=S cpu=S for the timed part (after a warm-up;
-- cpu: os.clock()).

local cURL = require "cURL"
local cjson = require "cjson"
local gettime = require("socket").gettime

local mode, url = arg[1], arg[2]
local calls, seconds, expect = tonumber(arg[3] or ""), tonumber(arg[4] or ""), tonumber(arg[5] or "")
if not (mode and url and calls and seconds) then
  io.stderr:write("usage: lua5.4 lcurlv3.lua MODE URL CALLS SECONDS [EXPECT]\n")
  os.exit(2)
end
local concat = table.concat
local KEY = os.getenv "PROXYAPI_APP_KEY"
local WARMUP, CONCURRENCY = 5, 16
local NAMES = {}
for i = 1, 100 do
  NAMES[i] = "bench" .. i
end

-- An easy handle whose body lands in its own table of chunks.
local function new_easy(post)
  local h = { chunks = {}, n = 0 }
  h.easy = cURL.easy {
    url = url,
    writefunction = function(s)
      local n = h.n + 1
      h.n = n
      h.chunks[n] = s
    end,
  }
  if post then
    h.easy:setopt_httpheader { "Content-Type: application/json" }
  end
  return h
end

local function reply_of(h)
  local status = h.easy:getinfo_response_code()
  local reply = cjson.decode(concat(h.chunks, "", 1, h.n))
  h.chunks, h.n = {}, 0
  if status ~= 200 or reply.code ~= 200 then
    error("HTTP " .. tostring(status) .. ", API code " .. tostring(reply.code), 0)
  end
  return reply
end

local function set_body(h, i)
  h.easy:setopt_postfields(cjson.encode { app_key = KEY, accounts = { NAMES[i % 100 + 1] } })
end

local function vmhwm()
  local f = assert(io.open("/proc/self/status"))
  local text = f:read("a")
  f:close()
  return tonumber(text:match("VmHWM:%s*(%d+)"))
end

local one = mode ~= "multi" and new_easy(mode == "post")

local function get()
  one.easy:perform()
  local list = reply_of(one).data.list
  if expect and #list ~= expect then
    error("unexpected reply", 0)
  end
  return list
end

local function post(i)
  set_body(one, i)
  one.easy:perform()
  return reply_of(one)
end

-- The multi interface: `total` POSTs, CONCURRENCY at a time.
local multi = mode == "multi" and cURL.multi()
local handles = {}
local function run_multi(total, deadline)
  local started, done = 0, 0
  for k = 1, math.min(CONCURRENCY, total) do
    handles[k] = handles[k] or new_easy(true)
    started = started + 1
    set_body(handles[k], started)
    multi:add_handle(handles[k].easy)
  end
  local by_easy = {}
  for _, h in ipairs(handles) do
    by_easy[h.easy] = h
  end
  while done < started do
    multi:perform()
    while true do
      local e, ok, err = multi:info_read(true)
      if e == 0 or e == nil then
        break
      end
      if not ok then
        error(tostring(err), 0)
      end
      local h = by_easy[e]
      reply_of(h)
      done = done + 1
      if started < total and (not deadline or gettime() < deadline) then
        started = started + 1
        set_body(h, started)
        multi:add_handle(e)
      end
    end
    if done < started then
      multi:wait()
    end
  end
  return done
end

local function timed(call)
  for i = 1, WARMUP do
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
  return n, gettime() - start, os.clock() - cpu_start
end

local n, elapsed, cpu
if mode == "get" then
  n, elapsed, cpu = timed(get)
elseif mode == "post" then
  n, elapsed, cpu = timed(post)
elseif mode == "multi" then
  run_multi(CONCURRENCY) -- warm-up: the connections open
  local cpu_start = os.clock()
  local start = gettime()
  n = run_multi(calls, start + seconds)
  elapsed, cpu = gettime() - start, os.clock() - cpu_start
elseif mode == "peak" then
  local before = vmhwm()
  local start, cpu_start = gettime(), os.clock()
  local list = get()
  io.stdout:write(string.format("calls=1 seconds=%.6f cpu=%.6f items=%d hwm_kib=%d before_kib=%d\n",
    gettime() - start, os.clock() - cpu_start, #list, vmhwm(), before))
  os.exit(0)
else
  io.stderr:write("lcurlv3.lua: unknown mode '", mode, "'\n")
  os.exit(2)
end
io.stdout:write(string.format("calls=%d seconds=%.6f cpu=%.6f\n", n, elapsed, cpu))
