--- The command line of `proxyapi`: the global flags, the commands made
-- from the endpoint table, the built-in commands (journal, profiles,
-- check-proxies, completion) and the jobs of proxyapi.jobs.
-- @module proxyapi.command.parser

local cli = require "proxyapi.cli"
local generate = require "proxyapi.command.generate"
local jobs = require "proxyapi.command.jobs"

local ipairs, require = ipairs, require
local find, match = string.find, string.match

local parser = {}

local DESCRIPTION = "Every endpoint of the proxy provider's API, and the automation jobs, from the shell."

local EPILOG = [[
Global flags may also follow the command. The key and base URL come from
--fake, an explicitly chosen profile (--profile, PROXYAPI_PROFILE), the
environment (PROXYAPI_APP_KEY and PROXYAPI_BASE_URL), or the default profile
of the config file ($XDG_CONFIG_HOME/proxyapi/config.lua), in that order.
Exit status: 0 success, 1 a bug, 2 usage or configuration, 3 partial
failure, 4 the API refused, 5 network, timeout, HTTP or protocol,
130/143 interrupted. The installed proxyapi runs under pxlua, which
gives in-flight requests a grace on the first Ctrl-C or SIGTERM; under
plain lua5.4 (scripts/proxyapi in a checkout) Ctrl-C stops at once and
SIGTERM kills it (the journal still holds every intent).]]

--- The global flags, and those that take a value: `hoist` moves them
-- before the command.
parser.FLAGS = { ["--fake"] = true, ["--dry-run"] = true, ["--json"] = true, ["--csv"] = true,
                 ["--no-journal"] = true, ["--traceback"] = true, ["--all-profiles"] = true,
                 ["--version"] = true }
parser.VALUED = { ["--profile"] = true, ["--config"] = true }

--- Moves the global flags (wherever they are, up to `--`) to the front.
-- @tparam table argv
-- @treturn table a new list
-- @usage parser.hoist { "accounts", "list", "--json" } --> { "--json", "accounts", "list" }
function parser.hoist(argv)
  local front, rest, i = {}, {}, 1
  while i <= #argv do
    local a = argv[i]
    local name = match(a, "^(%-%-[%w-]+)=") or a
    if a == "--" then
      for j = i, #argv do
        rest[#rest + 1] = argv[j]
      end
      break
    elseif parser.FLAGS[a] then
      front[#front + 1] = a
    elseif parser.VALUED[name] then
      front[#front + 1] = a
      if name == a and argv[i + 1] ~= nil then
        i = i + 1
        front[#front + 1] = argv[i]
      end
    else
      rest[#rest + 1] = a
    end
    i = i + 1
  end
  for _, a in ipairs(rest) do
    front[#front + 1] = a
  end
  return front
end

local function completion()
  return {
    name = "completion",
    summary = "A shell completion script: bash, zsh or fish.",
    define = function(cmd)
      cmd:argument("SHELL", "bash, zsh or fish"):choices { "bash", "zsh", "fish" }:target("shell")
      cmd:epilog("bash: source <(proxyapi completion bash)\nzsh: proxyapi completion zsh > \"${fpath[1]}/_proxyapi\"\n"
        .. "fish: proxyapi completion fish > ~/.config/fish/completions/proxyapi.fish")
    end,
    run = function(ctx, parsed)
      local root = ctx.parser
      local text = parsed.shell == "bash" and root:get_bash_complete()
        or parsed.shell == "zsh" and root:get_zsh_complete() or root:get_fish_complete()
      return { raw = text }, 0
    end,
  }
end

--- The built-in commands: `{ name, summary, define, run, needs_api }`.
-- @treturn {table,...}
-- @usage for _, b in ipairs(parser.builtins()) do print(b.name) end
function parser.builtins()
  local proxies = require "proxyapi.command.proxies"
  proxies.needs_api = "optional"
  return { require "proxyapi.command.journal", require "proxyapi.command.profiles", proxies, completion() }
end

--- Builds the parser.
-- @tparam table table_ the endpoint table
-- @tparam table names the shell-name table
-- @return the parser
-- @treturn table the generated specs
-- @treturn table the mounted jobs
-- @usage local p = parser.build(require "proxyapi.endpoints", require "proxyapi.command.names")
function parser.build(table_, names)
  local p = cli.parser("proxyapi", DESCRIPTION, EPILOG)
  p:mutex(
    p:option("--profile", "the profile of the config file to use"):argname("NAME"),
    p:flag("--all-profiles", "run over every profile (reads, usage and the jobs)")
  )
  p:option("--config", "the config file (default: $XDG_CONFIG_HOME/proxyapi/config.lua)"):argname("FILE")
  p:flag("--fake", "run against a fake of the API started for this command (its own journal)")
  p:flag("--dry-run", "send no change and no extraction: say what would be sent")
  p:mutex(p:flag("--json", "one JSON document (JSON lines for streaming commands)"), p:flag("--csv", "CSV"))
  p:flag("--no-journal", "do not record changes in the journal")
  p:flag("--traceback", "a traceback for errors too")
  p:flag("-v --version", "show the version")
  local specs = generate.specs(table_, names)
  generate.define(p, specs, names)
  local taken = {}
  for _, spec in ipairs(specs) do
    taken[spec.path[1]] = true
  end
  for _, b in ipairs(parser.builtins()) do
    taken[b.name] = true
    local cmd = cli.command(p, b.name, b.summary)
    b.define(cmd)
    cmd:action(function(result)
      result._builtin = result._builtin or b
    end)
  end
  local mounted = jobs.mount(p, taken)
  return p, specs, mounted
end

--- Whether the list asks for the version (before any command word).
-- @tparam table argv hoisted
-- @treturn boolean
-- @usage if parser.wants_version(argv) then print(version) end
function parser.wants_version(argv)
  local i = 1
  while argv[i] ~= nil do
    local a = argv[i]
    if a == "--version" or a == "-v" then
      return true
    elseif not find(a, "^%-") then
      return false
    end
    i = i + (parser.VALUED[a] and 2 or 1)
  end
  return false
end

return parser
