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

local CSV_KEYS = { "time", "rule", "subject", "channel", "outcome", "detail" }

-- One round's output; `streaming` with --every (JSON lines, CSV header
-- once); `profile` names the round's profile when several take turns (a
-- column of the table and the CSV; JSON lines carry it anyway).
local function emit(ctx, report, streaming, first, profile)
  for _, msg in ipairs(report.errors) do
    ctx.err:write("proxyapi watch: ", profile and "profile " .. profile .. ": " or "", msg, "\n")
  end
  local rows = rows_of(report)
  local columns, keys = COLUMNS, CSV_KEYS
  if profile then
    columns, keys = { { key = "profile" }, table.unpack(COLUMNS) }, { "profile", table.unpack(CSV_KEYS) }
    for _, r in ipairs(rows) do
      r.profile = profile
    end
  end
  if ctx.format == "json" then
    ctx.out:write(output.json(json_of(report)), "\n")
  elseif ctx.format == "csv" then
    if first or not streaming then
      output.write_csv(keys, rows, ctx.out)
    else
      for _, r in ipairs(rows) do
        local fields = {}
        for i, key in ipairs(keys) do
          fields[i] = output.csv_field(r[key] or "")
        end
        ctx.out:write(table.concat(fields, ","), "\n")
      end
    end
  elseif #rows > 0 then
    ctx.out:write(output.table(columns, rows))
  elseif not streaming then
    ctx.out:write(("watch: %s%d accounts, %d packages, nothing to do\n"):format(
      profile and "profile " .. profile .. ": " or "", report.accounts, report.packages))
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

-- The status of several profiles' last rounds: 0 all fine, 3 some, else the first's.
local function status_of(live)
  local fine = 0
  for _, one in ipairs(live) do
    fine = fine + (one.status == 0 and 1 or 0)
  end
  return fine == #live and 0 or fine > 0 and 3 or live[1].status
end

--- Runs the job over several contexts in turn within each round
-- (`--all-profiles` with `--every`: every profile in every round, each
-- with its own history and fired-state). A profile whose client could
-- not be made, or whose round fails, is said and left out after that.
-- @tparam {table,...} list the contexts
-- @tparam table args
-- @tparam[opt] table opts as `run`'s
-- @treturn integer the exit status
function job.run_all(list, args, opts)
  opts = opts or {}
  local several, live = #list > 1, {}
  local function profile_of(ctx)
    return several and tostring(ctx.profile) or nil
  end
  for _, ctx in ipairs(list) do
    local h, herr
    if ctx.failed then
      herr = ctx.failed
    else
      h, herr = watch.open_history(ctx.settings, args.history)
    end
    if h then
      live[#live + 1] = { ctx = ctx, history = h }
    else
      ctx.err:write("proxyapi watch: ", several and "profile " .. tostring(ctx.profile) .. ": " or "",
                    tostring(herr), "\n")
    end
  end
  if #live == 0 then
    return 2
  end
  local failed_early = #live < #list
  local notifier = opts.notifier or notify.new()
  for _, one in ipairs(live) do
    one.round_opts = { history = one.history, notifier = notifier, now = opts.now,
                       command_output = opts.command_output, dry_run = one.ctx.dry_run }
  end
  if list[1].dry_run then
    list[1].err:write("proxyapi watch: dry run: nothing is sent, run or stored\n")
  end
  local first, going = true, #live
  repeat
    local started = core.now()
    for _, one in ipairs(live) do
      if not one.done and not core.interrupted() then
        local report, err, code = watch.round(one.ctx, one.round_opts)
        if not report then
          one.ctx.err:write("proxyapi watch: ", several and "profile " .. tostring(one.ctx.profile) .. ": " or "",
                            tostring(err), "\n")
          one.status, one.done, going = code or 2, true, going - 1
        else
          emit(one.ctx, report, args.every ~= nil, first, profile_of(one.ctx))
          one.status = report.status
          first = false
        end
      end
    end
    if not args.every or going == 0 or core.interrupted() then
      break
    end
    local wait = args.every - (core.now() - started)
  until wait > 0 and not core.sleep(wait) or core.interrupted()
  notifier:close()
  for _, one in ipairs(live) do
    one.history:close()
  end
  local stopped, sig = core.interrupted()
  if stopped then
    return 128 + sig
  end
  local status = status_of(live)
  return (failed_early and status == 0) and 3 or status
end

--- Runs the job; `opts` (for specs and hosts) go to `watch.round` (`now`, `notifier`, `command_output`).
function job.run(ctx, args, opts)
  return job.run_all({ ctx }, args, opts)
end

return {
  name = "watch",
  script = "watch",
  summary = "Evaluate the profile's rules (disable, cap, notify), once or --every interval.",
  define = job.define,
  run = job.run,
  run_all = job.run_all,
  all_at_once = function(args) return args.every ~= nil end, -- --once: each profile's output apart, then joined
  parse_interval = job.parse_interval,
}
