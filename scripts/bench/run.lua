-- The `make bench` driver (lua5.4): starts the canned loopback server,
-- runs every contender several times round-robin (the median counts),
-- counts instructions under callgrind, reads peak memory, and prints one
-- table with a PASS/MISS line per target. Everything talks to 127.0.0.1;
-- every run is bounded in calls and in time (and killed by `timeout`).
--
--   lua5.4 scripts/bench/run.lua [--build DIR] [--reps N] [--quick] [--peers-tarball PATH]
--
-- The report is also written to DIR/bench/report.txt. Who runs: lib/contenders.lua;
-- how: lib/measure.lua; how it prints: lib/report.lua.

local root = ((arg and arg[0] or ""):match "^(.*)/scripts/bench/[^/]*$") or "."
package.path = root .. "/scripts/bench/lib/?.lua;" .. package.path

local socket = require "socket"
local measure = require "measure"
local contenders = require "contenders"
local report = require "report"
local sections = require "sections"

local format = string.format
local quote, progress, say = measure.quote, measure.progress, report.say

-- ---------------------------------------------------------------------
-- Settings

local build, reps, quick, tarball = "build", 7, false, nil
do
  local i = 1
  while i <= #arg do
    local a, v = arg[i], arg[i + 1]
    if a == "--build" and v then
      build, i = v, i + 1
    elseif a == "--reps" and (math.tointeger(tonumber(v or "")) or 0) >= 1 then
      reps, i = math.tointeger(tonumber(v)), i + 1
    elseif a == "--peers-tarball" and v then
      tarball, i = v, i + 1
    elseif a == "--quick" then
      quick = true
    else
      io.stderr:write("usage: lua5.4 scripts/bench/run.lua [--build DIR] [--reps N] [--quick] [--peers-tarball PATH]\n")
      os.exit(2)
    end
    i = i + 1
  end
end
if build:sub(1, 1) ~= "/" then
  build = root .. "/" .. build
end
if quick then
  reps = 1
end

-- short runs, many of them, interleaved: the machine may be shared, and
-- noise then hits every contender alike
local S = {
  reps = reps,
  quick = quick,
  small = quick and 0.15 or 0.35, -- seconds per run, small replies
  large = quick and 0.3 or 0.7, -- seconds per run, ~200 KB replies
  batch_calls = quick and 320 or 960, -- 16 in flight, 10 ms each: ~0.2 / 0.6 s
  seq_calls = quick and 20 or 100, -- one at a time: ~0.2 / 1 s
  batch_reps = quick and 1 or 3,
  delay_ms = 10,
  startup_runs = quick and 10 or 50,
  glue_calls = quick and 30 or 200, -- N; callgrind runs N and 2N
  glue_works = quick and { "get" } or { "get", "post" },
  glue_repeats = quick and 1 or 2, -- the least count of these many runs counts
  rate_calls = quick and 500 or 2000,
  shape_bytes = quick and 2000000 or 10000000,
  rss_calls = quick and 20000 or 100000, -- VmHWM read at a tenth and at the end
}

local BIN = build .. "/bench"
local SCRIPTS = root .. "/scripts/bench"
local PEERS = build .. "/peers"
local ctx = {
  root = root, build = build, bin = BIN, scripts = SCRIPTS, pxlua = build .. "/pxlua",
  key = "bEnCh0123456789abcdefghijklmnopq", -- the server ignores it; sent like a real key
  list_json = SCRIPTS .. "/list_accounts.json", cities_json = BIN .. "/cities.json", ok_json = BIN .. "/ok.json",
}
ctx.lua_env = format("LUA_PATH_5_4=%s LUA_CPATH_5_4=%s",
  quote(format("%s/lua/?.lua;%s/lua/?/init.lua;%s/Lua-cURLv3/src/lua/?.lua;;", root, root, PEERS)),
  quote(format("%s/?.so;%s/?.so;;", build, PEERS)))

-- ---------------------------------------------------------------------
-- The machine and what this build has

local function prepare()
  os.execute("mkdir -p " .. quote(BIN))
  local text, ok = measure.capture(format("lua5.4 %s %s", quote(SCRIPTS .. "/gen-cities.lua"),
    quote(ctx.cities_json)))
  if not ok then
    error("gen-cities failed: " .. text)
  end
  measure.write_file(ctx.ok_json, '{"code":200,"msg":"success","data":null}')
  ctx.shape_dir = BIN .. "/shapes"
  os.execute("mkdir -p " .. quote(ctx.shape_dir))
  text, ok = measure.capture(format("lua5.4 %s %s %d", quote(SCRIPTS .. "/gen-shapes.lua"), quote(ctx.shape_dir),
    S.shape_bytes))
  if not ok then
    error("gen-shapes failed: " .. text)
  end

  local cpuinfo = measure.read_file("/proc/cpuinfo") or ""
  ctx.cpu_model = cpuinfo:match("model name%s*:%s*([^\n]+)") or "?"
  ctx.ncpu = 0
  for _ in cpuinfo:gmatch("processor%s*:") do
    ctx.ncpu = ctx.ncpu + 1
  end
  ctx.pinning = measure.setup_pinning(ctx.ncpu)

  -- pxlua rows run with the journal off once pxlua has the switch
  ctx.pxlua_flags = measure.succeeds(quote(ctx.pxlua) .. " --no-journal -e ''") and " --no-journal" or ""

  -- Lua-cURLv3 comes from outside the repository: without it, its rows say why
  if tarball and not measure.read_file(tarball) then
    ctx.lcurl_skip = tarball .. " is absent (Lua-cURLv3 is built from it by `make bench`)"
  elseif not measure.read_file(PEERS .. "/lcurl.so") then
    ctx.lcurl_skip = "build/peers/lcurl.so was not built (`make bench` builds it from ../shared/peers/)"
  elseif not measure.succeeds(format("env %s lua5.4 -e 'require \"cURL\"'", ctx.lua_env)) then
    ctx.lcurl_skip = "require \"cURL\" fails with build/peers/"
  end
  ctx.lcurl_why, ctx.lcurl_skip = ctx.lcurl_skip, ctx.lcurl_skip and "no Lua-cURLv3 in this run (see above)"

  local probe = "-e 'os.exit(pcall(require, \"proxyapi.journal\") and 0 or 1)'"
  ctx.journal = {
    pxlua = measure.succeeds(quote(ctx.pxlua) .. ctx.pxlua_flags .. " " .. probe),
    require = measure.succeeds(format("env %s lua5.4 %s", ctx.lua_env, probe)),
  }
end

-- ---------------------------------------------------------------------
-- The run

local function main()
  local t_start = socket.gettime()
  prepare()
  local load_sum, load_n = 0, 0
  local function watched(label, fn)
    local w = measure.watch(ctx.ncpu)
    local result = fn()
    local load, text = w.done()
    load_sum, load_n = load_sum + load, load_n + 1
    progress("bench: %s done %s", label, text)
    return result, text
  end

  local r = {} -- what each section measured
  local server = measure.start_server(BIN, 0, ctx.list_json, ctx.cities_json, "plain")
  local bytes_list = #(measure.read_file(ctx.list_json):gsub("%s+$", ""))
  local bytes_cities = #measure.read_file(ctx.cities_json)
  local works = {
    { id = "get1k", title = format("GET list_accounts (%s B)", report.num(bytes_list)), kind = "get",
      path = "/openapi/whitelist-account/list", mode = "list_accounts", expect = 5, seconds = S.small,
      decode_file = ctx.list_json },
    { id = "get200k", title = format("GET list_cities (%s B)", report.num(bytes_cities)), kind = "get",
      path = "/openapi/ip/dynamic-citys", mode = "list_cities", expect = 26, seconds = S.large,
      decode_file = ctx.cities_json },
    { id = "post", title = "POST enable_accounts (JSON body, 40 B reply)", kind = "post",
      path = "/openapi/whitelist-account/enable", mode = "enable", seconds = S.small, decode_file = ctx.ok_json },
  }
  for _, w in ipairs(works) do
    w.row = contenders.work_row(ctx, server, w)
    w.load = select(2, watched(w.id, function()
      measure.round_robin(w.row, S.reps, server, w.id)
    end))
  end
  r.works = works

  r.glue = watched("glue", function()
    return sections.glue(ctx, S, server, works[1].row)
  end)
  r.journal = watched("journal", function()
    return sections.journal(ctx, S, server)
  end)
  r.rss = watched("rss", function()
    return sections.rss(ctx, S, server)
  end)
  r.served = { measure.stop_server(server) }

  local slow = measure.start_server(BIN, S.delay_ms, ctx.list_json, ctx.cities_json, "slow")
  r.batch, r.seq = contenders.batch_rows(ctx, slow, S.batch_calls, S.seq_calls, quick and 5 or 20)
  r.batch_load = select(2, watched("batch", function()
    measure.round_robin(r.batch, S.batch_reps, slow, "batch")
    measure.round_robin(r.seq, S.batch_reps, slow, "sequential")
  end))
  measure.stop_server(slow)

  r.startup = contenders.startup(ctx)
  r.startup_how = watched("start-up", function()
    local how, err = measure.startup(r.startup, S.startup_runs, quick and 2 or 5,
      "env " .. ctx.lua_env)
    return how or err
  end)

  r.peak = watched("peak", function()
    return sections.peak(ctx)
  end)

  sections.print_all(ctx, S, r)
  say("")
  say("Load from other processes while measuring: %.2f of %d cores on average%s", load_sum / load_n, ctx.ncpu,
    load_sum / load_n > 0.1 and " — the machine was shared: expect noise, run again when idle" or "")
  say("bench: %.0f s in all%s", socket.gettime() - t_start, quick and " (--quick: one short pass)" or "")
  report.write(BIN .. "/report.txt")
  progress("bench: report written to %s", BIN .. "/report.txt")
end

local ok, err = xpcall(main, debug.traceback)
measure.kill_servers()
if not ok then
  io.stderr:write("bench: ", tostring(err), "\n")
  os.exit(1)
end
