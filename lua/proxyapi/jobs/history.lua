--- `proxyapi history sync`: the profile's accounts (never their
-- passwords) and per-account per-day usage stored in the history
-- database, idempotently (see proxyapi.history). It only reads the API,
-- so a dry run syncs all the same (and says so).
-- @module proxyapi.jobs.history

local cli = require "proxyapi.cli"
local output = require "proxyapi.output"
local errors = require "proxyapi.errors"
local watch = require "proxyapi.watch"

local tointeger, tonumber, tostring, ipairs = math.tointeger, tonumber, tostring, ipairs
local os_date = os.date

local COLUMNS = {
  { key = "profile" }, { key = "base_host", title = "host" }, { key = "from" }, { key = "to" },
  { key = "accounts", right = true }, { key = "usage_days", title = "usage rows", right = true },
  { key = "changed", right = true }, { key = "failed_count", title = "failed", right = true },
}

local function days_option(s)
  local n = tointeger(tonumber(s))
  if not n or n < 1 or n > 3660 then
    return nil, "--days: a whole number of days from 1 to 3660 expected"
  end
  return n
end

local function day_option(s)
  if not require("proxyapi.variables").civil(s) then
    return nil, "a day YYYY-MM-DD expected, got " .. s
  end
  return s
end

local function define(cmd)
  local sync = cli.command(cmd, "sync", "Store accounts (without passwords) and per-account per-day usage " ..
    "in the history database; running it again over the same days changes nothing.")
  sync:option("--days", "The N days ending today (default 7).", nil, days_option)
  sync:option("--from", "First day, YYYY-MM-DD (with --to).", nil, day_option)
  sync:option("--to", "Last day, YYYY-MM-DD (default today).", nil, day_option)
  sync:option("--history", "The history database (default: the profile's `history`, else " ..
    "$XDG_STATE_HOME/proxyapi/history.sqlite3).")
end

local function sync(ctx, args)
  if args.days and (args.from or args.to) then
    ctx.err:write("proxyapi history sync: give --days or --from/--to, not both\n")
    return 2
  end
  if args.from and args.to and args.from > args.to then
    ctx.err:write("proxyapi history sync: --from is after --to\n")
    return 2
  end
  local now, nerr = watch.now()
  if not now then
    ctx.err:write("proxyapi history sync: ", nerr, "\n")
    return 2
  end
  local to = args.to or os_date("%Y-%m-%d", now)
  local window = { to = to, from = args.from, days = not args.from and (args.days or 7) or nil }
  local h, herr = watch.open_history(ctx.settings, args.history)
  if not h then
    ctx.err:write("proxyapi history sync: ", tostring(herr), "\n")
    return 2
  end
  if ctx.dry_run then
    ctx.err:write("proxyapi history sync: dry run: history sync only reads the API; the history is written\n")
  end
  local summary, err = h:sync(ctx.api, window)
  h:close()
  if not summary then
    ctx.err:write("proxyapi history sync: ", tostring(err), "\n")
    return errors.is_error(err) and errors.exit_code(err) or 5
  end
  local from = window.from
  if not from then -- as history.sync counts it: the days ending `to`
    local y, m, d = to:match("^(%d+)-(%d+)-(%d+)$")
    from = os_date("%Y-%m-%d", os.time { year = tointeger(y), month = tointeger(m),
                                         day = tointeger(d) - window.days + 1, hour = 12 })
  end
  local row = { profile = ctx.profile or "", base_host = watch.base_host(ctx.api), from = from, to = to,
                accounts = summary.accounts, usage_days = summary.days, changed = summary.changed,
                failed_count = #summary.failed }
  local failed = {}
  for i, name in ipairs(summary.failed) do
    failed[i] = { account = name, error = tostring(summary.errs[i]) }
    ctx.err:write("proxyapi history sync: usage of ", name, ": ", tostring(summary.errs[i]), "\n")
  end
  if summary.products_err then
    ctx.err:write("proxyapi history sync: products: ", tostring(summary.products_err), "\n")
  end
  local doc = { profile = ctx.profile, base_host = row.base_host, from = from, to = to, accounts = row.accounts,
                usage_days = row.usage_days, changed = row.changed, failed = output.array(failed),
                products_error = summary.products_err and tostring(summary.products_err) or nil,
                dry_run = ctx.dry_run or false }
  output.emit(ctx.format, COLUMNS, { row }, doc, ctx.out)
  if #summary.failed > 0 or summary.products_err then
    return 3
  end
  return 0
end

return {
  name = "history",
  script = "history",
  summary = "Keep accounts and per-day usage in the local history database (history sync).",
  define = define,
  run = function(ctx, args)
    if args.sync then
      return sync(ctx, args)
    end
    ctx.err:write("proxyapi history: a subcommand is needed: sync\n")
    return 2
  end,
}
