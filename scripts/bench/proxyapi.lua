-- The proxyapi contender, in either host: build/pxlua (the global `api`)
-- or plain lua5.4 with LUA_PATH/LUA_CPATH at the checkout (`require
-- "proxyapi"` and `proxyapi.new`). PROXYAPI_BASE_URL and PROXYAPI_APP_KEY
-- point at the benchmark server (scripts/bench/run.lua).
--
--   pxlua  scripts/bench/proxyapi.lua pxlua   MODE CALLS SECONDS [JOURNAL]
--   lua5.4 scripts/bench/proxyapi.lua require MODE CALLS SECONDS [JOURNAL]
--
-- MODE: list_accounts | list_cities (a loop of calls, the decoded lists
-- are the result), enable (enable_accounts of one name per call), map
-- (the same calls through api:map at concurrency 16), rss (list_accounts,
-- reading VmHWM after CALLS/10 calls and at the end), peak (one
-- list_accounts call; VmHWM before and after). JOURNAL: "-" makes the client with
-- proxyapi.new and no journal, anything else is the `journal` option
-- (both hosts); without it pxlua uses its global `api`. Runs CALLS calls
-- after a short warm-up, or fewer when SECONDS are up first, and prints
-- calls=N seconds=S cpu=S for the timed part only (cpu: os.clock()).

-- luacheck: read globals api

local proxyapi = require "proxyapi"
local now = require("proxyapi.core").now

local host, mode = arg[1], arg[2]
local calls, seconds = math.tointeger(tonumber(arg[3] or "")), tonumber(arg[4] or "")
local journal = arg[5]
if not ((host == "pxlua" or host == "require") and mode and calls and calls > 0 and seconds and seconds > 0) then
  io.stderr:write("usage: proxyapi.lua pxlua|require MODE CALLS SECONDS [JOURNAL]\n")
  os.exit(2)
end

local client
if host == "pxlua" and journal == nil then
  client = api
else
  client = proxyapi.new {
    app_key = os.getenv "PROXYAPI_APP_KEY",
    base_url = os.getenv "PROXYAPI_BASE_URL",
    journal = journal ~= "-" and journal or nil,
  }
end

local WARMUP = 5
local CONCURRENCY = 16
local NAMES = {}
for i = 1, 100 do
  NAMES[i] = "bench" .. i
end

local function vmhwm()
  local f = assert(io.open("/proc/self/status"))
  local text = f:read("a")
  f:close()
  return math.tointeger(tonumber(text:match("VmHWM:%s*(%d+)")))
end

local cpu_start

local function report(n, elapsed, extra)
  io.stdout:write(string.format("calls=%d seconds=%.6f cpu=%.6f%s\n", n, elapsed, os.clock() - cpu_start,
    extra or ""))
end

local function enable(a, i)
  return a:enable_accounts(NAMES[i % 100 + 1])
end

local function list(a, method, expect)
  local result, err = a[method](a)
  if result == nil then
    error(tostring(err), 0)
  end
  if expect and #result ~= expect then
    error(string.format("%s: %d items, %d expected", method, #result, expect), 0)
  end
  return result
end

-- A loop of `call(i)`; `marks[n]` asks for VmHWM after call n.
local function loop(call, marks)
  for i = 1, WARMUP do
    call(i)
  end
  local hwm = {}
  cpu_start = os.clock()
  local start = now()
  local deadline = start + seconds
  local n = 0
  while n < calls do
    n = n + 1
    call(n)
    if marks and marks[n] then
      hwm[#hwm + 1] = vmhwm()
    end
    if now() >= deadline then
      break
    end
  end
  return n, now() - start, hwm
end

local EXPECT = { list_accounts = 5, list_cities = 26 }

if mode == "list_accounts" or mode == "list_cities" then
  local expect = EXPECT[mode]
  local n, elapsed = loop(function()
    list(client, mode, expect)
  end)
  report(n, elapsed)
elseif mode == "rss" then
  local n, elapsed, hwm = loop(function()
    list(client, "list_accounts", 5)
  end, { [calls // 10] = true, [calls] = true })
  report(n, elapsed, string.format(" hwm_first_kib=%d hwm_last_kib=%d", hwm[1] or -1, hwm[2] or -1))
elseif mode == "enable" then
  local n, elapsed = loop(function(i)
    assert(enable(client, i))
  end)
  report(n, elapsed)
elseif mode == "map" then
  local items = {}
  for i = 1, calls do
    items[i] = i
  end
  local warm = {}
  for i = 1, CONCURRENCY do
    warm[i] = i
  end
  -- warm-up: one round, so that the connections are open
  local _, errs = client:map(warm, enable, { concurrency = CONCURRENCY })
  assert(next(errs) == nil, "map warm-up failed")
  cpu_start = os.clock()
  local start = now()
  local results
  results, errs = client:map(items, enable, { concurrency = CONCURRENCY })
  local elapsed = now() - start
  local _, err = next(errs)
  if err ~= nil then
    error(tostring(err), 0)
  end
  assert(results.n == calls and results[calls] == true)
  report(calls, elapsed)
elseif mode == "peak" then
  local before = vmhwm() -- the module loaded and the client made
  cpu_start = os.clock()
  local start = now()
  local result = list(client, "list_accounts")
  local elapsed = now() - start
  report(1, elapsed, string.format(" items=%d hwm_kib=%d before_kib=%d", #result, vmhwm(), before))
else
  io.stderr:write("proxyapi.lua: unknown mode '", mode, "'\n")
  os.exit(2)
end
