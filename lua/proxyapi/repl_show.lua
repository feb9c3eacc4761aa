--- The printer of the pxlua prompt: values as a Lua user reads them.
-- Tables are shown to a depth, keys sorted, long arrays and long key
-- lists cut with a count, tables met again labelled (`<1>{ self = <table 1> }`),
-- strings quoted. It reads values only: rawget and next, never __index,
-- __pairs, __len or __tostring, so nothing runs but this file (the one
-- exception: proxyapi's own error objects, shown as their `tostring`,
-- and the client, whose `tostring` the core makes without the key).
-- @module proxyapi.repl_show

local errors = require "proxyapi.errors"
local core = require "proxyapi.core"

local type, rawget, next, tostring, tonumber = type, rawget, next, tostring, tonumber
local pairs, ipairs, select = pairs, ipairs, select
local getmetatable, math_type, huge = getmetatable, math.type, math.huge
local format, rep, byte, find, gsub = string.format, string.rep, string.byte, string.find, string.gsub
local concat, insert, utf8_len = table.concat, table.insert, utf8.len
local is_error = errors.is_error

local show = {}

--- The defaults: levels of tables shown, array items and other keys
-- shown per table, bytes of a string inside a table, line width.
show.defaults = { depth = 4, items = 50, keys = 50, string_bytes = 2000, width = 78 }

local KEYWORDS = {}
for word in ("and break do else elseif end false for function goto if in local nil not or "
  .. "repeat return then true until while"):gmatch("%a+") do
  KEYWORDS[word] = true
end
show.KEYWORDS = KEYWORDS

--- True for a name that can follow `.` or stand alone as a key.
function show.is_name(s)
  return type(s) == "string" and find(s, "^[%a_][%w_]*$") ~= nil and not KEYWORDS[s]
end

local ESCAPES = { ["\\"] = "\\\\", ['"'] = '\\"', ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }

--- A string as a double-quoted Lua literal; control bytes as \ddd, and
-- every byte over 127 too when the string is not valid UTF-8.
function show.quote(s)
  local pattern = utf8_len(s) and '[%c"\\]' or '[%c"\\\128-\255]'
  return '"' .. gsub(s, pattern, function(c)
    return ESCAPES[c] or format("\\%03d", byte(c))
  end) .. '"'
end

local function number(n)
  if math_type(n) == "integer" then
    return tostring(n)
  elseif n ~= n then
    return "0/0"
  elseif n == huge then
    return "math.huge"
  elseif n == -huge then
    return "-math.huge"
  end
  return tostring(n) -- 5.4 marks whole floats: 3.0, 1e+100
end

-- A metatable's __name, printable, or nil.
local function name_of(mt)
  local name = mt and rawget(mt, "__name")
  if type(name) == "string" then
    return (gsub(name, "[%c]", "?"))
  end
end

local function is_client(v)
  local mt = getmetatable(v)
  return type(mt) == "table" and rawget(mt, "__index") == core.Client
end

-- Values that are not literals: function, thread, userdata.
local function opaque(v)
  local t = type(v)
  if t == "userdata" then
    if is_client(v) then
      return tostring(v) -- px_client.c: "proxyapi.Client (0x…)", no key
    end
    local name = name_of(getmetatable(v))
    return name and format("%s (%p)", name, v) or format("userdata: %p", v)
  end
  return format("%s: %p", t, v)
end

-- Keys in order: numbers, strings, booleans, then the rest by type.
local RANK = { number = 1, string = 2, boolean = 3 }
local function before(a, b)
  local ta, tb = type(a), type(b)
  if ta ~= tb then
    local ra, rb = RANK[ta] or 4, RANK[tb] or 4
    if ra ~= rb then
      return ra < rb
    end
    return ta < tb
  elseif ta == "number" or ta == "string" then
    return a < b
  elseif ta == "boolean" then
    return not a and b
  end
  return format("%p", a) < format("%p", b)
end

-- The first `limit` keys of t outside its array part 1..n, sorted, and
-- how many there are: a bounded insertion, so a huge table is walked
-- once and never sorted whole.
local function sorted_keys(t, n, limit)
  local top, count = {}, 0
  local k = next(t)
  while k ~= nil do
    if not (math_type(k) == "integer" and k >= 1 and k <= n) then
      count = count + 1
      local size = #top
      if size < limit or before(k, top[size]) then
        local lo, hi = 1, size + 1
        while lo < hi do
          local mid = (lo + hi) // 2
          if before(top[mid], k) then lo = mid + 1 else hi = mid end
        end
        insert(top, lo, k)
        if #top > limit then
          top[#top] = nil
        end
      end
    end
    k = next(t, k)
  end
  return top, count
end

local render

local function render_key(k, st, level)
  if show.is_name(k) then
    return k
  end
  return "[" .. render(k, st, level + 1) .. "]"
end

-- The entries of a table over several lines, indented for its level;
-- the first `packed` (its array items) filled into lines up to width.
local function lay_out(entries, packed, level, width)
  local indent = rep("  ", level)
  local lines, line = {}, nil
  for i, entry in ipairs(entries) do
    local last = i == #entries
    local text = last and entry or entry .. ","
    if i <= packed and not find(entry, "\n", 1, true) then
      if line ~= nil and #line + 1 + #text <= width then
        line = line .. " " .. text
      else
        lines[#lines + 1] = line
        line = indent .. text
      end
    else
      lines[#lines + 1] = line
      lines[#lines + 1] = indent .. text
      line = nil
    end
  end
  lines[#lines + 1] = line
  return "{\n" .. concat(lines, "\n") .. "\n" .. rep("  ", level - 1) .. "}"
end

-- A table: "\1seq\1" marks where its label goes once it is met again.
local function render_table(t, st, level)
  local seq = st.seen[t]
  if seq ~= nil then
    st.again[seq] = true
    return "\2" .. seq .. "\2"
  end
  st.count = st.count + 1
  seq = st.count
  st.seen[t] = seq
  local mark = "\1" .. seq .. "\1"
  local mt = getmetatable(t)
  local prefix = name_of(type(mt) == "table" and mt or nil)
  prefix = prefix and prefix .. " " or ""
  if level > st.depth then
    return mark .. prefix .. "{...}"
  end
  local o = st.options
  local entries, n = {}, 0
  while rawget(t, n + 1) ~= nil do
    n = n + 1
  end
  for i = 1, n < o.items and n or o.items do
    entries[#entries + 1] = render(rawget(t, i), st, level + 1)
  end
  if n > o.items then
    entries[#entries + 1] = format("... (%d more)", n - o.items)
  end
  local packed = #entries -- array items share lines; keyed entries do not
  local keys, count = sorted_keys(t, n, o.keys)
  for _, k in ipairs(keys) do
    entries[#entries + 1] = render_key(k, st, level) .. " = " .. render(rawget(t, k), st, level + 1)
  end
  if count > #keys then
    entries[#entries + 1] = format("... (%d more keys)", count - #keys)
  end
  if #entries == 0 then
    return mark .. prefix .. "{}"
  end
  local line = prefix .. "{ " .. concat(entries, ", ") .. " }"
  if not find(line, "\n", 1, true) and #line + 2 * (level - 1) <= o.width then
    return mark .. line
  end
  return mark .. prefix .. lay_out(entries, packed, level, o.width)
end

function render(v, st, level)
  local t = type(v)
  if t == "string" then
    local o = st.options
    if #v > o.string_bytes and level > 1 then
      return show.quote(v:sub(1, o.string_bytes)) .. format("... (%d bytes)", #v)
    end
    return show.quote(v)
  elseif t == "number" then
    return number(v)
  elseif t == "table" then
    if is_error(v) then
      return level > 1 and "<" .. tostring(v) .. ">" or tostring(v)
    end
    return render_table(v, st, level)
  elseif t == "nil" or t == "boolean" then
    return tostring(v)
  end
  return level > 1 and "<" .. opaque(v) .. ">" or opaque(v)
end

--- One value as text (several lines for a big table).
-- @param value anything
-- @tparam[opt] table options overrides of `show.defaults`
-- @treturn string
-- @usage show.value({ 1, 2, name = "x" }) --> '{ 1, 2, name = "x" }'
function show.value(value, options)
  local o = {}
  for k, v in pairs(show.defaults) do
    o[k] = options and options[k] or v
  end
  local st = { options = o, depth = o.depth, seen = {}, again = {}, count = 0 }
  local text = render(value, st, 1)
  local labels, next_label = {}, 0
  return (gsub(text, "([\1\2])(%d+)[\1\2]", function(kind, seq)
    seq = tonumber(seq)
    if kind == "\1" then
      if not st.again[seq] then
        return ""
      end
      next_label = next_label + 1
      labels[seq] = next_label
      return "<" .. next_label .. ">"
    end
    return "<table " .. labels[seq] .. ">"
  end))
end

--- Several values, as the prompt prints a statement's results: tab-separated.
-- @usage show.values(1, "a") --> '1\t"a"'
function show.values(...)
  local parts = {}
  for i = 1, select("#", ...) do
    parts[i] = show.value((select(i, ...)))
  end
  return concat(parts, "\t")
end

return show
