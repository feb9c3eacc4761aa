-- The proxyapi contender, run by build/pxlua with PROXYAPI_BASE_URL and
-- PROXYAPI_APP_KEY pointing at the benchmark server (scripts/bench/run.lua).
--
--   pxlua scripts/bench/proxyapi.lua MODE CALLS SECONDS
--
-- MODE: list_accounts | list_cities (a loop of calls, decoded tables are
-- the result), change_limit (sequential calls), map (the same calls
-- through api:map at concurrency 16), rss (list_accounts, reading VmHWM
-- after 10,000 calls and at the end). Runs CALLS calls after a short
-- warm-up, or fewer when SECONDS are up first, and prints
-- calls=N seconds=S cpu=S for the timed part only (cpu: os.clock()).

-- luacheck: read globals api

local now = require("proxyapi.core").now

local mode, calls, seconds = arg[1], math.tointeger(tonumber(arg[2] or "")), tonumber(arg[3] or "")
if not (mode and calls and calls > 0 and seconds and seconds > 0) then
  io.stderr:write("usage: pxlua proxyapi.lua MODE CALLS SECONDS\n")
  os.exit(2)
end

local WARMUP = 5

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

-- A loop of one list method; `expect` is the length of the list it returns.
local function list_loop(method, expect, marks)
  local fn = api[method]
  for _ = 1, WARMUP do
    local list = assert(fn(api))
    if #list ~= expect then
      error(string.format("%s: %d items, %d expected", method, #list, expect))
    end
  end
  local hwm = {}
  cpu_start = os.clock()
  local start = now()
  local deadline = start + seconds
  local n = 0
  while n < calls do
    n = n + 1
    local list, err = fn(api)
    if list == nil then
      error(err, 0)
    end
    if marks and marks[n] then
      hwm[#hwm + 1] = vmhwm()
    end
    if now() >= deadline then
      break
    end
  end
  return n, now() - start, hwm
end

local function change_limit(a, i)
  return a:change_limit("bench" .. i % 100, 10)
end

if mode == "list_accounts" then
  local n, elapsed = list_loop("list_accounts", 5)
  report(n, elapsed)
elseif mode == "list_cities" then
  local n, elapsed = list_loop("list_cities", 26)
  report(n, elapsed)
elseif mode == "rss" then
  local n, elapsed, hwm = list_loop("list_accounts", 5, { [10000] = true, [calls] = true })
  report(n, elapsed, string.format(" hwm_first_kib=%d hwm_last_kib=%d", hwm[1] or -1, hwm[2] or -1))
elseif mode == "change_limit" then
  for i = 1, WARMUP do
    assert(change_limit(api, i))
  end
  cpu_start = os.clock()
  local start = now()
  local deadline = start + seconds
  local n = 0
  while n < calls do
    n = n + 1
    assert(change_limit(api, n))
    if now() >= deadline then
      break
    end
  end
  report(n, now() - start)
elseif mode == "map" then
  local items = {}
  for i = 1, calls do
    items[i] = i
  end
  -- warm-up: one round of 16, so the connections are open
  local _, errs = api:map({ 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 }, change_limit,
    { concurrency = 16 })
  assert(next(errs) == nil, "map warm-up failed")
  cpu_start = os.clock()
  local start = now()
  local results
  results, errs = api:map(items, change_limit, { concurrency = 16 })
  local elapsed = now() - start
  local _, err = next(errs)
  if err ~= nil then
    error(err, 0)
  end
  assert(results.n == calls and results[calls] == true)
  report(calls, elapsed)
else
  io.stderr:write("proxyapi.lua: unknown mode '", mode, "'\n")
  os.exit(2)
end
