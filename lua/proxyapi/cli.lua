--- Command lines for the proxyapi command and the jobs in scripts/, on
-- lua-argparse. argparse's own `--help` and error paths call os.exit;
-- these parsers never do: `parse` returns the exit status instead (0 after
-- printing the help, 2 after a usage error), so the exit codes of the
-- contract hold and a host can finish its run first.
-- @module proxyapi.cli

local argparse = require "argparse"
local output = require "proxyapi.output"

local error, pcall, type, tostring, ipairs = error, pcall, type, tostring, ipairs
local find, format, gsub, concat = string.find, string.format, string.gsub, table.concat
local tonumber, tointeger, huge = tonumber, math.tointeger, math.huge
local stdout, stderr, exit = io.stdout, io.stderr, os.exit

local cli = {}

-- TRANSITION: the hand-written parser of scripts/, kept until every job
-- parses with argparse; the formatting moved to proxyapi.output.
for _, name in ipairs { "csv_field", "write_csv", "read_csv", "width", "table", "bar", "human_kb" } do
  cli[name] = output[name]
end

--- Fails a script with a message on stderr and exit status 1.
-- @param msg printed with tostring
-- @raise never returns: exits 1
-- @usage local accounts = api:list_accounts() or cli.die("cannot list accounts")
function cli.die(msg)
  stderr:write(tostring(msg), "\n")
  exit(1)
end


-- What a help flag raises to end the parse (argparse turns it into text).
local HELP = "\0proxyapi-help\0"

local function help_flag(cmd, state)
  cmd:add_help(false)
  cmd:flag("-h --help", "Show this help and exit.")
    :action(function()
      state.help = cmd
      error(HELP, 0)
    end)
  return cmd
end

--- A parser with the conventions of proxyapi's commands.
-- @tparam string name
-- @tparam[opt] string description
-- @tparam[opt] string epilog
-- @return an argparse parser (use `cli.command` for its subcommands)
-- @usage local parser = cli.parser("rotate", "New random passwords.")
function cli.parser(name, description, epilog)
  local state = {}
  local parser = argparse(name, description, epilog)
  parser._proxyapi = state
  parser:help_max_width(100)
  return help_flag(parser, state)
end

--- A subcommand of `parent` (a parser or a command) with the same help.
-- @param parent
-- @tparam string name
-- @tparam[opt] string description
-- @return an argparse command
-- @usage local list = cli.command(accounts, "list", "List the proxy sub-accounts.")
function cli.command(parent, name, description)
  local root = parent
  while root._proxyapi == nil and root._parent do
    root = root._parent
  end
  return help_flag(parent:command(name, description), root._proxyapi)
end

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

--- (TRANSITION) Reports a usage error of the script described by `spec` (its name,
-- the message, then the usage) on stderr and exits 2.
-- @tparam table spec as for `parse`
-- @tparam string msg
-- @raise never returns: exits 2
-- @usage if opts.from and not opts.to then cli.usage_error(spec, "--from needs --to") end
function cli.usage_error(spec, msg)
  stderr:write(format("%s: %s\n", spec.name or "script", msg), usage_text(spec))
  exit(2)
end

-- (TRANSITION) Parses `args` (a script's `arg`) against `spec`:
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
local function legacy_parse(args, spec)
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

--- Parses `args` (an `arg`-style array). Returns the result table, or
-- nil and the exit status: 0 after `--help` printed the help on stdout,
-- 2 after a usage error printed the usage and the message on stderr.
-- @param parser from `cli.parser`
-- @tparam table args
-- @treturn ?table the parsed arguments
-- @treturn ?integer the exit status when there is nothing to run
-- @usage local args, status = cli.parse(parser, arg); if not args then os.exit(status) end
function cli.parse(parser, args)
  if parser._proxyapi == nil then
    return legacy_parse(parser, args)
  end
  local state = parser._proxyapi
  state.help = nil
  local list = {}
  for i = 1, #args do
    list[i] = args[i]
  end
  local ok, parsed, result = pcall(parser.pparse, parser, list)
  if not ok then
    if type(parsed) == "string" and find(parsed, HELP, 1, true) then
      stdout:write(state.help:get_help(), "\n")
      return nil, 0
    end
    error(parsed, 0)
  end
  if not parsed then
    stderr:write(parser:get_usage(), "\n\n", parser._name, ": ", tostring(result), "\n")
    return nil, 2
  end
  return result
end

return cli
