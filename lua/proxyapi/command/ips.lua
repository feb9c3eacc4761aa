--- `proxyapi ips extract`: the generated extraction command, with how
-- each line prints (`--as hostport`, the default; `--as url` and `--as
-- hostport-user-pass` with the credentials of `--account NAME`, whose
-- password comes from the account list, never from the command line).
-- The wire's own format and separator stay the library's business.
-- @module proxyapi.command.ips

local proxyapi = require "proxyapi"
local generate = require "proxyapi.command.generate"
local names = require "proxyapi.command.names"
local render = require "proxyapi.command.render"

local ipairs, type, pcall, tostring = ipairs, type, pcall, tostring

local ips = {}

local usage = generate.usage

--- Adds --as, --account and --scheme.
-- @param cmd
-- @tparam table spec
-- @usage ips.define(cmd, spec)
function ips.define(cmd, spec) -- luacheck: no unused args
  cmd:option("--as", "how each line prints: hostport (default), url, hostport-user-pass")
    :choices { "hostport", "url", "hostport-user-pass" }:argname("FORM")
  cmd:option("--account", "the account whose credentials --as url and --as hostport-user-pass show")
    :argname("NAME")
  cmd:option("--scheme", "the scheme of --as url (default http)"):argname("SCHEME")
end

-- The account's password, from the account list.
local function credentials(ctx, name)
  local list, err = ctx.api[names.roles.accounts](ctx.api)
  if list == nil then
    return nil, err
  end
  for _, a in ipairs(list) do
    if a.username == name then
      return a
    end
  end
  usage("--account: no account named " .. name)
end

--- Runs the extraction; returns its report, or nil and an error.
-- @tparam table ctx
-- @tparam table parsed
-- @tparam table spec
-- @treturn table the report
-- @usage local report = ips.run(ctx, parsed, spec)
function ips.run(ctx, parsed, spec)
  local member = spec.members[1]
  local as = parsed.as or "hostport"
  local account
  if as ~= "hostport" then
    if parsed.account == nil then
      usage("--as " .. as .. " needs --account NAME (its password is read from the account list)")
    end
    local err
    account, err = credentials(ctx, parsed.account)
    if account == nil then
      return nil, err
    end
  elseif parsed.account or parsed.scheme then
    usage("--account and --scheme go with --as url or --as hostport-user-pass")
  end
  local args = generate.arguments(member, parsed)
  local result, err = generate.call(ctx.api, member, args)
  if result == nil then
    return nil, err
  end
  local report = render.of(result)
  local rows = {}
  for i, row in ipairs(report.rows) do
    local addr = row.value
    local proxy = addr
    if type(addr) == "string" and as == "url" then
      local ok, url = pcall(proxyapi.proxy_url, addr, { scheme = parsed.scheme, username = account.username,
                                                         password = account.password })
      if not ok then
        usage(tostring(url))
      end
      proxy = url
    elseif type(addr) == "string" and as == "hostport-user-pass" then
      proxy = addr .. ":" .. account.username .. ":" .. account.password
    end
    rows[i] = { addr = addr, proxy = proxy }
  end
  report.rows, report.lines, report.columns = rows, true, { { key = "proxy" } }
  if ctx.dry_run then
    report.notes = { "proxyapi: dry run: no IPs were extracted (nothing was sent)" }
  end
  return report
end

return ips
