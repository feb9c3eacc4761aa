--- The variables watch rules read, from an account and its per-day
-- usage or from a package; and the provider's times and days.
-- @module proxyapi.variables

local type, ipairs, tostring, tonumber, error = type, ipairs, tostring, tonumber, error
local format, match, sub = string.format, string.match, string.sub
local tointeger, floor = math.tointeger, math.floor

local variables = {}

local KB_PER_GB = 1024 * 1024 -- usage_flow is in KB, limit_flow in GB (1024^3 bytes)

--- `"YYYY-MM-DD"` naming a real day -> year, month, day.
-- @tparam string day
-- @treturn[1] integer year, month, day
-- @treturn[2] nil when day is not a real day
function variables.civil(day)
  local y, m, d = match(type(day) == "string" and day or "", "^(%d%d%d%d)%-(%d%d)%-(%d%d)$")
  if not y then
    return nil
  end
  y, m, d = tointeger(tonumber(y)), tointeger(tonumber(m)), tointeger(tonumber(d))
  local leap = y % 4 == 0 and (y % 100 ~= 0 or y % 400 == 0)
  local last = ({ 31, leap and 29 or 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 })[m]
  if not last or d < 1 or d > last then
    return nil
  end
  return y, m, d
end

--- A day argument: the given `"YYYY-MM-DD"` checked, or the local date.
-- @tparam string|nil today
-- @tparam string fname the public function's name, for the error
-- @treturn string
function variables.day(today, fname)
  if today == nil then
    return os.date("%Y-%m-%d")
  elseif not variables.civil(today) then
    error(format("bad argument to '%s' (day \"YYYY-MM-DD\" expected, got %s)", fname, tostring(today)), 3)
  end
  return today
end

-- days since 1970-01-01 of a civil date (proleptic Gregorian)
local function days_from_civil(y, m, d)
  y = m <= 2 and y - 1 or y
  local era = floor(y / 400)
  local yoe = y - era * 400
  local doy = (153 * (m > 2 and m - 3 or m + 9) + 2) // 5 + d - 1
  return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468
end

--- The epoch of a provider time `"YYYY-MM-DD HH:MM:SS"`. The provider
-- gives no zone: without `utc_offset` the time is read in this process's
-- local time zone (as the client formats epochs it sends); with it, as
-- that many seconds east of UTC (28800 for UTC+8).
-- @tparam string text
-- @tparam[opt] integer utc_offset seconds east of UTC
-- @treturn integer|nil seconds since the epoch, nil when text is not a real time
function variables.epoch(text, utc_offset)
  local day, hh, mm, ss = match(type(text) == "string" and text or "", "^(%S+) (%d%d):(%d%d):(%d%d)$")
  local y, m, d = variables.civil(day)
  if not y then
    return nil
  end
  hh, mm, ss = tointeger(tonumber(hh)), tointeger(tonumber(mm)), tointeger(tonumber(ss))
  if hh > 23 or mm > 59 or ss > 59 then
    return nil
  end
  if utc_offset then
    return days_from_civil(y, m, d) * 86400 + hh * 3600 + mm * 60 + ss - utc_offset
  end
  return os.time { year = y, month = m, day = d, hour = hh, min = mm, sec = ss }
end

--- The variables of an account. `usage_gb` = usage_flow KB / 1024²;
-- `usage_percent` = usage_flow / (limit_flow × 1024²) × 100, `false` when
-- limit_flow is 0 (unlimited); `status`; from the per-day list (the days
-- after `today` ignored): `day_gb` = the latest listed day's flow and
-- `month_gb` = the sum over the listed days of `today`'s calendar month
-- (0 when none is listed; ask the API from `variables.month_start(today)`).
-- Without a list, `day_gb` and `month_gb` are missing (unknown).
-- @tparam table account `{ usage_flow = KB, limit_flow = GB, status = 1|0, ... }`
-- @tparam[opt] table usage_days `{ {day = "YYYY-MM-DD", flow = KB}, ... }` as `api:usage_flow` returns
-- @tparam[opt] string today `"YYYY-MM-DD"` (default: the local date)
-- @treturn table variable name -> number (or `false` for usage_percent)
-- @usage local v = variables.account(a, api:usage_flow{username = a.username,
--   start_time = variables.month_start(today)}, today)
function variables.account(account, usage_days, today)
  today = variables.day(today, "values_for_account")
  local values = {}
  local used, limit = account.usage_flow, account.limit_flow
  if type(used) == "number" then
    values.usage_gb = used / KB_PER_GB
    if type(limit) == "number" then
      values.usage_percent = limit > 0 and used / (limit * KB_PER_GB) * 100 or false
    end
  end
  if type(account.status) == "number" then
    values.status = account.status
  end
  if type(usage_days) == "table" then
    local month, latest, month_kb, latest_kb = sub(today, 1, 7), nil, 0, nil
    for _, entry in ipairs(usage_days) do
      local day, flow = entry.day, entry.flow
      if variables.civil(day) and type(flow) == "number" and day <= today then
        if sub(day, 1, 7) == month then
          month_kb = month_kb + flow
        end
        if latest == nil or day > latest then
          latest, latest_kb = day, flow
        end
      end
    end
    values.month_gb = month_kb / KB_PER_GB
    values.day_gb = latest_kb and latest_kb / KB_PER_GB
  end
  return values
end

--- The first second of `today`'s month, as the API's start_time wants it.
-- @tparam[opt] string today `"YYYY-MM-DD"` (default: the local date)
-- @treturn string `"YYYY-MM-01 00:00:00"`
function variables.month_start(today)
  return sub(variables.day(today, "month_start"), 1, 7) .. "-01 00:00:00"
end

--- The variables of a package: `package_days_left`, in fractional days
-- (seconds until `expired_at` / 86400: 2.5 is two and a half days, and it
-- goes negative once the package has expired). Missing when expired_at
-- is absent or not a real time.
-- @tparam table product a product table with `expired_at = "YYYY-MM-DD HH:MM:SS"`
-- @tparam[opt] number now epoch seconds (default `os.time()`)
-- @tparam[opt] integer utc_offset the provider's zone; see `epoch`
-- @treturn table `{ package_days_left = number }` or `{}`
function variables.product(product, now, utc_offset)
  local expiry = variables.epoch(product.expired_at, utc_offset)
  if not expiry then
    return {}
  end
  return { package_days_left = (expiry - (now or os.time())) / 86400 }
end

return variables
