--- What a command prints: a report (rows, their columns, extra JSON
-- fields, notes for stderr) made from a result by its shape, not by the
-- endpoint it came from, and written as an aligned table, CSV or one JSON
-- document.
-- @module proxyapi.command.render

local output = require "proxyapi.output"

local type, ipairs, pairs, next, tostring = type, ipairs, pairs, next, tostring
local format = string.format
local sort, concat = table.sort, table.concat
local math_type = math.type

local render = {}

-- Columns that lead, in this order, when a row has them.
local LEADING = { "profile", "username", "account", "id", "name", "name_en", "country_code", "state", "city",
                  "day", "trade_no", "ip", "port", "addr", "proxy", "remark", "password", "outcome" }
local RANK = {}
for i, key in ipairs(LEADING) do
  RANK[key] = i
end

local function gb(v)
  if math_type(v) == nil then
    return v == nil and "" or tostring(v)
  end
  return v == 0 and "unlimited" or format("%d GB", v)
end

local function kb(v)
  return math_type(v) and output.human_kb(v) or (v == nil and "" or tostring(v))
end

-- How a table shows a field (CSV and JSON keep the value as it is).
local FORMATS = { usage_flow = kb, flow = kb, limit_flow = gb }
local RIGHT = { usage_flow = true, flow = true, limit_flow = true }

-- A nested value in one cell: a list of scalars joined by ",", a map as
-- "k=v" pairs, anything deeper as its count.
local function flat(v)
  if type(v) ~= "table" then
    return v
  end
  local parts, keys = {}, {}
  for k, x in pairs(v) do
    if type(x) == "table" then
      return #v
    end
    keys[#keys + 1] = k
  end
  if #keys == #v then
    for i, x in ipairs(v) do
      parts[i] = tostring(x)
    end
    return concat(parts, ",")
  end
  sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  for i, k in ipairs(keys) do
    parts[i] = tostring(k) .. "=" .. tostring(v[k])
  end
  return concat(parts, " ")
end

local function cell(v)
  if v == nil then
    return ""
  end
  return tostring(flat(v))
end

local function is_array(t)
  if type(t) ~= "table" then
    return false
  end
  local n = 0
  for _ in next, t do
    n = n + 1
  end
  return n == #t
end

--- Columns for rows: every key any row has, the usual ones first.
-- @tparam {table,...} rows
-- @treturn table columns for `output.table` (`key`, `right`, `format`)
-- @usage local columns = render.columns(rows)
function render.columns(rows)
  local seen, keys = {}, {}
  for _, row in ipairs(rows) do
    for k in pairs(row) do
      if type(k) == "string" and not seen[k] then
        seen[k], keys[#keys + 1] = true, k
      end
    end
  end
  sort(keys, function(a, b)
    local ra, rb = RANK[a] or #LEADING + 1, RANK[b] or #LEADING + 1
    if ra ~= rb then
      return ra < rb
    end
    return a < b
  end)
  local columns = {}
  for i, k in ipairs(keys) do
    local f = FORMATS[k]
    columns[i] = { key = k, right = RIGHT[k], format = f or cell }
  end
  return columns
end

--- A report of a result, by its shape: `true` (ok), a list of strings
-- (one a line), a list of tables (rows), a page (`list` and counters), or
-- any other value (one row).
-- @param value a method's result
-- @treturn table `{ rows =, json = {extra fields}, lines = bool }`
-- @usage local report = render.of(result)
function render.of(value)
  if value == true then
    return { rows = {}, json = { ok = true } }
  end
  if type(value) ~= "table" then
    return { rows = { { value = value } }, lines = true }
  end
  if is_array(value) then
    local strings = #value > 0
    for _, v in ipairs(value) do
      strings = strings and type(v) ~= "table"
    end
    local rows = {}
    for i, v in ipairs(value) do
      rows[i] = type(v) == "table" and v or { value = v }
    end
    return { rows = rows, lines = strings }
  end
  if is_array(value.list) then
    local extra = {}
    for k, v in pairs(value) do
      if k ~= "list" and type(v) ~= "table" then
        extra[k] = v
      end
    end
    local report = render.of(value.list)
    report.json = extra
    return report
  end
  return { rows = { value } }
end

--- Replaces every `password` field of the rows by `***`.
-- @tparam {table,...} rows
-- @usage render.mask(rows)
function render.mask(rows)
  for i, row in ipairs(rows) do
    if row.password ~= nil then
      local copy = {}
      for k, v in pairs(row) do
        copy[k] = v
      end
      copy.password = "***"
      rows[i] = copy
    end
  end
end

--- Writes a report in the context's format to `ctx.out`; notes go to
-- `ctx.err`. JSON: one document `{ command =, dry_run =, profile =, rows =,
-- ...report.json }`.
-- @tparam table ctx `format`, `out`, `err`, `dry_run`, `profile`
-- @tparam string command the command's name ("accounts list")
-- @tparam table report
-- @usage render.emit(ctx, "products", report)
function render.emit(ctx, command, report)
  local rows = report.rows or {}
  if report.raw then
    ctx.out:write(report.raw)
  elseif ctx.format == "json" then
    local doc = { command = command, dry_run = ctx.dry_run == true, rows = output.array(rows) }
    for k, v in pairs(report.json or {}) do
      doc[k] = v
    end
    if ctx.profile then
      doc.profile = ctx.profile
    end
    ctx.out:write(output.json(doc), "\n")
  else
    local columns = report.columns or render.columns(rows)
    if ctx.format == "csv" then
      -- the data's own keys (a table's columns may add drawn ones)
      local keys = {}
      for _, c in ipairs(#rows > 0 and render.columns(rows) or columns) do
        if c.title ~= "" then
          keys[#keys + 1] = c.key
        end
      end
      local plain = {}
      for i, row in ipairs(rows) do
        plain[i] = {}
        for k, v in pairs(row) do
          plain[i][k] = flat(v)
        end
      end
      output.write_csv(keys, plain, ctx.out)
    elseif report.lines then
      for _, row in ipairs(rows) do
        ctx.out:write(cell(row[columns[1] and columns[1].key or "value"]), "\n")
      end
    elseif #columns > 0 then
      ctx.out:write(output.table(columns, rows))
    elseif report.json and report.json.ok then
      ctx.out:write("ok\n")
    end
    if ctx.format ~= "csv" then
      for _, line in ipairs(report.footer or {}) do
        ctx.out:write(line, "\n")
      end
    end
  end
  for _, line in ipairs(report.notes or {}) do
    ctx.err:write(line, "\n")
  end
end

return render
