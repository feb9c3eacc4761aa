--- Argument rules. Each rule takes a value and returns the value as it
-- goes on the wire, or nil and a message saying what is wrong. Callers
-- turn the message into a `bad argument` error before anything is sent.
-- @module proxyapi.check

local time = require "proxyapi.time"

local type, tostring, error, next, ipairs = type, tostring, error, next, ipairs
local math_type, math_tointeger = math.type, math.tointeger
local format, find, concat = string.format, string.find, table.concat
local utf8_len, utf8_codes = utf8.len, utf8.codes

local check = {}

local MAX_LIMIT_GB = 102400
local MAX_REMARK_WIDTH = 64
local MAX_TEXT_BYTES = 256
-- control characters: C0 and DEL, and C1 (U+0080..U+009F, in UTF-8 C2 80..C2 9F)
local CONTROL, C1_CONTROL = "[%z\1-\31\127]", "\194[\128-\159]"

--- The integer value of a number (9 or 9.0), or nil: unlike
-- math.tointeger in Lua 5.4.4, never of a string ("9").
local function tointeger(value)
  return math_type(value) ~= nil and math_tointeger(value) or nil
end
check.tointeger = tointeger

--- A value as an error message may show it: numbers as they are, other
-- types by name, strings quoted, cut to 40 bytes, control bytes as "?".
-- @param value
-- @treturn string
-- @usage check.shown(("x"):rep(1e6)) --> "xxxx...xxxx..." (40 bytes and "...")
function check.shown(value)
  local kind = type(value)
  if kind == "number" then
    return tostring(value)
  elseif kind ~= "string" then
    return kind == "nil" and "no value" or kind
  end
  local cut = #value > 40 and value:sub(1, 40) .. "..." or value
  return "'" .. (cut:gsub("%c", "?")) .. "'"
end

--- Raises the standard `bad argument #n to 'fname' (msg)` error.
-- @tparam integer n the argument's position (after self)
-- @tparam string fname the method's name
-- @tparam string msg what is wrong
-- @raise always
-- @usage check.arg_error(1, "add_accounts", "no accounts given")
function check.arg_error(n, fname, msg)
  error(format("bad argument #%d to '%s' (%s)", n, fname, msg), 0)
end

--- The type of a value as messages name it: "integer", "float", "no value", ...
-- @param value
-- @treturn string
-- @usage check.got(nil) --> "no value"
function check.got(value)
  local t = math_type(value) or type(value)
  return t == "nil" and "no value" or t
end
local got = check.got

--- An integer, also given as a float with an exact integer value.
-- @param value
-- @tparam string label names the value in the message
-- @tparam[opt] integer min
-- @tparam[opt] integer max
-- @return the value as it goes on the wire
-- @return[2] nil
-- @treturn[2] string what is wrong
-- @usage check.integer(5.0, "limit", 0, 10) --> 5
function check.integer(value, label, min, max)
  local i = tointeger(value)
  if i == nil then
    if math_type(value) == "float" then
      return nil, format("%s: number has no integer representation", label)
    end
    return nil, format("%s: integer expected, got %s", label, got(value))
  end
  if (min and i < min) or (max and i > max) then
    if max then
      return nil, format("%s: must be from %d to %d, got %d", label, min, max, i)
    end
    return nil, format("%s: must be at least %d, got %d", label, min, i)
  end
  return i
end

--- True when t holds exactly the keys 1..n.
-- @tparam table t
-- @tparam integer n
-- @treturn boolean
-- @usage check.is_array({ "a", "b" }, 2) --> true
function check.is_array(t, n)
  for key in next, t do
    if math_type(key) ~= "integer" or key < 1 or key > n then
      return false
    end
  end
  return true
end

--- An optional integer of at least `min`: `default` when absent.
-- @param value
-- @param default
-- @tparam string label names it in the message
-- @tparam integer min
-- @return the value as it goes on the wire
-- @return[2] nil
-- @treturn[2] string what is wrong
-- @usage local n = assert(check.optional_integer(opts.concurrency, 8, "concurrency", 1))
function check.optional_integer(value, default, label, min)
  if value == nil then
    return default
  end
  -- names, passwords and accounts (proxyapi.check/accounts.lua) build on the
-- rules above: they get this table while it is loading
package.loaded["proxyapi.check"] = check
require "proxyapi.check.accounts"

return check.integer(value, label, min)
end

--- Width of a remark: ASCII counts 1, any other code point 2.
local function remark_width(s)
  local width = 0
  for _, cp in utf8_codes(s) do
    width = width + (cp < 128 and 1 or 2)
  end
  return width
end

--- A remark: valid UTF-8, no control characters, at most 64 width units.
-- @param value
-- @return the value as it goes on the wire
-- @return[2] nil
-- @treturn[2] string what is wrong
-- @usage check.remark(string.rep("测", 33)) --> nil, "remark: at most 64 width units ..."
function check.remark(value)
  if type(value) ~= "string" then
    return nil, format("remark: string expected, got %s", got(value))
  end
  if utf8_len(value) == nil then
    return nil, "remark: invalid UTF-8"
  end
  if find(value, CONTROL) or find(value, C1_CONTROL) then
    return nil, "remark: control characters are not allowed"
  end
  local width = remark_width(value)
  if width > MAX_REMARK_WIDTH then
    return nil, format("remark: at most %d width units (ASCII 1, others 2), got %d", MAX_REMARK_WIDTH, width)
  end
  return value
end

--- A traffic limit in GB: 0 (unlimited) to 102400.
-- @param value
-- @return the value as it goes on the wire
-- @return[2] nil
-- @treturn[2] string what is wrong
-- @usage check.gb(102401) --> nil, "limit in GB: must be from 0 to 102400, got 102401"
function check.gb(value)
  -- names, passwords and accounts (proxyapi.check/accounts.lua) build on the
-- rules above: they get this table while it is loading
package.loaded["proxyapi.check"] = check
require "proxyapi.check.accounts"

return check.integer(value, "limit in GB", 0, MAX_LIMIT_GB)
end

local function one_of(label, allowed)
  local set, names = {}, {}
  for i, v in ipairs(allowed) do
    set[v], names[i] = true, tostring(v)
  end
  local expected = concat(names, ", ")
  return function(value)
    local i = tointeger(value)
    if i == nil or not set[i] then
      return nil, format("%s: one of %s expected, got %s", label, expected,
        type(value) == "number" and tostring(value) or got(value))
    end
    return i
  end
end

--- A product type: 9, 11, 14 or 25.
-- @function product_type
-- @param value
-- @return the value as it goes on the wire
-- @return[2] nil
-- @treturn[2] string what is wrong
-- @usage check.product_type(9) --> 9
check.product_type = one_of("product_type", { 9, 11, 14, 25 })
--- A static IP product type: 14 or 25.
-- @function static_product_type
-- @param value
-- @return the value as it goes on the wire
-- @return[2] nil
-- @treturn[2] string what is wrong
-- @usage check.static_product_type(9) --> nil, "product_type: one of 14, 25 expected, got 9"
check.static_product_type = one_of("product_type", { 14, 25 })

--- A static IP status: 1 to 4.
-- @function status
-- @param value
-- @return the value as it goes on the wire
-- @return[2] nil
-- @treturn[2] string what is wrong
-- @usage check.status(4) --> 4
check.status = one_of("status", { 1, 2, 3, 4 })

--- A page number, from 1.
-- @param value
-- @return the value as it goes on the wire
-- @return[2] nil
-- @treturn[2] string what is wrong
-- @usage check.page(0) --> nil, "page: must be at least 1, got 0"
function check.page(value)
  -- names, passwords and accounts (proxyapi.check/accounts.lua) build on the
-- rules above: they get this table while it is loading
package.loaded["proxyapi.check"] = check
require "proxyapi.check.accounts"

return check.integer(value, "page", 1)
end

--- A page size, from 1.
-- @param value
-- @return the value as it goes on the wire
-- @return[2] nil
-- @treturn[2] string what is wrong
-- @usage check.size(50) --> 50
function check.size(value)
  -- names, passwords and accounts (proxyapi.check/accounts.lua) build on the
-- rules above: they get this table while it is loading
package.loaded["proxyapi.check"] = check
require "proxyapi.check.accounts"

return check.integer(value, "size", 1)
end

--- A positive integer (IP counts, minutes).
-- @param value
-- @tparam string label names it in the message
-- @return the value as it goes on the wire
-- @return[2] nil
-- @treturn[2] string what is wrong
-- @usage check.count(10, "num") --> 10
function check.count(value, label)
  -- names, passwords and accounts (proxyapi.check/accounts.lua) build on the
-- rules above: they get this table while it is loading
package.loaded["proxyapi.check"] = check
require "proxyapi.check.accounts"

return check.integer(value, label, 1)
end

--- Free text (codes, names, order numbers): non-empty valid UTF-8
-- without control characters, of a sane length.
-- @param value
-- @tparam string label names it in the message
-- @return the value as it goes on the wire
-- @return[2] nil
-- @treturn[2] string what is wrong
-- @usage check.text("US", "cc") --> "US"
function check.text(value, label)
  if type(value) ~= "string" then
    return nil, format("%s: string expected, got %s", label, got(value))
  end
  if value == "" then
    return nil, label .. ": empty"
  end
  if #value > MAX_TEXT_BYTES then
    return nil, format("%s: longer than %d bytes", label, MAX_TEXT_BYTES)
  end
  if utf8_len(value) == nil then
    return nil, label .. ": invalid UTF-8"
  end
  if find(value, CONTROL) or find(value, C1_CONTROL) then
    return nil, label .. ": control characters are not allowed"
  end
  return value
end

--- The separator of text-format IP lists: any non-empty string (line
-- breaks are its usual value) without NUL.
-- @param value
-- @tparam string label names it in the message
-- @return the value as it goes on the wire
-- @return[2] nil
-- @treturn[2] string what is wrong
-- @usage check.separator("\r\n", "lb") --> "\r\n"
function check.separator(value, label)
  if type(value) ~= "string" then
    return nil, format("%s: string expected, got %s", label, got(value))
  end
  if value == "" or #value > 16 or find(value, "%z") then
    return nil, label .. ": 1 to 16 bytes without NUL expected"
  end
  return value
end

--- A time: see `proxyapi.time.check`.
-- @function time
-- @param value
-- @tparam string label names it in the message
-- @return the value as it goes on the wire
-- @return[2] nil
-- @treturn[2] string what is wrong
-- @usage check.time({ year = 2026, month = 1, day = 2 }, "start_time") --> "2026-01-02 00:00:00"
check.time = time.check

--- Options tables: a table (or nil) with only the known string keys.
-- @param value
-- @tparam table known the allowed names as keys
-- @treturn table the options ({} for nil)
-- @return[2] nil
-- @treturn[2] string what is wrong
-- @usage check.options({ page = 1 }, { page = true, size = true })
function check.options(value, known)
  if value == nil then
    return {}
  end
  if type(value) ~= "table" then
    return nil, format("table of options expected, got %s", got(value))
  end
  for key in next, value do
    if type(key) ~= "string" then
      return nil, format("option names must be strings, got %s", got(key))
    end
    if not known[key] then
      return nil, format("unknown option '%s'", key)
    end
  end
  return value
end

-- names, passwords and accounts (proxyapi.check/accounts.lua) build on the
-- rules above: they get this table while it is loading
package.loaded["proxyapi.check"] = check
require "proxyapi.check.accounts"

return check
