--- Small tools for automation scripts: command-line options with
-- `--help`, CSV, aligned tables and bar charts.
-- @module proxyapi.cli

local tostring, tonumber, ipairs = tostring, tonumber, ipairs
local format, rep, concat, find, gsub = string.format, string.rep, table.concat, string.find, string.gsub
local tointeger, floor, huge = math.tointeger, math.floor, math.huge
local stdout, stderr, exit = io.stdout, io.stderr, os.exit

local cli = {}

local function usage_text(spec)
  local lines = { "usage: " .. spec.usage }
  if spec.description then
    lines[#lines + 1] = ""
    lines[#lines + 1] = spec.description
  end
  if spec.options and #spec.options > 0 then
    lines[#lines + 1] = ""
    lines[#lines + 1] = "options:"
    for _, o in ipairs(spec.options) do
      local left = o.name .. (o.value and " " .. o.value or "")
      local help = o.help or ""
      if o.default ~= nil then
        help = help .. format(" (default: %s)", tostring(o.default))
      end
      lines[#lines + 1] = format("  %-22s %s", left, help)
    end
  end
  lines[#lines + 1] = format("  %-22s %s", "-h, --help", "show this help")
  return concat(lines, "\n") .. "\n"
end

--- Reports a usage error of the script described by `spec` (its name,
-- the message, then the usage) on stderr and exits 2.
-- @tparam table spec as for `parse`
-- @tparam string msg
-- @raise never returns: exits 2
-- @usage if opts.from and not opts.to then cli.usage_error(spec, "--from needs --to") end
function cli.usage_error(spec, msg)
  stderr:write(format("%s: %s\n", spec.name or "script", msg), usage_text(spec))
  exit(2)
end

--- Parses `args` (a script's `arg`) against `spec`:
-- { name = "script", usage = "...", description = "...", options = {
-- { name = "--days", value = "N", type = "integer"|"number"|"string"|"flag",
-- help = "...", default = ..., required = bool, min = ..., max = ...,
-- choices = {...} }, ... }, min_args = n, max_args = n }. Returns the
-- options by name without dashes ("--dry-run" -> dry_run) and the
-- positional arguments. `--help` prints the usage and exits 0; a usage
-- error prints it to stderr and exits 2.
-- @tparam table args the script's `arg`
-- @tparam table spec
-- @treturn table the options
-- @treturn table the positional arguments
-- @usage
-- local opts, files = cli.parse(arg, {
--   name = "report", usage = "pxlua report.lua [--days N] FILE",
--   options = { { name = "--days", value = "N", type = "integer", min = 1, default = 7 } },
--   min_args = 1, max_args = 1,
-- })
function cli.parse(args, spec)
  local by_name, values, positional = {}, {}, {}
  for _, o in ipairs(spec.options or {}) do
    local key = gsub(gsub(o.name, "^%-%-", ""), "%-", "_")
    o.key = key
    by_name[o.name] = o
    values[key] = o.default
    if o.type == "flag" and o.default == nil then
      values[key] = false
    end
  end
  local function fail(msg)
    cli.usage_error(spec, msg)
  end
  local i, n = 1, #args
  while i <= n do
    local a = args[i]
    if a == "-h" or a == "--help" then
      stdout:write(usage_text(spec))
      exit(0)
    elseif a == "--" then
      for j = i + 1, n do
        positional[#positional + 1] = args[j]
      end
      break
    elseif find(a, "^%-%-?%w") and not find(a, "^%-%d") then
      local name, inline = a:match("^(%-%-[%w-]+)=(.*)$")
      name = name or a
      local o = by_name[name]
      if o == nil then
        fail("unknown option '" .. name .. "'")
      end
      local value
      if o.type == "flag" then
        if inline then
          fail("option '" .. name .. "' takes no value")
        end
        value = true
      else
        value = inline
        if value == nil then
          i = i + 1
          value = args[i]
          if value == nil then
            fail("option '" .. name .. "' needs a value")
          end
        end
        if o.type == "integer" or o.type == "number" then
          local number = tonumber(value)
          if o.type == "integer" then
            number = number and tointeger(number)
          end
          if number == nil or number ~= number or number == huge or number == -huge then
            fail(format("option '%s' needs %s, got '%s'", name,
              o.type == "integer" and "an integer" or "a number", value))
          end
          if o.min and number < o.min then
            fail(format("option '%s' must be at least %s", name, tostring(o.min)))
          end
          if o.max and number > o.max then
            fail(format("option '%s' must be at most %s", name, tostring(o.max)))
          end
          value = number
        end
        if o.choices then
          local ok = false
          for _, c in ipairs(o.choices) do
            ok = ok or c == value
          end
          if not ok then
            fail(format("option '%s' must be one of %s", name, concat(o.choices, ", ")))
          end
        end
      end
      values[o.key] = value
    else
      positional[#positional + 1] = a
    end
    i = i + 1
  end
  for _, o in ipairs(spec.options or {}) do
    if o.required and values[o.key] == nil then
      fail(format("option '%s' is required", o.name))
    end
  end
  if spec.min_args and #positional < spec.min_args then
    fail("missing arguments")
  end
  if spec.max_args and #positional > spec.max_args then
    fail("too many arguments")
  end
  return values, positional
end

--- One CSV field, quoted when it must be (RFC 4180).
-- @param value anything (nil gives "")
-- @treturn string
-- @usage cli.csv_field('a,"b"') --> '"a,""b"""'
function cli.csv_field(value)
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
-- @usage cli.write_csv({ "username", "password" }, rows)
function cli.write_csv(columns, rows, out)
  out = out or stdout
  local fields = {}
  for i, c in ipairs(columns) do
    fields[i] = cli.csv_field(c)
  end
  out:write(concat(fields, ","), "\n")
  for _, row in ipairs(rows) do
    for i, c in ipairs(columns) do
      fields[i] = cli.csv_field(row[c])
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
-- @usage for _, row in ipairs(assert(cli.read_csv(text))) do print(row.line, row.fields[1]) end
function cli.read_csv(text)
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
-- @usage cli.width("测试ab") --> 6
function cli.width(s)
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
  local fill = rep(" ", width - cli.width(s))
  return right and fill .. s or s .. fill
end

--- Formats rows as an aligned table: columns = { { key =, title =,
-- right = bool, format = function(value) -> string } }.
-- @tparam {table,...} columns
-- @tparam {table,...} rows
-- @treturn string the table, a line per row after a header and a rule
-- @usage io.write(cli.table({ { key = "username" }, { key = "usage_flow", title = "used",
--   right = true, format = cli.human_kb } }, accounts))
function cli.table(columns, rows)
  local cells, widths = {}, {}
  for j, c in ipairs(columns) do
    widths[j] = cli.width(c.title or c.key)
  end
  for i, row in ipairs(rows) do
    cells[i] = {}
    for j, c in ipairs(columns) do
      local v = row[c.key]
      local s = c.format and c.format(v, row) or (v == nil and "" or tostring(v))
      cells[i][j] = s
      if cli.width(s) > widths[j] then
        widths[j] = cli.width(s)
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
-- @usage print(day, cli.bar(flow, busiest, 40))
function cli.bar(value, max, width)
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
-- @usage cli.human_kb(23237419) --> "22.16 GB"
function cli.human_kb(kb)
  local units = { "KB", "MB", "GB", "TB" }
  local v, u = kb, 1
  while v >= 1024 and u < #units do
    v, u = v / 1024, u + 1
  end
  return u == 1 and format("%d %s", v, units[u]) or format("%.2f %s", v, units[u])
end

--- Fails a script with a message on stderr and exit status 1.
-- @param msg printed with tostring
-- @raise never returns: exits 1
-- @usage local accounts = api:list_accounts() or cli.die("cannot list accounts")
function cli.die(msg)
  stderr:write(tostring(msg), "\n")
  exit(1)
end

return cli
