-- The `make bench` driver (lua5.4): starts the canned loopback server,
-- runs every contender several times (the median counts), and prints one
-- table with a PASS/MISS line per target. Everything talks to 127.0.0.1;
-- every run is bounded in calls and in time (and killed by `timeout`).
--
--   lua5.4 scripts/bench/run.lua [--build DIR] [--reps N] [--quick]
--
-- The report is also written to DIR/bench/report.txt.

local socket = require "socket"
local cjson = require "cjson"

local gettime = socket.gettime
local format, concat = string.format, table.concat

-- ---------------------------------------------------------------------
-- Settings

local root = ((arg and arg[0] or ""):match "^(.*)/scripts/bench/[^/]*$") or "."
local build = "build"
local reps = 7
local quick = false
do
  local i = 1
  while i <= #arg do
    if arg[i] == "--build" and arg[i + 1] then
      build, i = arg[i + 1], i + 1
    elseif arg[i] == "--reps" and (math.tointeger(tonumber(arg[i + 1] or "")) or 0) >= 1 then
      reps, i = math.tointeger(tonumber(arg[i + 1])), i + 1
    elseif arg[i] == "--quick" then
      quick = true
    else
      io.stderr:write("usage: lua5.4 scripts/bench/run.lua [--build DIR] [--reps N] [--quick]\n")
      os.exit(2)
    end
    i = i + 1
  end
end
if build:sub(1, 1) ~= "/" then
  build = root .. "/" .. build
end
if quick then
  reps = math.min(reps, 2)
end

local BIN = build .. "/bench"
local PXLUA = build .. "/pxlua"
local SCRIPTS = root .. "/scripts/bench"
local LIST_JSON = SCRIPTS .. "/list_accounts.json"
local CITIES_JSON = BIN .. "/cities.json"
local APP_KEY = "bEnCh0123456789abcdefghijklmnopq" -- the server ignores it; sent like a real key

-- short runs, many of them, interleaved: the machine may be shared, and
-- noise then hits every contender alike
local SECONDS_SMALL = quick and 0.4 or 0.6 -- per run, ~1 KB replies
local SECONDS_LARGE = quick and 0.6 or 1.0 -- per run, ~200 KB replies
local CHANGE_CALLS = quick and 200 or 1000
local CHANGE_REPS = quick and 1 or 3
local DELAY_MS = 10
local CONCURRENCY = 16
local START_RUNS = quick and 20 or 50
local RSS_MARKS = quick and { 2000, 20000 } or { 10000, 100000 }

-- ---------------------------------------------------------------------
-- Helpers

local out_lines = {}
local function say(fmt, ...)
  local line = select("#", ...) > 0 and format(fmt, ...) or fmt
  io.stdout:write(line, "\n")
  io.stdout:flush()
  out_lines[#out_lines + 1] = line
end

local function progress(fmt, ...)
  io.stderr:write(format(fmt, ...), "\n")
end

local function quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then
    return nil
  end
  local text = f:read("a")
  f:close()
  return text
end

local function capture(cmd)
  local f = assert(io.popen(cmd .. " 2>&1"))
  local text = f:read("a")
  local ok, how, code = f:close()
  return text, ok, how, code
end

local function first_line(cmd)
  return (capture(cmd):match "^[^\n]*")
end

local function median(xs)
  local s = {}
  for i, x in ipairs(xs) do
    s[i] = x
  end
  table.sort(s)
  local n = #s
  if n == 0 then
    return nil
  end
  if n % 2 == 1 then
    return s[(n + 1) // 2]
  end
  return (s[n // 2] + s[n // 2 + 1]) / 2
end

local CLK_TCK = tonumber(first_line("getconf CLK_TCK")) or 100

--- CPU seconds (user + system) a process has used so far.
local function cpu_seconds(pid)
  local stat = read_file("/proc/" .. pid .. "/stat")
  if not stat then
    return nil
  end
  local fields = {}
  for w in stat:match("%) (.*)$"):gmatch("%S+") do
    fields[#fields + 1] = w
  end
  -- after "pid (comm) ": state is field 3 of stat(5), utime 14, stime 15
  return (tonumber(fields[12]) + tonumber(fields[13])) / CLK_TCK
end

local live_servers = {} -- pid -> true while running (not yet in our children's times)

--- CPU seconds used by this driver, its finished children and the live servers.
local function own_cpu()
  local fields = {}
  for w in (read_file("/proc/self/stat") or ""):match("%) (.*)$"):gmatch("%S+") do
    fields[#fields + 1] = w
  end
  -- utime, stime, cutime, cstime: fields 14 to 17 of stat(5)
  local t = (tonumber(fields[12]) + tonumber(fields[13]) + tonumber(fields[14]) + tonumber(fields[15])) / CLK_TCK
  for pid in pairs(live_servers) do
    t = t + (cpu_seconds(pid) or 0)
  end
  return t
end

--- CPU seconds the whole machine has used (user + nice + system), and stolen.
local function machine_cpu()
  local v = {}
  for x in (read_file("/proc/stat") or ""):match("^cpu%s+([^\n]*)"):gmatch("%d+") do
    v[#v + 1] = tonumber(x)
  end
  return (v[1] + v[2] + v[3]) / CLK_TCK, (v[8] or 0) / CLK_TCK
end

-- ---------------------------------------------------------------------
-- The server

local function start_server(delay_ms)
  local errfile = format("%s/server-%d.err", BIN, delay_ms)
  local cmd = format("echo $$; exec %s -t 900 -d %d %s %s 2>%s", quote(BIN .. "/server"), delay_ms,
    quote(LIST_JSON), quote(CITIES_JSON), quote(errfile))
  local f = assert(io.popen(cmd))
  local pid = f:read("l")
  local port = (f:read("l") or ""):match("^PORT=(%d+)$")
  if not (pid and port) then
    error("the benchmark server did not start: " .. (read_file(errfile) or ""))
  end
  live_servers[pid] = true
  return { pipe = f, pid = pid, port = port, errfile = errfile, delay = delay_ms,
           base = "http://127.0.0.1:" .. port }
end

local function stop_server(s)
  os.execute("kill " .. s.pid .. " 2>/dev/null")
  s.pipe:close()
  live_servers[s.pid] = nil
  return (read_file(s.errfile) or ""):match("connections=(%d+) requests=(%d+)")
end

-- ---------------------------------------------------------------------
-- Contenders: each prints calls=N seconds=S for its timed loop

local function env_for(s)
  return format("env NO_PROXY='*' no_proxy='*' PROXYAPI_BASE_URL=%s PROXYAPI_APP_KEY=%s", s.base, APP_KEY)
end

--- Runs one contender; returns {calls=, seconds=, us=, server_us=, extra=} or nil, output.
local function run_once(cmd, limit, server)
  local cpu0 = server and cpu_seconds(server.pid)
  local text, ok = capture(format("timeout -k 5 %d %s", limit, cmd))
  local cpu1 = server and cpu_seconds(server.pid)
  local calls, seconds = text:match("calls=(%d+) seconds=([%d.]+)")
  calls, seconds = tonumber(calls), tonumber(seconds)
  if not ok or not calls or calls == 0 then
    return nil, text
  end
  local r = { calls = calls, seconds = seconds, us = seconds / calls * 1e6, text = text }
  local cpu = tonumber(text:match("cpu=([%d.]+)"))
  r.cpu_us = cpu and cpu / calls * 1e6
  if cpu0 and cpu1 then
    r.server_us = (cpu1 - cpu0) / (calls + 5) * 1e6 -- the warm-up's calls count too
  end
  return r
end

--- Runs every contender `n` times, round-robin; fills each one's runs.
local function measure(contenders, n, server, label)
  for rep = 1, n do
    for _, c in ipairs(contenders) do
      progress("bench: %s: %s (run %d/%d)", label, c.name, rep, n)
      local r, output = run_once(c.cmd, c.limit, server)
      c.runs = c.runs or {}
      if r then
        c.runs[#c.runs + 1] = r
      else
        c.failure = (output or ""):gsub("%s+$", ""):sub(-400)
        progress("bench: %s failed:\n%s", c.name, c.failure)
      end
    end
  end
  for _, c in ipairs(contenders) do
    local us, server_us, cpu_us = {}, {}, {}
    for i, r in ipairs(c.runs) do
      us[i] = r.us
      server_us[#server_us + 1] = r.server_us
      cpu_us[#cpu_us + 1] = r.cpu_us
    end
    c.us = median(us)
    c.cpu_us = median(cpu_us)
    c.best = us[1] and math.min(table.unpack(us))
    c.server_us = median(server_us)
    c.calls = c.runs[1] and c.runs[1].calls
  end
end

local function table_header(title, ratio_label)
  say("")
  say(title)
  say("  %-56s %8s %9s %9s %8s %8s %9s %8s", "contender", "calls/s", "µs/call", "best µs", ratio_label,
    "cpu µs", "cpu ratio", "server µs")
end

local function opt(fmt, v)
  return v and format(fmt, v) or "-"
end

--- One contender's row; the ratio is to base_us (inverted: base_us over this one's, a speed-up).
local function table_row(c, base_us, base_cpu, inverted)
  if not c.us then
    say("  %-56s   FAILED: %s", c.name, (c.failure or "?"):gsub("\n", " | "))
    return
  end
  say("  %-56s %8.0f %9.1f %9.1f %7.2fx %8s %9s %9s", c.name, 1e6 / c.us, c.us, c.best,
    inverted and base_us / c.us or c.us / base_us,
    opt("%.1f", c.cpu_us), opt("%.2fx", c.cpu_us and base_cpu and c.cpu_us / base_cpu), opt("%.1f", c.server_us))
end

-- ---------------------------------------------------------------------
-- Start

local function main()

  local t_start = gettime()
  os.execute("mkdir -p " .. quote(BIN))
  do
    local text, ok = capture(format("lua5.4 %s %s", quote(SCRIPTS .. "/gen-cities.lua"), quote(CITIES_JSON)))
    if not ok then
      error("gen-cities failed: " .. text)
    end
  end
  local list_bytes = #(read_file(LIST_JSON):gsub("%s+$", ""))
  local cities_bytes = #read_file(CITIES_JSON)

  -- the machine
  local cpuinfo = read_file("/proc/cpuinfo") or ""
  local cpu_model = cpuinfo:match("model name%s*:%s*([^\n]+)") or "?"
  local ncpu = 0
  for _ in cpuinfo:gmatch("processor%s*:") do
    ncpu = ncpu + 1
  end
  local kernel = first_line("uname -sr")
  local curl_version = first_line(format("%s -e %s", quote(PXLUA),
    quote('print(require("proxyapi.core").curl_version())')))
  local has_hyperfine = os.execute("command -v hyperfine >/dev/null 2>&1")

  -- Load from elsewhere: CPU the machine used beyond ours, per section.
  local watch, other_total, wall_total = {}, 0, 0
  local function watch_start()
    watch.t, watch.own = gettime(), own_cpu()
    watch.busy, watch.steal = machine_cpu()
  end
  local function watch_end()
    local busy, steal = machine_cpu()
    local wall = gettime() - watch.t
    local other = math.max(0, busy - watch.busy - (own_cpu() - watch.own))
    other_total, wall_total = other_total + other, wall_total + wall
    steal = steal - watch.steal
    return format("  [other processes: %.2f of %d cores%s]", other / wall, ncpu,
      steal > 0.01 * wall and format(", steal %.0f%%", steal / wall * 100) or "")
  end

  say("proxyapi benchmark — %s", os.date("!%Y-%m-%d %H:%M:%S UTC"))
  say("machine: %s, %d cores, %s", cpu_model, ncpu, kernel)
  say("libcurl: %s", curl_version)
  say("lua: %s; %s", first_line("lua5.4 -v"), first_line("lua5.1 -v"))
  say("runs: median of %d per contender (round-robin); server: 1 thread, epoll, canned replies on 127.0.0.1",
    reps)

  local server = start_server(0)
  local errors_seen = {}

  -- (a) and (b): one GET of a list, decoded
  local function list_section(title, path, expect, bytes, seconds, method)
    local url = server.base .. path .. "?app_key=" .. APP_KEY
    local limit = math.ceil(seconds) + 60
    local big = 100000000
    local contenders = {
      { name = "C floor: libcurl easy, 1 reused handle (keep-alive)",
        cmd = format("%s --seconds %g %s %d", quote(BIN .. "/curl_loop"), seconds, quote(url), big) },
      { name = "C floor + cjson.decode (baseline)",
        cmd = format("%s --decode --seconds %g %s %d", quote(BIN .. "/curl_loop"), seconds, quote(url), big) },
      { name = format("proxyapi api:%s() via pxlua", method), target = true,
        cmd = format("%s %s %s %s %d %g", env_for(server), quote(PXLUA), quote(SCRIPTS .. "/proxyapi.lua"),
          method, big, seconds) },
      { name = "LuaSocket socket.http (new connection per call) + cjson",
        cmd = format("lua5.4 %s %s %d %g %d", quote(SCRIPTS .. "/luasocket.lua"), quote(url), big, seconds, expect) },
      { name = "Debian lua-curl 0.3 (Lua 5.1), 1 reused handle + cjson",
        cmd = format("lua5.1 %s %s %d %g %d", quote(SCRIPTS .. "/luacurl.lua"), quote(url), big, seconds, expect) },
    }
    for _, c in ipairs(contenders) do
      c.limit = limit
    end
    watch_start()
    measure(contenders, reps, server, title:match "^%((%a)%)")
    local load = watch_end()
    local base = contenders[2].us
    table_header(format("%s — GET %s, %d-byte reply, decoded%s", title, path, bytes, load), "vs base")
    if not base then
      errors_seen[#errors_seen + 1] = title .. ": the baseline failed"
      for _, c in ipairs(contenders) do
        table_row(c, 1)
      end
      return nil
    end
    for _, c in ipairs(contenders) do
      table_row(c, base, contenders[2].cpu_us)
    end
    local px = contenders[3]
    if not px.us then
      return nil
    end
    return px.us / base, px.best / contenders[2].best
  end

  local ratio_a, best_a = list_section("(a) list_accounts", "/openapi/whitelist-account/list", 5, list_bytes,
    SECONDS_SMALL, "list_accounts")
  local ratio_b, best_b = list_section("(b) list_cities", "/openapi/ip/dynamic-citys", 26, cities_bytes,
    SECONDS_LARGE, "list_cities")
  local served_conns, served_reqs = stop_server(server)

  -- (c) change_limit against a server that waits 10 ms per request
  local slow = start_server(DELAY_MS)
  local seq = { name = format("proxyapi api:change_limit sequential (%d calls)", CHANGE_CALLS),
                cmd = format("%s %s %s change_limit %d 120", env_for(slow), quote(PXLUA),
                  quote(SCRIPTS .. "/proxyapi.lua"), CHANGE_CALLS), limit = 150 }
  local par = { name = format("proxyapi api:map, concurrency %d (%d calls)", CONCURRENCY, CHANGE_CALLS),
                cmd = format("%s %s %s map %d 120", env_for(slow), quote(PXLUA),
                  quote(SCRIPTS .. "/proxyapi.lua"), CHANGE_CALLS), limit = 150 }
  watch_start()
  measure({ seq, par }, CHANGE_REPS, slow, "c")
  local load_c = watch_end()
  local slow_conns, slow_reqs = stop_server(slow)
  table_header(format("(c) POST change_limit, server delay %d ms per request%s", DELAY_MS, load_c), "speed-up")
  local speedup
  if seq.us and par.us then
    speedup = seq.us / par.us
    table_row(seq, seq.us, seq.cpu_us)
    table_row(par, seq.us, seq.cpu_us, true)
  else
    table_row(seq, seq.us or 1)
    table_row(par, seq.us or 1)
  end
  say("  (ideal: %.0f calls/s sequential, %.0f at concurrency %d)", 1000 / DELAY_MS,
    1000 / DELAY_MS * CONCURRENCY, CONCURRENCY)

  -- (d) start-up: rounds of all three commands, so that load from elsewhere
  -- on the machine falls on each of them alike
  local startup = {
    { name = "build/pxlua -e ''", cmd = quote(PXLUA) .. " -e ''" },
    { name = "lua5.4 -e ''", cmd = "lua5.4 -e ''" },
    { name = "build/bench/curl_init (libcurl global init + cleanup)", cmd = quote(BIN .. "/curl_init") },
  }
  for _, c in ipairs(startup) do
    c.times = {}
  end
  local ROUNDS = 5
  local how
  watch_start()
  if has_hyperfine then
    how = format("hyperfine -N, %d rounds of %d runs each after 2 warm-up runs", ROUNDS, START_RUNS // ROUNDS)
    local json = BIN .. "/startup.json"
    local args = {}
    for i, c in ipairs(startup) do
      args[i] = quote(c.cmd)
    end
    for round = 1, ROUNDS do
      progress("bench: d: hyperfine (round %d/%d)", round, ROUNDS)
      local text, ok = capture(format("timeout -k 5 120 hyperfine -N --runs %d --warmup 2 --export-json %s %s",
        START_RUNS // ROUNDS, quote(json), concat(args, " ")))
      local results = ok and cjson.decode(read_file(json) or "null")
      if not results then
        errors_seen[#errors_seen + 1] = "hyperfine failed: " .. text
        break
      end
      for i, r in ipairs(results.results) do
        table.move(r.times, 1, #r.times, #startup[i].times + 1, startup[i].times)
      end
    end
  else
    how = format("fork/exec through os.execute, %d runs each, interleaved (the shell included)", START_RUNS)
    progress("bench: d: os.execute loop")
    for _ = 1, START_RUNS do
      for _, c in ipairs(startup) do
        local t0 = gettime()
        os.execute(c.cmd .. " >/dev/null 2>&1")
        c.times[#c.times + 1] = gettime() - t0
      end
    end
  end
  for _, c in ipairs(startup) do
    local n = #c.times
    if n > 0 then
      local sum = 0
      for _, t in ipairs(c.times) do
        sum = sum + t
      end
      c.ms, c.median, c.best = sum / n * 1000, median(c.times) * 1000, math.min(table.unpack(c.times)) * 1000
    end
  end
  local startup_ratio, startup_median_ratio
  say("")
  say("(d) start-up (%s)%s", how, watch_end())
  say("  %-56s %10s %10s %10s %9s", "command", "mean ms", "median ms", "best ms", "vs curl")
  for _, c in ipairs(startup) do
    if c.ms and startup[3].ms then
      say("  %-56s %10.2f %10.2f %10.2f %8.2fx", c.name, c.ms, c.median, c.best, c.ms / startup[3].ms)
    else
      say("  %-56s %10s", c.name, "FAILED")
    end
  end
  if startup[1].ms and startup[3].ms then
    startup_ratio = startup[1].ms / startup[3].ms
    startup_median_ratio = startup[1].median / startup[3].median
  end

  -- (e) peak RSS over a long run
  progress("bench: e: rss")
  watch_start()
  local rss_server = start_server(0)
  local rss = run_once(format("%s %s %s rss %d 240", env_for(rss_server), quote(PXLUA),
    quote(SCRIPTS .. "/proxyapi.lua"), RSS_MARKS[2]), 270, rss_server)
  stop_server(rss_server)
  local load_e = watch_end()
  local hwm1, hwm2
  if rss then
    hwm1 = tonumber(rss.text:match("hwm_first_kib=(%-?%d+)"))
    hwm2 = tonumber(rss.text:match("hwm_last_kib=(%-?%d+)"))
    if rss.calls < RSS_MARKS[2] or not hwm1 or not hwm2 or hwm1 < 0 or hwm2 < 0 then
      hwm1, hwm2 = nil, nil
    end
  end
  say("")
  say("(e) peak RSS (VmHWM) of pxlua running api:list_accounts() in a loop%s", load_e)
  if hwm1 then
    say("  after %7d calls: %8d KiB", RSS_MARKS[1], hwm1)
    say("  after %7d calls: %8d KiB   difference %+d KiB   (%.1f µs/call over the run)", RSS_MARKS[2], hwm2,
      hwm2 - hwm1, rss.us)
  else
    say("  FAILED: %s", rss and rss.text or "no output")
  end

  say("")
  say("µs/call: wall time per call, median of the runs (the ratios and targets use it); best µs: the")
  say("fastest run; cpu µs: the client's own CPU time per call (user + system), median: what the library")
  say("costs, whatever the scheduling; server µs: the server's CPU time per call (1 thread; 2 cores in all).")
  say("  Server totals: %s connections, %s requests for (a)+(b); %s connections, %s requests for (c).",
    served_conns or "?", served_reqs or "?", slow_conns or "?", slow_reqs or "?")

  -- ---------------------------------------------------------------------
  -- Targets

  local function verdict(ok)
    if ok == nil then
      return "MISS (not measured)"
    end
    return ok and "PASS" or "MISS"
  end

  say("")
  say("Targets")
  local function x(v, digits)
    return v and format("%." .. (digits or 2) .. "f", v) .. "x" or "-"
  end
  local function target(text, ok, note)
    say("  %-66s %-5s%s", text, verdict(ok), note and "  (" .. note .. ")" or "")
  end
  target(format("proxyapi <= 1.15x (C floor + cjson.decode), ~1 KB reply: %s", x(ratio_a)),
    ratio_a and ratio_a <= 1.15, best_a and "fastest runs: " .. x(best_a))
  target(format("proxyapi <= 1.15x (C floor + cjson.decode), ~200 KB reply: %s", x(ratio_b)),
    ratio_b and ratio_b <= 1.15, best_b and "fastest runs: " .. x(best_b))
  target(format("api:map >= 12x sequential at concurrency 16: %s", x(speedup, 1)), speedup and speedup >= 12)
  target(format("pxlua start-up <= 1.2x curl_init (means): %s", x(startup_ratio)),
    startup_ratio and startup_ratio <= 1.2, startup_median_ratio and "medians: " .. x(startup_median_ratio))
  target(format("RSS(%dk) within 1 MiB of RSS(%dk): %s", RSS_MARKS[2] // 1000, RSS_MARKS[1] // 1000,
    hwm1 and format("%+d KiB", hwm2 - hwm1) or "-"), hwm1 and hwm2 - hwm1 <= 1024)
  for _, e in ipairs(errors_seen) do
    say("  error: %s", e)
  end
  say("")
  say("Load from other processes while measuring: %.2f of %d cores on average%s", other_total / wall_total, ncpu,
    other_total / wall_total > 0.1 and " — the machine was shared: expect noise, run again when idle" or "")
  say("bench: %.0f s in all", gettime() - t_start)

  local f = io.open(BIN .. "/report.txt", "w")
  if f then
    f:write(concat(out_lines, "\n"), "\n")
    f:close()
  end
end

local ok, err = xpcall(main, debug.traceback)
for pid in pairs(live_servers) do -- after a failure: leave no server behind
  os.execute("kill " .. pid .. " 2>/dev/null")
end
if not ok then
  io.stderr:write("bench: ", tostring(err), "\n")
  os.exit(1)
end
