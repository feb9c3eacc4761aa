--- `proxyapi profiles [--check]`: the profiles of the config file (name,
-- host, prefix, where the key comes from: never a key); `--check` makes
-- one read per profile and says which keys work.
-- @module proxyapi.command.profiles

local profiles = require "proxyapi.profiles"
local errors = require "proxyapi.errors"
local net = require "proxyapi.net"
local names = require "proxyapi.command.names"

local ipairs, tostring, pcall, error, require, type = ipairs, tostring, pcall, error, require, type

local command = { name = "profiles", summary = "The profiles of the config file; --check tries each key." }

--- Adds --check.
-- @param cmd
-- @usage command.define(cmd)
function command.define(cmd)
  cmd:flag("--check", "make one read per profile and say which keys work")
end

local function host_of(url)
  return type(url) == "string" and net.url_host(url) or ""
end

-- One read with profile `name`: "ok", or what went wrong (never the key).
local function probe(ctx, name)
  local context = require "proxyapi.command.context"
  local made, api = pcall(context.client, { profile = name, config = ctx.config, journal = false, retries = 0 })
  if not made then
    return tostring(api), 2
  end
  local method = names.roles.probe
  local ok, err = api[method](api)
  api:close()
  if ok == nil then
    return tostring(err), errors.exit_code(nil, err)
  end
  return "ok", 0
end

--- Runs `profiles`; returns its report and exit status.
-- @tparam table ctx `config` (the --config file, or nil)
-- @tparam table parsed
-- @treturn table the report
-- @treturn integer the status
-- @usage local report, status = command.run(ctx, parsed)
function command.run(ctx, parsed)
  local config, err = profiles.load(ctx.config)
  local path = profiles.expand(ctx.config or profiles.default_path())
  if config == nil then
    if err then
      error(errors.usage(err), 0)
    end
    return { rows = {}, json = { path = path }, notes = { "proxyapi: no config file at " .. path } }, 0
  end
  local rows, good, statuses = {}, 0, {}
  for i, name in ipairs(profiles.names(config)) do
    local p = config.profiles[name]
    rows[i] = { profile = name, default = name == config.default or nil, host = host_of(p.base_url),
                prefix = p.prefix or (p.paths and "(paths)") or "/openapi", key = profiles.key_source(p) or "" }
    if parsed.check then
      local status
      rows[i].check, status = probe(ctx, name)
      statuses[#statuses + 1] = status
      good = good + (status == 0 and 1 or 0)
    end
  end
  local status = 0
  if parsed.check and good < #rows then
    status = good > 0 and 3 or statuses[1]
  end
  local columns = { { key = "profile" }, { key = "default", format = function(v) return v and "*" or "" end },
                    { key = "host" }, { key = "prefix" }, { key = "key" } }
  if parsed.check then
    columns[#columns + 1] = { key = "check" }
  end
  return { rows = rows, columns = columns, json = { path = path, default = config.default } }, status
end

return command
