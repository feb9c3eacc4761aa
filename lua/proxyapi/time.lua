--- Times as the provider writes them: "YYYY-MM-DD HH:MM:SS" in the
-- process's time zone, and days as "YYYY-MM-DD".
-- @module proxyapi.time

local type, pcall, ipairs = type, pcall, ipairs
local format, match = string.format, string.match
local math_type, math_tointeger = math.type, math.tointeger
local os_date, os_time = os.date, os.time

local time = {}

local DAYS = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 }

--- The number of days of a month.
-- @tparam integer year
-- @tparam integer month 1..12
-- @treturn integer
-- @usage time.days_in(2028, 2) --> 29
function time.days_in(year, month)
  if month == 2 and (year % 4 == 0 and (year % 100 ~= 0 or year % 400 == 0)) then
    return 29
  end
  return DAYS[month]
end

local function got(value)
  local t = math_type(value) or type(value)
  return t == "nil" and "no value" or t
end

local function tointeger(value)
  return math_type(value) ~= nil and math_tointeger(value) or nil
end

local TIME_FORMAT = "%04d-%02d-%02d %02d:%02d:%02d"

local function format_time(label, y, mo, d, h, mi, s)
  if y < 1 or y > 9999 or mo < 1 or mo > 12 or d < 1 or d > time.days_in(y, mo)
    or h < 0 or h > 23 or mi < 0 or mi > 59 or s < 0 or s > 59 then
    return nil, label .. ": not a real time"
  end
  return format(TIME_FORMAT, y, mo, d, h, mi, s)
end

--- The argument rule of times: "YYYY-MM-DD HH:MM:SS", an
-- os.date("*t")-style table (missing hour/min/sec count as 0), or an
-- integer epoch (formatted in the process's time zone).
-- @param value
-- @tparam string label names it in the message
-- @return the value as it goes on the wire
-- @return[2] nil
-- @treturn[2] string what is wrong
-- @usage time.check({ year = 2026, month = 1, day = 2 }, "start_time") --> "2026-01-02 00:00:00"
function time.check(value, label)
  local kind = type(value)
  if kind == "string" then
    local y, mo, d, h, mi, s = match(value, "^(%d%d%d%d)%-(%d%d)%-(%d%d) (%d%d):(%d%d):(%d%d)$")
    if not y then
      return nil, label .. ': "YYYY-MM-DD HH:MM:SS" expected'
    end
    return format_time(label, math_tointeger(y), math_tointeger(mo), math_tointeger(d), math_tointeger(h),
      math_tointeger(mi), math_tointeger(s))
  elseif kind == "table" then
    local parts = {}
    for i, field in ipairs { "year", "month", "day", "hour", "min", "sec" } do
      local v = value[field]
      if v == nil and i > 3 then
        v = 0
      end
      local n = tointeger(v)
      if n == nil then
        return nil, format("%s: field '%s' must be an integer, got %s", label, field, got(v))
      end
      parts[i] = n
    end
    return format_time(label, parts[1], parts[2], parts[3], parts[4], parts[5], parts[6])
  elseif kind == "number" then
    local epoch = tointeger(value)
    if epoch == nil then
      return nil, label .. ": epoch seconds must be an integer"
    end
    local ok, text = pcall(os_date, "%Y-%m-%d %H:%M:%S", epoch)
    if not ok or not match(text, "^%d%d%d%d%-") then
      return nil, label .. ": epoch out of range"
    end
    return text
  end
  return nil, format('%s: "YYYY-MM-DD HH:MM:SS", table or epoch expected, got %s', label, got(value))
end

--- The epoch of a "YYYY-MM-DD[ HH:MM:SS]" text in the process's time zone.
-- @tparam string text
-- @treturn integer epoch seconds
-- @return[2] nil when the text is not a real time
-- @usage time.epoch("2026-12-02 00:00:00")
function time.epoch(text)
  if type(text) ~= "string" then
    return nil
  end
  local day = match(text, "^%d%d%d%d%-%d%d%-%d%d$")
  local wire = time.check(day and text .. " 00:00:00" or text, "time")
  if wire == nil then
    return nil
  end
  local y, mo, d, h, mi, s = match(wire, "^(%d+)%-(%d+)%-(%d+) (%d+):(%d+):(%d+)$")
  return os_time { year = math_tointeger(y), month = math_tointeger(mo), day = math_tointeger(d),
                   hour = math_tointeger(h), min = math_tointeger(mi), sec = math_tointeger(s),
                   isdst = nil }
end

--- The day ("YYYY-MM-DD") of an epoch, in the process's time zone.
-- @tparam integer epoch
-- @treturn string
-- @usage time.day(os.time()) --> "2026-12-02"
function time.day(epoch)
  return os_date("%Y-%m-%d", epoch)
end

return time
