-- luacheck: read globals api proxyapi
-- A daily traffic report: one row per day with the traffic and a bar scaled
-- to the busiest day, and a total; or the same data as CSV or JSON.
local cli = require "proxyapi.cli"

local BAR_WIDTH = 40

local spec = {
  name = "usage-report",
  usage = "pxlua usage-report.lua [--days N | --from YYYY-MM-DD --to YYYY-MM-DD] [options]",
  description = "Reports the daily traffic of all accounts (or of --user) over the last\n"
    .. "--days days ending today, or from --from to --to (both days included), as a\n"
    .. "table with a bar chart scaled to the busiest day and a total line; --csv\n"
    .. "prints day,flow_kb rows; --json prints\n"
    .. '{"from":...,"to":...,"total_kb":...,"days":[{"day":...,"flow_kb":...}]}.',
  options = {
    { name = "--days", value = "N", type = "integer", min = 1, help = "days ending today (default: 7)" },
    { name = "--from", value = "DAY", type = "string", help = "first day, YYYY-MM-DD" },
    { name = "--to", value = "DAY", type = "string", help = "last day, YYYY-MM-DD" },
    { name = "--user", value = "NAME", type = "string", help = "only this account" },
    { name = "--product-type", value = "T", type = "integer", choices = { 9, 11, 14, 25 },
      help = "only accounts of this product type (9, 11, 14, 25)" },
    { name = "--csv", type = "flag", help = "print day,flow_kb CSV" },
    { name = "--json", type = "flag", help = "print a JSON document" },
  },
  max_args = 0,
}
local opts = cli.parse(arg, spec)

local function usage_error(msg) cli.usage_error(spec, msg) end

-- A real calendar day "YYYY-MM-DD" as an os.time at noon (safe from DST), or nil.
local function day_time(text)
  local y, m, d = tostring(text):match("^(%d%d%d%d)%-(%d%d)%-(%d%d)$")
  if not y then return nil end
  local t = os.time { year = tonumber(y), month = tonumber(m), day = tonumber(d), hour = 12 }
  return os.date("%Y-%m-%d", t) == text and t or nil
end

local function add_days(t, n)
  local d = os.date("*t", t)
  return os.time { year = d.year, month = d.month, day = d.day + n, hour = 12 }
end

if opts.csv and opts.json then usage_error("--csv and --json exclude each other") end
if (opts.from == nil) ~= (opts.to == nil) then usage_error("--from and --to go together") end
if opts.from and opts.days then usage_error("--days excludes --from/--to") end
local from_t, to_t
if opts.from then
  from_t = day_time(opts.from) or usage_error("--from: a real day YYYY-MM-DD expected, got '" .. opts.from .. "'")
  to_t = day_time(opts.to) or usage_error("--to: a real day YYYY-MM-DD expected, got '" .. opts.to .. "'")
  if from_t > to_t then usage_error("--from is after --to") end
else
  to_t = day_time(os.date("%Y-%m-%d"))
  from_t = add_days(to_t, -((opts.days or 7) - 1))
end
local from, to = os.date("%Y-%m-%d", from_t), os.date("%Y-%m-%d", to_t)

local list, err = api:usage_flow {
  start_time = from .. " 00:00:00", end_time = to .. " 23:59:59",
  username = opts.user, product_type = opts.product_type,
}
if not list then cli.die("usage-report: " .. tostring(err)) end

-- One row per day of the range (idle days too), plus any other day the API names.
local flow_by_day, days = {}, {}
local t = from_t
while t <= to_t do
  local day = os.date("%Y-%m-%d", t)
  flow_by_day[day], days[#days + 1] = 0, day
  t = add_days(t, 1)
end
for _, entry in ipairs(list) do
  if flow_by_day[entry.day] == nil then
    flow_by_day[entry.day], days[#days + 1] = 0, entry.day
  end
  flow_by_day[entry.day] = flow_by_day[entry.day] + entry.flow
end
table.sort(days)

local rows, total, busiest = {}, 0, 0
for i, day in ipairs(days) do
  local kb = flow_by_day[day]
  rows[i] = { day = day, flow_kb = kb }
  total, busiest = total + kb, math.max(busiest, kb)
end

if opts.csv then
  cli.write_csv({ "day", "flow_kb" }, rows)
elseif opts.json then
  local cjson = require "cjson"
  io.stdout:write(cjson.encode { from = from, to = to, total_kb = total, days = rows }, "\n")
else
  local columns = { { key = "day" }, { key = "flow_kb", title = "traffic", right = true, format = cli.human_kb } }
  if busiest > 0 then -- an all-empty bar column would leave a blank rule
    columns[3] = { key = "bar", title = "",
                   format = function(_, row) return cli.bar(row.flow_kb, busiest, BAR_WIDTH) end }
  end
  io.stdout:write(cli.table(columns, rows))
  io.stdout:write(string.format("total %s over %d day(s), %s to %s%s\n", cli.human_kb(total), #rows, from, to,
    opts.user and " for " .. opts.user or ""))
end
