--- Statements for proxyapi.store: LuaSQL has no bound parameters, so
-- every statement is a constant template that only `format` fills in,
-- quoting strings with the connection's `escape` (strings holding a NUL
-- as a blob cast to text) and writing integers with `%d`. Fuzzed with
-- hostile names and remarks by spec/store_spec.lua.
-- @module proxyapi.store_sql

local type, select, error = type, select, error
local format, gsub, find = string.format, string.gsub, string.find
local math_type, tointeger = math.type, math.tointeger

local store_sql = {}

local HEX = {}
for i = 0, 255 do
  HEX[string.char(i)] = format("%02X", i)
end

--- The type a message names for a value ("integer", "float", "nil", …).
local function shown(v)
  return math_type(v) or type(v)
end
store_sql.shown = shown

local function integer_literal(v, i)
  local n = math_type(v) and tointeger(v)
  if not n then
    error(format("proxyapi.store: value #%d: integer expected, got %s", i,
                 math_type(v) == "float" and "a number without an integer value" or shown(v)), 0)
  end
  return format("%d", n)
end

local function text_literal(conn, v, i)
  if type(v) ~= "string" then
    error(format("proxyapi.store: value #%d: string expected, got %s", i, shown(v)), 0)
  end
  -- conn:escape stops at a NUL byte (it is SQLite's %q); a blob cast to
  -- text keeps every byte
  if find(v, "\0", 1, true) then
    return "CAST(X'" .. gsub(v, ".", HEX) .. "' AS TEXT)"
  end
  local escaped = conn:escape(v)
  if escaped == nil then
    error("proxyapi.store: not enough memory", 0)
  end
  return "'" .. escaped .. "'"
end

--- Fills in a statement template: `%d` takes an integer (a float only
-- when it has an exact integer value), `%s` a string, either takes nil
-- (NULL); `%%` is a percent sign. Anything else raises: values that
-- are neither are the caller's bug, never quietly converted.
-- @param conn a LuaSQL connection (its `escape` quotes strings)
-- @tparam string template SQL with placeholders
-- @param ... one value per placeholder
-- @treturn string the statement
-- @raise on a value of the wrong type, or a count that does not match
-- @usage store.format(conn, "SELECT * FROM runs WHERE id = %d AND user = %s", 5, "o'neil")
-- --> "SELECT * FROM runs WHERE id = 5 AND user = 'o''neil'"
function store_sql.format(conn, template, ...)
  local n, values, used = select("#", ...), { ... }, 0
  local sql = gsub(template, "%%(.?)", function(c)
    if c == "%" then
      return "%"
    end
    used = used + 1
    if used > n then
      error(format("proxyapi.store: the template wants more than the %d values given", n), 0)
    end
    local v = values[used]
    if c ~= "d" and c ~= "s" then
      error("proxyapi.store: unknown placeholder '%" .. c .. "' in a template", 0)
    elseif v == nil then
      return "NULL"
    elseif c == "d" then
      return integer_literal(v, used)
    end
    return text_literal(conn, v, used)
  end)
  if used ~= n then
    error(format("proxyapi.store: the template takes %d values, %d given", used, n), 0)
  end
  return sql
end

return store_sql
