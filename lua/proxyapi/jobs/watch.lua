--- `proxyapi watch [--once | --every 5m]`: the profile's rules, once or
-- every interval (measured from the start of each round), through
-- proxyapi.watch. SIGTERM or SIGINT (the core's interrupt flag) ends
-- `--every` between rounds; a round already running finishes within the
-- client's grace. `--json` prints one JSON document (`--once`) or one
-- JSON line per round (`--every`).
-- @module proxyapi.jobs.watch

local core = require "proxyapi.core"
local output = require "proxyapi.output"
local watch = require "proxyapi.watch"
local notify = require "proxyapi.notify"

local tonumber, tostring, ipairs, match = tonumber, tostring, ipairs, string.match
local os_date = os.date

local job = {}

local UNITS = { s = 1, m = 60, h = 3600 }

--- An interval: "30s", "5m", "1h", or seconds ("90"); at least 1 s.
-- @tparam string text
-- @treturn number seconds
-- @return[2] nil
-- @treturn[2] string why
function job.parse_interval(text)
  local n, unit = match(tostring(text), "^(%d+%.?%d*)([smh]?)$")
  local seconds = n and tonumber(n) * UNITS[unit == "" and "s" or unit]
  if not seconds or seconds < 1 or seconds > 7 * 86400 then
    return nil, "--every: an interval such as 30s, 5m or 1h expected (1 s to 7 days), got " .. tostring(text)
  end
  return seconds
end

local COLUMNS = {
  { key = "time" }, { key = "rule" }, { key = "subject" }, { key = "channel", title = "action" },
  { key = "outcome" }, { key = "detail" },
}

local function rows_of(report)
  local rows, time = {}, os_date("%Y-%m-%d %H:%M:%S", report.time)
  for i, a in ipairs(report.actions) do
    rows[i] = { time = time, rule = a.rule, subject = a.subject, channel = a.channel,
                outcome = a.outcome == "would" and a.detail or a.outcome,
                detail = a.outcome == "would" and "" or (a.detail or "") .. (a.retry and " (retry)" or "") }
  end
  return rows
end

local function json_of(report)
  local actions = {}
  for i, a in ipairs(report.actions) do
    actions[i] = { rule = a.rule, action = a.action, channel = a.channel, outcome = a.outcome, subject = a.subject,
                   kind = a.kind, id = a.id, period = a.period, retry = a.retry, detail = a.detail }
  end
  return { time = os_date("!%Y-%m-%dT%H:%M:%SZ", report.time), day = report.day, profile = report.profile,
           dry_run = report.dry_run, accounts = report.accounts, packages = report.packages,
           actions = output.array(actions), errors = output.array(report.errors), status = report.status }
end

-- One round's output; `streaming` with --every (JSON lines, CSV header once).
local function emit(ctx, report, streaming, first)
  for _, msg in ipairs(report.errors) do
    ctx.err:write("proxyapi watch: ", msg, "\n")
  end
  local rows = rows_of(report)
  if ctx.format == "json" then
    ctx.out:write(output.json(json_of(report)), "\n")
  elseif ctx.format == "csv" then
    if first or not streaming then
      output.write_csv({ "time", "rule", "subject", "channel", "outcome", "detail" }, rows, ctx.out)
    else
      for _, r in ipairs(rows) do
        local fields = {}
        for i, key in ipairs { "time", "rule", "subject", "channel", "outcome", "detail" } do
          fields[i] = output.csv_field(r[key] or "")
        end
        ctx.out:write(table.concat(fields, ","), "\n")
      end
    end
  elseif #rows > 0 then
    ctx.out:write(output.table(COLUMNS, rows))
  elseif not streaming then
    ctx.out:write(("watch: %d accounts, %d packages, nothing to do\n"):format(report.accounts, report.packages))
  end
  if ctx.out.flush then
    ctx.out:flush()
  end
end

function job.define(cmd)
  cmd:mutex(
    cmd:flag("--once", "Evaluate the rules once (the default)."),
    cmd:option("--every", "Evaluate every INTERVAL (30s, 5m, 1h), measured from each round's start, " ..
      "until SIGTERM or SIGINT.", nil, job.parse_interval):argname("INTERVAL")
  )
  cmd:option("--history", "The history database holding the fired-state (default: the profile's `history`, " ..
    "else $XDG_STATE_HOME/proxyapi/history.sqlite3).")
end

--- Runs the job; `opts` (for specs and hosts) go to `watch.round` (`now`, `notifier`, `command_output`).
function job.run(ctx, args, opts)
  opts = opts or {}
  local h, herr = watch.open_history(ctx.settings, args.history)
  if not h then
    ctx.err:write("proxyapi watch: ", tostring(herr), "\n")
    return 2
  end
  local notifier = opts.notifier or notify.new()
  local round_opts = { history = h, notifier = notifier, now = opts.now, command_output = opts.command_output,
                       dry_run = ctx.dry_run }
  if ctx.dry_run then
    ctx.err:write("proxyapi watch: dry run: nothing is sent, run or stored\n")
  end
  local status, first
  first = true
  repeat
    local started = core.now()
    local report, err, code = watch.round(ctx, round_opts)
    if not report then
      ctx.err:write("proxyapi watch: ", tostring(err), "\n")
      status = code or 2
      break
    end
    emit(ctx, report, args.every ~= nil, first)
    first, status = false, report.status
    if not args.every or core.interrupted() then
      break
    end
    local wait = args.every - (core.now() - started)
  until wait > 0 and not core.sleep(wait) or core.interrupted()
  notifier:close()
  h:close()
  local stopped, sig = core.interrupted()
  if stopped then
    return 128 + sig
  end
  return status
end

return {
  name = "watch",
  script = "watch",
  summary = "Evaluate the profile's rules (disable, cap, notify), once or --every interval.",
  define = job.define,
  run = job.run,
  parse_interval = job.parse_interval,
}
