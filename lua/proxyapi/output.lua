--- Output for the proxyapi command and the jobs: aligned tables on a
-- terminal, CSV, JSON, bar charts and human sizes.
-- @module proxyapi.output

local core = require "proxyapi.core"

local tostring, ipairs, type, next, getmetatable, setmetatable = tostring, ipairs, type, next, getmetatable,
  setmetatable
local format, rep, concat, find, gsub = string.format, string.rep, table.concat, string.find, string.gsub
local floor = math.floor
local stdout = io.stdout

local output = {}

-- cjson and the core write an empty table as {}: lists that may be empty
-- carry this metatable so that JSON shows [].
local ARRAY = { __name = "proxyapi.output.array" }

-- JSON with [] for the empty lists marked by `array`: a copy without the
-- marker tables, written by the core (the same writer as request bodies).
local function plain(value)
  if type(value) ~= "table" then
    return value
  end
  if getmetatable(value) == ARRAY and next(value) == nil then
    return core.json_empty_array
  end
  local copy = {}
  for k, v in next, value do
    copy[k] = plain(v)
  end
  return copy
end

local function encode(value)
  return core.json_encode(plain(value))
end

--- One CSV field, quoted when it must be (RFC 4180).
-- @param value anything (nil gives "")
-- @treturn string
-- @usage output.csv_field('a,"b"') --> '"a,""b"""'
function output.csv_field(value)
  local s = value == nil and "" or tostring(value)
  if find(s, '[,"\r\n]') or find(s, "^%s") or find(s, "%s$") then
    s = '"' .. gsub(s, '"', '""') .. '"'
  end
  return s
end

--- Writes rows as CSV with a header, to `out` (default stdout).
-- @tparam {string,...} columns the keys, in order, also the header
-- @tparam {table,...} rows
-- @tparam[opt=io.stdout] file out
-- @usage output.write_csv({ "username", "password" }, rows)
function output.write_csv(columns, rows, out)
  out = out or stdout
  local fields = {}
  for i, c in ipairs(columns) do
    fields[i] = output.csv_field(c)
  end
  out:write(concat(fields, ","), "\n")
  for _, row in ipairs(rows) do
    for i, c in ipairs(columns) do
      fields[i] = output.csv_field(row[c])
    end
    out:write(concat(fields, ","), "\n")
  end
end

--- Parses CSV text into rows of fields, each row with its line number.
-- Returns nil and a message for an unterminated quote.
-- @tparam string text
-- @treturn {table,...} rows: `{line = n, fields = {...}}`; empty lines are skipped
-- @return[2] nil
-- @treturn[2] string what is wrong, with the line
-- @usage for _, row in ipairs(assert(output.read_csv(text))) do print(row.line, row.fields[1]) end
function output.read_csv(text)
  local rows, pos, line, len = {}, 1, 1, #text
  while pos <= len do
    local fields, field, start_line = {}, {}, line
    local at_start = true
    while true do
      local c = text:sub(pos, pos)
      if at_start and c == '"' then
        local j = pos + 1
        while true do
          local q = find(text, '"', j, true)
          if q == nil then
            return nil, format("line %d: unterminated quote", start_line)
          end
          if text:sub(q + 1, q + 1) == '"' then
            field[#field + 1] = text:sub(j, q)
            j = q + 2
          else
            field[#field + 1] = text:sub(j, q - 1)
            pos = q + 1
            break
          end
        end
        local _, newlines = gsub(concat(field), "\n", "")
        line = line + newlines
        at_start = false
      elseif c == "," then
        fields[#fields + 1] = concat(field)
        field, at_start = {}, true
        pos = pos + 1
      elseif c == "\n" or c == "\r" or c == "" then
        fields[#fields + 1] = concat(field)
        if c == "\r" and text:sub(pos + 1, pos + 1) == "\n" then
          pos = pos + 1
        end
        pos = pos + 1
        line = line + 1
        break
      else
        local j = find(text, '[,\r\n]', pos) or len + 1
        field[#field + 1] = text:sub(pos, j - 1)
        pos = j
        at_start = false
      end
    end
    if not (#fields == 1 and fields[1] == "") then
      rows[#rows + 1] = { line = start_line, fields = fields }
    end
  end
  return rows
end

--- Width of a string on a terminal: East Asian wide characters count 2.
-- @tparam string s UTF-8
-- @treturn integer
-- @usage output.width("测试ab") --> 6
function output.width(s)
  local width = 0
  for _, cp in utf8.codes(s) do
    width = width + ((cp >= 0x1100 and (cp <= 0x115F or (cp >= 0x2E80 and cp <= 0xA4CF)
      or (cp >= 0xAC00 and cp <= 0xD7A3) or (cp >= 0xF900 and cp <= 0xFAFF)
      or (cp >= 0xFE30 and cp <= 0xFE4F) or (cp >= 0xFF00 and cp <= 0xFF60)
      or (cp >= 0xFFE0 and cp <= 0xFFE6) or (cp >= 0x20000 and cp <= 0x3FFFD))) and 2 or 1)
  end
  return width
end

local function pad(s, width, right)
  local fill = rep(" ", width - output.width(s))
  return right and fill .. s or s .. fill
end

--- Formats rows as an aligned table: columns = { { key =, title =,
-- right = bool, format = function(value) -> string } }.
-- @tparam {table,...} columns
-- @tparam {table,...} rows
-- @treturn string the table, a line per row after a header and a rule
-- @usage io.write(output.table({ { key = "username" }, { key = "usage_flow", title = "used",
--   right = true, format = output.human_kb } }, accounts))
function output.table(columns, rows)
  local cells, widths = {}, {}
  for j, c in ipairs(columns) do
    widths[j] = output.width(c.title or c.key)
  end
  for i, row in ipairs(rows) do
    cells[i] = {}
    for j, c in ipairs(columns) do
      local v = row[c.key]
      local s = c.format and c.format(v, row) or (v == nil and "" or tostring(v))
      cells[i][j] = s
      if output.width(s) > widths[j] then
        widths[j] = output.width(s)
      end
    end
  end
  local lines, head, rule = {}, {}, {}
  for j, c in ipairs(columns) do
    head[j] = pad(c.title or c.key, widths[j], c.right)
    rule[j] = rep("-", widths[j])
  end
  lines[1] = (gsub(concat(head, "  "), "%s+$", ""))
  lines[2] = (gsub(concat(rule, "  "), "%s+$", ""))
  for i = 1, #rows do
    local parts = {}
    for j, c in ipairs(columns) do
      parts[j] = pad(cells[i][j], widths[j], c.right)
    end
    lines[#lines + 1] = (gsub(concat(parts, "  "), "%s+$", ""))
  end
  return concat(lines, "\n") .. "\n"
end

--- A horizontal bar of `width` cells for value out of max.
-- @tparam number value
-- @tparam number max
-- @tparam integer width
-- @treturn string block characters, with an eighth-width final one
-- @usage print(day, output.bar(flow, busiest, 40))
function output.bar(value, max, width)
  if max <= 0 or value <= 0 then
    return ""
  end
  local cells = value / max * width
  local full = floor(cells)
  local bar = rep("█", full)
  local eighths = floor((cells - full) * 8)
  if eighths > 0 and full < width then
    bar = bar .. utf8.char(0x2590 - eighths)
  end
  return bar
end

--- KB as a short human-readable size.
-- @tparam number kb
-- @treturn string
-- @usage output.human_kb(23237419) --> "22.16 GB"
function output.human_kb(kb)
  local units = { "KB", "MB", "GB", "TB" }
  local v, u = kb, 1
  while v >= 1024 and u < #units do
    v, u = v / 1024, u + 1
  end
  return u == 1 and format("%d %s", v, units[u]) or format("%.2f %s", v, units[u])
end

--- A value as JSON text (the core's writer: integers exactly; an empty
-- table as {} unless listed in `arrays`).
-- @param value
-- @treturn string
-- @usage io.write(output.json { accounts = list, dry_run = false }, "\n")
function output.json(value)
  return encode(value)
end

--- Writes rows in the chosen format: an aligned table (columns as for
-- `table`), CSV (the columns' keys, header first), or one JSON document
-- (`json_value`, default the rows as an array).
-- @tparam string how "table", "csv" or "json"
-- @tparam {table,...} columns
-- @tparam {table,...} rows
-- @param[opt] json_value what --json prints instead of the bare rows
-- @tparam[opt=io.stdout] file out
-- @usage output.emit(args.format, { { key = "username" } }, rows)
function output.emit(how, columns, rows, json_value, out)
  out = out or stdout
  if how == "json" then
    out:write(encode(json_value == nil and output.array(rows) or json_value), "\n")
  elseif how == "csv" then
    local keys = {}
    for i, c in ipairs(columns) do
      keys[i] = c.key
    end
    output.write_csv(keys, rows, out)
  else
    out:write(output.table(columns, rows))
  end
end

--- Marks a list so that an empty one is written as [] in JSON.
-- @tparam table list
-- @treturn table the same list
-- @usage output.json { list = output.array {} } --> {"list":[]}
function output.array(list)
  return setmetatable(list, ARRAY)
end

return output
