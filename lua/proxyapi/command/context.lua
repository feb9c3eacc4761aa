--- The contexts commands and jobs run in (the `ctx` of the job
-- interface): a client per profile, the journal they share, the output
-- format, terminal checks and confirmation.
-- @module proxyapi.command.context

local proxyapi = require "proxyapi"
local client = require "proxyapi.client"
local errors = require "proxyapi.errors"
local options = require "proxyapi.options"
local profiles = require "proxyapi.profiles"

local ipairs, tostring, pcall, require = ipairs, tostring, pcall, require
local format, lower, match = string.format, string.lower, string.match
local execute = os.execute

local context = {}

local NO_KEY = "no app_key: set PROXYAPI_APP_KEY and PROXYAPI_BASE_URL, give a profile "
  .. "(--profile NAME, PROXYAPI_PROFILE, or a default in %s), or use --fake"

local tty_cache = {}

--- Whether file descriptor `fd` of this process is a terminal.
-- @tparam integer fd 0, 1 or 2
-- @treturn boolean
-- @usage if context.isatty(1) then ... end
function context.isatty(fd)
  if tty_cache[fd] == nil then
    tty_cache[fd] = execute(format("test -t %d", fd)) == true
  end
  return tty_cache[fd]
end

--- A confirmation on a terminal: asks on `err`, reads a line of `stdin`;
-- off a terminal (`on_terminal` false) it says no without asking.
-- @param err
-- @param stdin
-- @tparam boolean on_terminal
-- @treturn function `confirm(question) -> boolean`
-- @usage local confirm = context.confirmer(io.stderr, io.stdin, context.isatty(0))
function context.confirmer(err, stdin, on_terminal)
  return function(question)
    if not on_terminal then
      return false
    end
    err:write(question, " [y/N] ")
    err:flush()
    local answer = stdin:read("l")
    answer = answer and lower(match(answer, "^%s*(.-)%s*$"))
    return answer == "y" or answer == "yes"
  end
end

local function usage(msg)
  error(errors.usage(msg), 0)
end

--- The options of `proxyapi.new` for the command line's global flags, one
-- profile (`name`, or nil for the usual layers).
-- @tparam table g the global flags (`fake`, `dry_run`, `config`)
-- @param[opt] name a profile name
-- @treturn table options
-- @usage local opts = context.client_options(g, "acme")
function context.client_options(g, name)
  local opts = { dry_run = g.dry_run or nil, config = g.config, profile = name }
  if g.fake then
    opts.app_key, opts.base_url, opts.proxy, opts.profile = g.fake.app_key, g.fake.base_url, false, false
  end
  return opts
end

--- Makes a client (raising a usage error for a bad configuration) and
-- says which profile it came from.
-- @tparam table opts
-- @treturn Client
-- @treturn table `{ profile =, settings = }`
-- @usage local api, chose = context.client(opts)
function context.client(opts)
  local ok, msg, why = client.check_options(opts)
  if not ok then
    if why and why.missing == "app_key" then
      usage(format(NO_KEY, profiles.expand(opts.config or profiles.default_path())))
    elseif why and why.option then
      msg = why.option .. ": " .. why.problem .. (why.label ~= why.option and " (from " .. why.label .. ")" or "")
    end
    usage(msg)
  end
  local _, _, chose = profiles.resolve(opts, options.NAMES)
  local kept = chose and chose.settings and chose.settings.history
  if opts.history == true and kept then -- the profile's history database, as watch reads it
    opts.history = require("proxyapi.history").path_of(kept) or true
  end
  local api = proxyapi.new(opts)
  return api, chose or { settings = {} }
end

--- The contexts of one run: one per profile with `--all-profiles`, else one.
-- @tparam table g global flags: `all_profiles`, `profile`, `config`, `fake`,
-- `dry_run`, `format`, `journal` (an open journal or nil), `out`, `err`,
-- `stdin`, `tty`, `tty_in`, `progress`
-- @tparam boolean needs_api whether the command calls the API
-- @treturn {table,...} the contexts
-- @usage for _, ctx in ipairs(context.make(g, true)) do ... end
function context.make(g, needs_api)
  local names = { g.profile or false }
  if g.all_profiles and needs_api then -- (what calls no API runs once)
    local config, err = profiles.load(g.config)
    if config == nil then
      usage(err or ("--all-profiles: no config file at " .. profiles.expand(g.config or profiles.default_path())))
    end
    names = profiles.names(config)
    if #names == 0 then
      usage("--all-profiles: no profiles in " .. config.path)
    end
  end
  local list = {}
  for i, name in ipairs(names) do
    local ctx = {
      out = g.out, err = g.err, stdin = g.stdin, format = g.format, dry_run = g.dry_run == true,
      journal = g.journal, tty = g.tty, tty_in = g.tty_in, confirm = context.confirmer(g.err, g.stdin, g.tty_in),
      settings = {}, profile = name or nil, config = g.config, fake = g.fake ~= nil,
    }
    if needs_api then
      local opts = context.client_options(g, name or nil)
      opts.journal = g.journal or nil
      opts.history = not g.fake or nil -- deletes keep the usage the provider drops
      opts.progress = g.progress
      local ok, api, chose = pcall(context.client, opts)
      if not ok then
        if not g.all_profiles then
          error(api, 0)
        end
        ctx.failed = api
      else
        ctx.api, ctx.profile, ctx.settings = api, chose.profile or ctx.profile, chose.settings or {}
      end
    end
    list[i] = ctx
  end
  return list
end

--- Ends the contexts' journal runs (with `status`: "ok", "failed",
-- "interrupted") and closes their clients; returns the summary line of
-- what they changed: `41 applied, 0 failed, 16 unknown (journal run 17)`.
-- @tparam {table,...} list
-- @tparam string status
-- @treturn string
-- @usage local line = context.finish(list, "interrupted")
function context.finish(list, status)
  local record = require "proxyapi.record"
  local lines = {}
  for _, ctx in ipairs(list) do
    local rec = ctx.api and client.recorder(ctx.api)
    if rec then
      local ok, line = pcall(record.summary, rec)
      lines[#lines + 1] = ok and line or nil
      pcall(record.finish, rec, status)
    end
    if ctx.api then
      pcall(ctx.api.close, ctx.api)
    end
  end
  return #lines > 0 and table.concat(lines, "; ") or "0 applied, 0 failed, 0 unknown"
end

--- The host of a client's base URL (as the history keys it).
-- @param api
-- @treturn string
-- @usage context.host(api) --> "127.0.0.1:8080"
function context.host(api)
  local url = api:settings().base_url
  return match(url, "^%a[%w+.-]*://([^/?#]+)") or tostring(url)
end

return context
