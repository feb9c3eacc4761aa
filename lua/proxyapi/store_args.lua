--- Argument rules shared by the journal and the history: `bad argument`
-- errors, optional strings, integers, lists of names, dates and days.
-- Each raises the standard error, naming the caller's function.
-- @module proxyapi.store_args

local type, ipairs, error, tostring = type, ipairs, error, tostring
local format, math_type, tointeger = string.format, math.type, math.tointeger
local os_time, os_date = os.time, os.date

local args = {}

--- Raises `bad argument #n to 'fname' (msg)` (no position, as `proxyapi.check` does).
-- @tparam integer n
-- @tparam string fname
-- @tparam string msg
-- @raise always
function args.arg_error(n, fname, msg)
  error(format("bad argument #%d to '%s' (%s)", n, fname, msg), 0)
end
local arg_error = args.arg_error

local function got(v)
  if type(v) == "string" then
    return "'" .. v:sub(1, 40):gsub("%c", "?") .. "'"
  end
  return math_type(v) or type(v)
end

--- t[key], which must be a string or nil.
-- @tparam string fname
-- @tparam table t
-- @tparam string key
-- @treturn ?string
function args.optional_string(fname, t, key)
  local v = t[key]
  if v ~= nil and type(v) ~= "string" then
    arg_error(1, fname, format("%s: string expected, got %s", key, got(v)))
  end
  return v
end

--- An integer (a float with an integer value is taken).
-- @tparam integer n the argument's position
-- @tparam string fname
-- @param v
-- @tparam string label
-- @treturn integer
function args.integer(n, fname, v, label)
  local i = math_type(v) and tointeger(v)
  if not i then
    arg_error(n, fname, format("%s: integer expected, got %s", label, got(v)))
  end
  return i
end

--- An array of strings (nil: an empty one).
-- @tparam string fname
-- @param list
-- @tparam string label
-- @treturn table
function args.names(fname, list, label)
  if list == nil then
    return {}
  elseif type(list) ~= "table" then
    arg_error(1, fname, label .. ": array of names expected, got " .. got(list))
  end
  for i, name in ipairs(list) do
    if type(name) ~= "string" then
      arg_error(1, fname, format("%s[%d]: string expected, got %s", label, i, got(name)))
    end
  end
  return list
end

--- "YYYY-MM-DD" or "YYYY-MM-DD HH:MM:SS" (a real local time), or an
-- integer epoch, as an epoch; nil stays nil.
-- @tparam string fname
-- @param value
-- @tparam string label
-- @treturn ?integer
-- @usage args.epoch("prune", "2024-02-30", "before") --> raises: not a real date
function args.epoch(fname, value, label)
  if value == nil or math_type(value) then
    return value and args.integer(1, fname, value, label)
  end
  local y, m, d, rest = tostring(value):match("^(%d%d%d%d)%-(%d%d)%-(%d%d)(.*)$")
  local H, M, S = "00", "00", "00"
  if rest ~= nil and rest ~= "" then
    H, M, S = rest:match("^ (%d%d):(%d%d):(%d%d)$")
  end
  local time = H and y and os_time { year = tointeger(y), month = tointeger(m), day = tointeger(d),
                                     hour = tointeger(H), min = tointeger(M), sec = tointeger(S) }
  -- os.time normalises (Feb 30 is Mar 1): a real time formats back the same
  if not time or os_date("%Y-%m-%d %H:%M:%S", time) ~= format("%s-%s-%s %s:%s:%s", y, m, d, H, M, S) then
    arg_error(1, fname, format("%s: a date \"YYYY-MM-DD[ HH:MM:SS]\" or an epoch expected, got %s", label, got(value)))
  end
  return time
end

--- A day "YYYY-MM-DD" (a real date), or an epoch (its local day); nil stays nil.
-- @tparam string fname
-- @param value
-- @tparam string label
-- @treturn ?string
-- @usage args.day("usage", os.time(), "from") --> "2025-03-01"
function args.day(fname, value, label)
  if value ~= nil and (math_type(value) or tostring(value):match("^%d%d%d%d%-%d%d%-%d%d$")) then
    return os_date("%Y-%m-%d", args.epoch(fname, value, label))
  elseif value ~= nil then
    arg_error(1, fname, format("%s: a day \"YYYY-MM-DD\" expected, got %s", label, got(value)))
  end
  return nil
end

return args
