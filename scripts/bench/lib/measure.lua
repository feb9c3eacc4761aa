-- How `make bench` measures: processes, the server, CPU pinning, the
-- round-robin runs, hyperfine and callgrind. Used by scripts/bench/run.lua.
-- Every child runs under `timeout`, so every loop is bounded in time too.

local socket = require "socket"
local cjson = require "cjson"

local format = string.format
local gettime = socket.gettime

local M = {}

function M.quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end
local quote = M.quote

function M.read_file(path)
  local f = io.open(path, "rb")
  if not f then
    return nil
  end
  local text = f:read("a")
  f:close()
  return text
end
local read_file = M.read_file

function M.write_file(path, text)
  local f = assert(io.open(path, "wb"))
  assert(f:write(text))
  assert(f:close())
end

--- Runs a shell command; returns its output (stdout and stderr) and whether it exited 0.
function M.capture(cmd)
  local f = assert(io.popen(cmd .. " 2>&1"))
  local text = f:read("a")
  local ok = f:close()
  return text, ok == true
end
local capture = M.capture

function M.first_line(cmd)
  return (capture(cmd):match "^[^\n]*")
end

function M.succeeds(cmd)
  return os.execute(cmd .. " >/dev/null 2>&1") == true
end

function M.progress(fmt, ...)
  io.stderr:write(format(fmt, ...), "\n")
end
local progress = M.progress

function M.median(xs)
  local s = table.move(xs, 1, #xs, 1, {})
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
local median = M.median

-- ---------------------------------------------------------------------
-- CPU time and load from elsewhere

local CLK_TCK = tonumber(M.first_line("getconf CLK_TCK")) or 100

--- The fields of /proc/PID/stat after "pid (comm) ": [12] is utime, [13] stime.
local function stat_fields(pid)
  local stat = read_file("/proc/" .. pid .. "/stat")
  local fields = {}
  for w in ((stat or ""):match("%) (.*)$") or ""):gmatch("%S+") do
    fields[#fields + 1] = tonumber(w) or 0
  end
  return fields
end

--- CPU seconds (user + system) a live process has used so far.
function M.cpu_seconds(pid)
  local f = stat_fields(pid)
  return f[13] and (f[12] + f[13]) / CLK_TCK
end

local live_servers = {} -- pid -> true while running (not yet in our children's times)

--- CPU seconds used by this driver, its finished children and the live servers.
local function own_cpu()
  local f = stat_fields("self")
  local t = (f[12] + f[13] + f[14] + f[15]) / CLK_TCK
  for pid in pairs(live_servers) do
    t = t + (M.cpu_seconds(pid) or 0)
  end
  return t
end

--- CPU seconds the whole machine has used (user + nice + system), and stolen.
local function machine_cpu()
  local v = {}
  for x in ((read_file("/proc/stat") or ""):match("^cpu%s+([^\n]*)") or ""):gmatch("%d+") do
    v[#v + 1] = tonumber(x)
  end
  return (v[1] + v[2] + v[3]) / CLK_TCK, (v[8] or 0) / CLK_TCK
end

--- A watch of the load other processes put on the machine; :done() says how much.
function M.watch(ncpu)
  local w = { t = gettime(), own = own_cpu() }
  w.busy, w.steal = machine_cpu()
  function w.done()
    local busy, steal = machine_cpu()
    local wall = math.max(gettime() - w.t, 1e-3)
    local other = math.max(0, busy - w.busy - (own_cpu() - w.own))
    steal = steal - w.steal
    return other / wall, format("[other processes: %.2f of %d cores%s]", other / wall, ncpu,
      steal > 0.01 * wall and format(", steal %.0f%%", steal / wall * 100) or "")
  end
  return w
end

-- ---------------------------------------------------------------------
-- Pinning: the server on one CPU, every client on another

M.client_cpu, M.server_cpu = nil, nil

--- Pins when there are two CPUs or more and taskset works; returns a description.
function M.setup_pinning(ncpu)
  if ncpu >= 2 and M.succeeds("taskset -c 0 true") then
    M.client_cpu, M.server_cpu = 0, 1
    return "server on CPU 1, clients on CPU 0 (taskset)"
  end
  return "not pinned (" .. (ncpu < 2 and "one CPU" or "no taskset") .. ")"
end

function M.client(cmd)
  return M.client_cpu and format("taskset -c %d %s", M.client_cpu, cmd) or cmd
end

-- ---------------------------------------------------------------------
-- The server

--- Starts the canned server; `list` is the body served as list_accounts.
function M.start_server(bin_dir, delay_ms, list, cities, tag)
  local errfile = format("%s/server-%s.err", bin_dir, tag or delay_ms)
  local pin = M.server_cpu and format("taskset -c %d ", M.server_cpu) or ""
  local cmd = format("echo $$; exec %s%s -t 900 -d %d %s %s 2>%s", pin, quote(bin_dir .. "/server"), delay_ms,
    quote(list), quote(cities), quote(errfile))
  local f = assert(io.popen(cmd))
  local pid = f:read("l")
  local port = (f:read("l") or ""):match("^PORT=(%d+)$")
  if not (pid and port) then
    f:close()
    error("the benchmark server did not start: " .. (read_file(errfile) or ""))
  end
  live_servers[pid] = true
  return { pipe = f, pid = pid, port = port, errfile = errfile, delay = delay_ms, base = "http://127.0.0.1:" .. port }
end

--- Stops it; returns its connection and request counts.
function M.stop_server(s)
  os.execute("kill " .. s.pid .. " 2>/dev/null")
  s.pipe:close()
  live_servers[s.pid] = nil
  return (read_file(s.errfile) or ""):match("connections=(%d+) requests=(%d+)")
end

--- After a failure: leave no server behind.
function M.kill_servers()
  for pid in pairs(live_servers) do
    os.execute("kill " .. pid .. " 2>/dev/null")
  end
end

-- ---------------------------------------------------------------------
-- Timed runs

--- Runs one contender; returns {calls=, seconds=, us=, cpu_us=, server_us=, text=} or nil, output.
function M.run_once(cmd, limit, server)
  local cpu0 = server and M.cpu_seconds(server.pid)
  local text, ok = capture(format("timeout -k 5 %d %s", limit, M.client(cmd)))
  local cpu1 = server and M.cpu_seconds(server.pid)
  local calls, seconds = text:match("calls=(%d+) seconds=([%d.]+)")
  calls, seconds = tonumber(calls), tonumber(seconds)
  if not ok or not calls or calls == 0 then
    return nil, text
  end
  local r = { calls = calls, seconds = seconds, us = seconds / calls * 1e6, text = text }
  local cpu = tonumber(text:match("cpu=([%d.]+)"))
  r.cpu_us = cpu and cpu / calls * 1e6
  if cpu0 and cpu1 and cpu1 - cpu0 >= 5 / CLK_TCK then -- a few clock ticks at least, or it says nothing
    r.server_us = (cpu1 - cpu0) / (calls + 5) * 1e6 -- the warm-up's calls count too
  end
  return r
end

local function summarise(c)
  local us, server_us, cpu_us = {}, {}, {}
  for i, r in ipairs(c.runs) do
    us[i] = r.us
    server_us[#server_us + 1] = r.server_us
    cpu_us[#cpu_us + 1] = r.cpu_us
  end
  c.us, c.cpu_us, c.server_us = median(us), median(cpu_us), median(server_us)
  c.best = us[1] and math.min(table.unpack(us))
  c.best_cpu = cpu_us[1] and math.min(table.unpack(cpu_us))
  c.calls = c.runs[1] and c.runs[1].calls
end

--- Runs every contender (those with a cmd) `reps` times, round-robin, so
-- that noise from elsewhere falls on all alike; fills us/cpu_us/best.
function M.round_robin(contenders, reps, server, label)
  for rep = 1, reps do
    for _, c in ipairs(contenders) do
      if c.cmd and not c.failure then
        progress("bench: %s: %s (run %d/%d)", label, c.name, rep, reps)
        local r, output = M.run_once(c.cmd, c.limit or 120, server)
        c.runs = c.runs or {}
        if r then
          c.runs[#c.runs + 1] = r
        else
          c.failure = (output or ""):gsub("%s+$", ""):sub(-300)
          progress("bench: %s failed:\n%s", c.name, c.failure)
        end
      end
    end
  end
  for _, c in ipairs(contenders) do
    if c.runs and #c.runs > 0 then
      summarise(c)
    end
  end
end

-- ---------------------------------------------------------------------
-- Start-up: hyperfine, in rounds, so that load falls on every command alike

--- Fills c.mean_us/c.median_us/c.best_us of each {name=, cmd=}; returns how, or nil, error.
function M.startup(all, runs, rounds, env)
  local cmds = {}
  for _, c in ipairs(all) do
    if c.cmd then
      c.times = {}
      cmds[#cmds + 1] = c
    end
  end
  local has_hyperfine = M.succeeds("command -v hyperfine")
  local json = os.tmpname()
  for round = 1, rounds do
    progress("bench: start-up (round %d/%d)", round, rounds)
    if has_hyperfine then
      local args = {}
      for i, c in ipairs(cmds) do
        args[i] = quote(c.cmd)
      end
      local hyperfine = format("hyperfine -N --runs %d --warmup 2 --export-json %s %s", runs // rounds, quote(json),
        table.concat(args, " "))
      local text, ok = capture(format("%s timeout -k 5 120 %s", env, M.client(hyperfine)))
      local results = ok and cjson.decode(read_file(json) or "null")
      if not results then
        os.remove(json)
        return nil, "hyperfine failed: " .. text:sub(-300)
      end
      for i, r in ipairs(results.results) do
        table.move(r.times, 1, #r.times, #cmds[i].times + 1, cmds[i].times)
      end
    else
      for _ = 1, runs // rounds do
        for _, c in ipairs(cmds) do
          local t0 = gettime()
          os.execute(format("%s %s >/dev/null 2>&1", env, M.client(c.cmd)))
          c.times[#c.times + 1] = gettime() - t0
        end
      end
    end
  end
  os.remove(json)
  for _, c in ipairs(cmds) do
    local n, sum = #c.times, 0
    for _, t in ipairs(c.times) do
      sum = sum + t
    end
    if n > 0 then
      c.us, c.median_us = sum / n * 1e6, median(c.times) * 1e6
      c.best = math.min(table.unpack(c.times)) * 1e6
    end
  end
  return has_hyperfine and format("hyperfine -N, %d rounds of %d runs after 2 warm-up runs", rounds, runs // rounds)
    or format("no hyperfine: fork/exec through the shell, %d runs each, interleaved", runs)
end

-- ---------------------------------------------------------------------
-- Instruction counts: callgrind's "Collected" total of a whole process

--- Instructions a command executes (user space, all of the process), or nil, output.
-- `env` (an "env A=B ..." prefix or "") goes before valgrind, which follows no children.
-- With `build` (the build folder), also how they split (lib/split.lua).
function M.instructions(env, argv, limit, build)
  local out = build and os.tmpname() or "/dev/null"
  local text = capture(format("timeout -k 5 %d %s", limit,
    M.client(env .. " valgrind --tool=callgrind --callgrind-out-file=" .. quote(out) .. " " .. argv)))
  local ir = tonumber((text:match("Collected%s*:%s*(%d+)")))
  local parts
  if build then
    parts = ir and require("split").profile(out, build)
    os.remove(out)
  end
  if not ir or not text:match("calls=%d+") then
    return nil, text:sub(-300)
  end
  return ir, parts
end

--- Instructions per call: (I(2N) - I(N)) / N, with `argv_of(n)` the command
-- for n calls. Each count is the least of `repeats` runs: a client that
-- waits longer on a busy server spins its poll loop more, which only adds.
-- With `build`, also the split per call (libcurl, decode, own), from the
-- same least runs.
function M.instructions_per_call(env, argv_of, n, limit, repeats, build)
  local least, parts = {}, {}
  for _ = 1, repeats or 1 do
    for k, calls in ipairs { n, 2 * n } do
      local ir, split = M.instructions(env, argv_of(calls), limit, build)
      if not ir then
        return nil, split
      end
      if least[k] == nil or ir < least[k] then
        least[k], parts[k] = ir, split
      end
    end
  end
  local per_call
  if parts[1] and parts[2] then
    per_call = {}
    for key, v in pairs(parts[2]) do
      per_call[key] = (v - parts[1][key]) / n
    end
  end
  return (least[2] - least[1]) / n, nil, per_call
end

return M
