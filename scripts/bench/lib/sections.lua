-- The sections of `make bench` that are not a plain round-robin of one
-- work: glue by instruction counts, the journal's cost, RSS over a long
-- run, and decode peak memory. Each returns what it measured; lib/summary.lua
-- prints it. `ctx` and `S` are run.lua's settings.

local measure = require "measure"
local contenders = require "contenders"

local format = string.format
local quote, progress = measure.quote, measure.progress

local M = {}

--- Instructions per call of each contender, minus the floor's, and the
-- machine's instructions per µs (measured on cjson.decode alone: its Ir
-- per call under callgrind over its CPU µs per call natively, in the
-- fastest of its runs in the 1 KB row and of short runs spread over this
-- section: the least disturbed by other processes).
function M.glue(ctx, S, server, get_row)
  local out = { works = {} }
  local decode_cpu, samples = nil, 0
  for _, c in ipairs(get_row) do
    if c.key == "decode" and c.best_cpu then
      decode_cpu, samples = c.best_cpu, #c.runs
    end
  end
  local loop = quote(ctx.bin .. "/curl_loop")
  local function sample_rate()
    local run = measure.run_once(format("%s --decode-file %s --seconds 0.2 100000000", loop, quote(ctx.list_json)), 30)
    if run and run.cpu_us then
      decode_cpu, samples = math.min(decode_cpu or run.cpu_us, run.cpu_us), samples + 1
    end
  end
  progress("bench: glue: instruction rate (cjson.decode alone under callgrind)")
  local ir, err = measure.instructions_per_call("", function(n)
    return format("%s --decode-file %s %d", loop, quote(ctx.list_json), n)
  end, S.rate_calls, 300)
  for _, kind in ipairs(S.glue_works) do
    local list = contenders.glue(ctx, server, kind)
    local env = contenders.env(ctx, server)
    for _, g in ipairs(list) do
      sample_rate()
      if not g.skip then
        progress("bench: glue: %s: %s (%d and %d calls under callgrind, %d times)", kind, g.name, S.glue_calls,
          2 * S.glue_calls, S.glue_repeats)
        g.ir, g.error, g.split = measure.instructions_per_call(env, g.argv_of, S.glue_calls, 600, S.glue_repeats,
          ctx.build)
      end
    end
    out.works[#out.works + 1] = { kind = kind, list = list }
  end
  if ir and decode_cpu then
    out.rate = ir / decode_cpu
    out.rate_note = format("cjson.decode of the 976-byte reply: %s instructions per call under callgrind, %.2f µs "
      .. "of CPU per call natively, the fastest of %d runs", math.floor(ir + 0.5), decode_cpu, samples)
  else
    out.rate_error = err or "no native CPU time for cjson.decode alone"
  end
  return out
end

--- POST enable without and with `journal = PATH`, when this build has
-- proxyapi.journal; else the reason it was skipped.
function M.journal(ctx, S, server)
  if not (ctx.journal.pxlua or ctx.journal.require) then
    return { skip = "no journal in this build" }
  end
  local list = contenders.journal(ctx, server, S.small, ctx.bin)
  for _, c in ipairs(list) do
    local host = c.key:match("^px_(%a+)")
    if not ctx.journal[host] then
      c.cmd, c.skip = nil, "no journal in this host"
    end
    if c.journal_file then
      os.remove(c.journal_file)
    end
  end
  measure.round_robin(list, S.reps, server, "journal")
  for _, c in ipairs(list) do
    if c.journal_file then
      os.remove(c.journal_file)
      os.remove(c.journal_file .. "-wal")
      os.remove(c.journal_file .. "-shm")
    end
  end
  return { list = list }
end

--- Peak RSS (VmHWM) of a long run of list_accounts, at a tenth and at the end, in both hosts.
function M.rss(ctx, S, server)
  local out = {}
  for _, host in ipairs { "pxlua", "require" } do
    progress("bench: rss: %s, %d calls", host, S.rss_calls)
    local argv = contenders.px_argv(ctx, host, "rss", S.rss_calls, 240)
    local run, text = measure.run_once(contenders.env(ctx, server) .. " " .. argv, 270, server)
    local e = { host = host }
    if run then
      e.first = tonumber(run.text:match("hwm_first_kib=(%-?%d+)"))
      e.last = tonumber(run.text:match("hwm_last_kib=(%-?%d+)"))
      e.us = run.us
      if run.calls < S.rss_calls or not e.first or e.first < 0 or e.last < 0 then
        e.error = format("only %d calls in the time allowed", run.calls)
      end
    else
      e.error = (text or ""):sub(-200)
    end
    out[#out + 1] = e
  end
  return out
end

--- Peak RSS of fetching one big reply through each contender and decoding
-- it once, against decoding the same text read from a file; three shapes.
function M.peak(ctx)
  local out = {}
  for _, shape in ipairs { "numbers", "strings", "accounts" } do
    local file = format("%s/%s.json", ctx.shape_dir, shape)
    local size = #(measure.read_file(file) or "")
    local server = measure.start_server(ctx.bin, 0, file, ctx.cities_json, "peak")
    local list = contenders.peak(ctx, server, file)
    for _, c in ipairs(list) do
      if not c.skip then
        progress("bench: peak: %s: %s", shape, c.name)
        local run, text = measure.run_once(c.cmd, c.limit, nil)
        if run then
          c.hwm = tonumber(run.text:match("hwm_kib=(%d+)"))
          c.before = tonumber(run.text:match("before_kib=(%d+)"))
          c.items = tonumber(run.text:match("items=(%d+)"))
        end
        if not c.hwm then
          c.failure = (text or (run and run.text) or "?"):gsub("%s+$", ""):sub(-200)
        end
      end
    end
    measure.stop_server(server)
    out[#out + 1] = { shape = shape, bytes = size, list = list }
  end
  return out
end

-- the printing of it all lives in lib/summary.lua
M.print_all = function(...)
  return require("summary").print_all(...)
end

return M
