--- report (scripts/usage-report.lua): daily traffic over a range of days,
-- as a table with a bar scaled to the busiest day and a total line, or
-- as CSV or JSON.
-- @module proxyapi.jobs.report

local common = require "proxyapi.jobs.common"
local output = require "proxyapi.output"

local ipairs, tonumber, tostring = ipairs, tonumber, tostring
local format, match = string.format, string.match
local date, time, sort, max = os.date, os.time, table.sort, math.max

local NAME = "usage-report"
local BAR_WIDTH = 40

local report = {
  name = "report",
  script = "usage-report",
  summary = "Daily traffic with a bar chart, over the last days or a range.",
}

local EPILOG = [[
The range is the last --days days ending today (7 by default), or --from
to --to, both days included. Every day of the range gets a row (idle days
too). --csv prints day,flow_kb rows; --json prints {"from":...,"to":...,
"total_kb":...,"days":[{"day":...,"flow_kb":...}]}.]]

-- A real calendar day "YYYY-MM-DD" as an os.time at noon (safe from DST), or nil.
local function day_time(text)
  local y, m, d = match(tostring(text), "^(%d%d%d%d)%-(%d%d)%-(%d%d)$")
  if not y then
    return nil
  end
  local t = time { year = tonumber(y), month = tonumber(m), day = tonumber(d), hour = 12 }
  return date("%Y-%m-%d", t) == text and t or nil
end

local function day_option(label)
  return function(text)
    if day_time(text) == nil then
      return nil, format("%s: a real day YYYY-MM-DD expected, got '%s'", label, text)
    end
    return text
  end
end

local function add_days(t, n)
  local d = date("*t", t)
  return time { year = d.year, month = d.month, day = d.day + n, hour = 12 }
end

function report.define(cmd)
  cmd:option("--days", "Days ending today (default: 7).")
    :argname("N"):convert(common.integer(1, 3660, "--days"))
  cmd:option("--from", "First day, YYYY-MM-DD (with --to).")
    :argname("DAY"):convert(day_option("--from"))
  cmd:option("--to", "Last day, YYYY-MM-DD (with --from).")
    :argname("DAY"):convert(day_option("--to"))
  cmd:option("--user", "Only this account.")
    :argname("NAME")
  cmd:option("--product-type", "Only accounts of this product type (9, 11, 14, 25).")
    :argname("T"):choices { "9", "11", "14", "25" }
  cmd:epilog(EPILOG)
end

--- The rows of the range, one per day (and any other day the API names).
local function daily_rows(list, from_t, to_t)
  local flow_by_day, days = {}, {}
  local t = from_t
  while t <= to_t do
    local day = date("%Y-%m-%d", t)
    flow_by_day[day], days[#days + 1] = 0, day
    t = add_days(t, 1)
  end
  for _, entry in ipairs(list) do
    if flow_by_day[entry.day] == nil then
      flow_by_day[entry.day], days[#days + 1] = 0, entry.day
    end
    flow_by_day[entry.day] = flow_by_day[entry.day] + entry.flow
  end
  sort(days)
  local rows, total, busiest = {}, 0, 0
  for i, day in ipairs(days) do
    local kb = flow_by_day[day]
    rows[i] = { day = day, flow_kb = kb }
    total, busiest = total + kb, max(busiest, kb)
  end
  return rows, total, busiest
end

function report.run(ctx, args)
  local say = common.say(ctx, NAME)
  common.dry_run_header(ctx, NAME)
  if (args.from == nil) ~= (args.to == nil) then
    say("--from and --to go together")
    return 2
  elseif args.from and args.days then
    say("--days excludes --from/--to")
    return 2
  end
  local from_t, to_t
  if args.from then
    from_t, to_t = day_time(args.from), day_time(args.to)
    if from_t > to_t then
      say("--from is after --to")
      return 2
    end
  else
    to_t = day_time(date("%Y-%m-%d"))
    from_t = add_days(to_t, -((args.days or 7) - 1))
  end
  local from, to = date("%Y-%m-%d", from_t), date("%Y-%m-%d", to_t)
  local list, err = ctx.api:usage_flow {
    start_time = from .. " 00:00:00", end_time = to .. " 23:59:59",
    username = args.user, product_type = args.product_type and tonumber(args.product_type),
  }
  if not list then
    return common.fail(ctx, NAME, err)
  end
  local rows, total, busiest = daily_rows(list, from_t, to_t)
  if ctx.format == "json" then
    ctx.out:write(output.json { from = from, to = to, user = args.user, total_kb = total,
                                days = output.array(rows), dry_run = ctx.dry_run }, "\n")
  elseif ctx.format == "csv" then
    output.write_csv({ "day", "flow_kb" }, rows, ctx.out)
  else
    local columns = { { key = "day" }, { key = "flow_kb", title = "traffic", right = true, format = output.human_kb } }
    if busiest > 0 then -- an all-empty bar column would leave a blank rule
      columns[3] = { key = "bar", title = "",
                     format = function(_, row) return output.bar(row.flow_kb, busiest, BAR_WIDTH) end }
    end
    ctx.out:write(output.table(columns, rows))
    ctx.out:write(format("total %s over %d day(s), %s to %s%s\n", output.human_kb(total), #rows, from, to,
      args.user and " for " .. args.user or ""))
  end
  return 0
end

return report
