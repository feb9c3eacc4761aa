--- Command lines for the proxyapi command and the jobs in scripts/, on
-- lua-argparse. argparse's own `--help` and error paths call os.exit;
-- these parsers never do: `parse` returns the exit status instead (0 after
-- printing the help, 2 after a usage error), so the exit codes of the
-- contract hold and a host can finish its run first.
-- @module proxyapi.cli

local argparse = require "argparse"

local error, pcall, type, tostring = error, pcall, type, tostring
local find = string.find
local stdout, stderr = io.stdout, io.stderr

local cli = {}

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

--- Parses `args` (an `arg`-style array). Returns the result table, or
-- nil and the exit status: 0 after `--help` printed the help on stdout,
-- 2 after a usage error printed the usage and the message on stderr.
-- @param parser from `cli.parser`
-- @tparam table args
-- @treturn ?table the parsed arguments
-- @treturn ?integer the exit status when there is nothing to run
-- @usage local args, status = cli.parse(parser, arg); if not args then os.exit(status) end
function cli.parse(parser, args)
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
