--- pull-ips (scripts/pull-ips.lua): fresh proxy IPs for a location,
-- checked first against the provider's location lists, written one a line
-- as proxy URLs (or host:port, or host:port:user:pass) with an account's
-- credentials.
-- @module proxyapi.jobs.pull_ips

local common = require "proxyapi.jobs.common"
local output = require "proxyapi.output"
local secrets = require "proxyapi.jobs.secrets"

local ipairs, tostring = ipairs, tostring
local format, lower, concat = string.format, string.lower, table.concat

local NAME = "pull-ips"

local pull_ips = {
  name = "pull-ips",
  script = "pull-ips",
  summary = "Fresh proxy IPs for a location, as proxy URLs with an account's credentials.",
  all_profiles = false, -- it changes (or hands out) one profile at a time
}

local EPILOG = [[
--cc, --state and --city are checked against the provider's location lists
before anything is extracted. --account NAME (an enabled account) gives the
credentials; without it the proxies have none. --as url (the default:
scheme://user:pass@host:port), hostport (host:port) or hostport-user-pass
(host:port:user:pass, needs --account). --output FILE is written atomically
with mode 0600 (the lines hold the password). Under a dry run nothing is
extracted. Exit status: 0, 2 for a bad location or account, 4 the API
refused, 5 network.]]

function pull_ips.define(cmd)
  cmd:option("--num", "How many IPs (default: 10).")
    :argname("N"):convert(common.integer(1, 10000, "--num"))
  cmd:option("--cc", "Country code, e.g. US.")
    :argname("CC")
  cmd:option("--state", "State or province code (needs --cc).")
    :argname("S")
  cmd:option("--city", "City (needs --cc).")
    :argname("C")
  cmd:option("--account", "Use this account's credentials.")
    :argname("NAME")
  cmd:option("--as", "url, hostport or hostport-user-pass (default: url).")
    :argname("FORM"):choices { "url", "hostport", "hostport-user-pass" }
  cmd:option("--scheme", "Scheme of the URLs: http, https, socks5 or socks5h (default: http).")
    :argname("S"):choices { "http", "https", "socks5", "socks5h" }
  cmd:option("--output", "Write to FILE (mode 0600) instead of stdout.")
    :argname("FILE")
  cmd:epilog(EPILOG)
end

local function contains(list, value)
  for _, item in ipairs(list) do
    if lower(item) == lower(value) then
      return true
    end
  end
  return false
end

-- nil when the location exists; else the exit status, having said why.
local function check_location(ctx, args, say)
  if not args.cc then
    return nil
  end
  local api = ctx.api
  local states, err = api:search_states(args.cc)
  if not states then
    return common.fail(ctx, NAME, err)
  end
  if #states == 0 then
    say("unknown country code '%s'", args.cc)
    return 2
  end
  if args.state and not contains(states, args.state) then
    say("unknown state '%s' in %s", args.state, args.cc)
    return 2
  end
  if args.city then
    local lists, errs = api:map(args.state and { args.state } or states, function(client, state)
      return client:search_cities(args.cc, state)
    end)
    local found = false
    for i = 1, lists.n do
      if errs[i] then
        return common.fail(ctx, NAME, errs[i])
      end
      found = found or contains(lists[i], args.city)
    end
    if not found then
      say("unknown city '%s' in %s%s", args.city, args.state and args.state .. ", " or "", args.cc)
      return 2
    end
  end
  return nil
end

-- The account's credentials, or nil and the exit status.
local function credentials(ctx, args, say)
  local accounts, err = ctx.api:list_accounts()
  if not accounts then
    return nil, common.fail(ctx, NAME, err)
  end
  for _, a in ipairs(accounts) do
    if a.username == args.account then
      if a.status == 0 then
        say("account '%s' is disabled", args.account)
        return nil, 2
      end
      return { username = a.username, password = a.password }
    end
  end
  say("no account named '%s'", args.account)
  return nil, 2
end

local function line_of(addr, form, creds, scheme)
  if form == "hostport" then
    return addr
  elseif form == "hostport-user-pass" then
    return format("%s:%s:%s", addr, creds.username, creds.password)
  end
  return require("proxyapi").proxy_url(addr, { scheme = scheme, username = creds.username,
                                              password = creds.password })
end

function pull_ips.run(ctx, args)
  local say = common.say(ctx, NAME)
  common.dry_run_header(ctx, NAME)
  local form, num = args.as or "url", args.num or 10
  if (args.state or args.city) and not args.cc then
    say("--state and --city need --cc")
    return 2
  elseif form == "hostport-user-pass" and not args.account then
    say("--as hostport-user-pass needs --account")
    return 2
  end
  local status = check_location(ctx, args, say)
  if status then
    return status
  end
  local creds = {}
  if args.account then
    local why
    creds, why = credentials(ctx, args, say)
    if creds == nil then
      return why
    end
  end
  local addrs, err = ctx.api:extract_ips { cc = args.cc, state = args.state, city = args.city, num = num }
  if not addrs then
    return common.fail(ctx, NAME, err)
  end
  if ctx.dry_run then
    say("dry run: would extract %d IP(s)%s", num, args.output and ", and write " .. args.output or "")
    if ctx.format == "json" then
      ctx.out:write(output.json { dry_run = true, count = 0, proxies = output.array {} }, "\n")
    end
    return 0
  end
  local lines = {}
  for i, addr in ipairs(addrs) do
    lines[i] = line_of(addr, form, creds, args.scheme)
  end
  local text
  if ctx.format == "json" then
    text = output.json { dry_run = false, count = #lines, proxies = output.array(lines) } .. "\n"
  elseif ctx.format == "csv" then
    local rows = {}
    for i, l in ipairs(lines) do
      rows[i] = { proxy = l }
    end
    local buffer = {}
    output.write_csv({ "proxy" }, rows, { write = function(_, ...)
      for _, s in ipairs { ... } do buffer[#buffer + 1] = s end
    end })
    text = concat(buffer)
  else
    text = #lines > 0 and concat(lines, "\n") .. "\n" or ""
  end
  if args.output then
    local ok, werr = secrets.write_atomic(args.output, text)
    if not ok then
      say("cannot write %s: %s", args.output, tostring(werr))
      return 2
    end
  else
    ctx.out:write(text)
  end
  if #addrs < num then
    say("got %d of %d IPs", #addrs, num)
  end
  return 0
end

return pull_ips
