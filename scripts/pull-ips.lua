-- luacheck: read globals api proxyapi
-- Pulls fresh proxy IPs for a location and writes them as proxy URLs, one a
-- line, with the credentials of an account (or given ones, or none).
local cli = require "proxyapi.cli"

local spec = {
  name = "pull-ips",
  usage = "pxlua pull-ips.lua [--num N] [--cc CC [--state S] [--city C]] [credentials] [options]",
  description = "Extracts --num fresh IPs (from --cc, --state, --city, each checked first\n"
    .. "against the provider's location lists) and prints them as proxy URLs, one a\n"
    .. "line, to stdout or --output (mode 0600). Credentials: --account NAME (an\n"
    .. "enabled account, looked up), or --username U --password P, or none.",
  options = {
    { name = "--num", value = "N", type = "integer", min = 1, default = 10, help = "how many IPs" },
    { name = "--cc", value = "CC", type = "string", help = "country code, e.g. US" },
    { name = "--state", value = "S", type = "string", help = "state or province code (needs --cc)" },
    { name = "--city", value = "C", type = "string", help = "city (needs --cc)" },
    { name = "--account", value = "NAME", type = "string", help = "use this account's credentials" },
    { name = "--username", value = "U", type = "string", help = "proxy username (with --password)" },
    { name = "--password", value = "P", type = "string", help = "proxy password (with --username)" },
    { name = "--scheme", value = "S", type = "string", choices = { "http", "https", "socks5", "socks5h" },
      default = "http", help = "http, https, socks5 or socks5h" },
    { name = "--output", value = "FILE", type = "string", help = "write to FILE instead of stdout" },
  },
  max_args = 0,
}
local opts = cli.parse(arg, spec)

local function usage_error(msg) cli.usage_error(spec, msg) end
if (opts.state or opts.city) and not opts.cc then usage_error("--state and --city need --cc") end
if (opts.username == nil) ~= (opts.password == nil) then usage_error("--username and --password go together") end
if opts.account and opts.username then usage_error("--account excludes --username/--password") end

local function fail(msg)
  cli.die("pull-ips: " .. msg)
end

local function contains(list, value)
  for _, item in ipairs(list) do
    if item:lower() == value:lower() then return true end
  end
  return false
end

-- The location must exist: the country has states, the state is one of
-- them, the city is in the state (or, without --state, in any of them).
if opts.cc then
  local states, err = api:search_states(opts.cc)
  if not states then fail(tostring(err)) end
  if #states == 0 then fail("unknown country code '" .. opts.cc .. "'") end
  if opts.state and not contains(states, opts.state) then
    fail("unknown state '" .. opts.state .. "' in " .. opts.cc)
  end
  if opts.city then
    local lists, errs = api:map(opts.state and { opts.state } or states, function(client, state)
      return client:search_cities(opts.cc, state)
    end)
    local found = false
    for i = 1, lists.n do
      if errs[i] then fail(tostring(errs[i])) end
      found = found or contains(lists[i], opts.city)
    end
    if not found then
      fail("unknown city '" .. opts.city .. "' in " .. (opts.state and opts.state .. ", " or "") .. opts.cc)
    end
  end
end

local credentials = { scheme = opts.scheme, username = opts.username, password = opts.password }
if opts.account then
  local accounts, err = api:list_accounts()
  if not accounts then fail(tostring(err)) end
  local account
  for _, a in ipairs(accounts) do
    if a.username == opts.account then account = a end
  end
  if not account then fail("no account named '" .. opts.account .. "'") end
  if account.status == proxyapi.account_status.DISABLED then fail("account '" .. opts.account .. "' is disabled") end
  credentials.username, credentials.password = account.username, account.password
end

local addrs, err = api:extract_ips { cc = opts.cc, state = opts.state, city = opts.city, num = opts.num }
if not addrs then fail(tostring(err)) end
local lines = {}
for i, addr in ipairs(addrs) do lines[i] = proxyapi.proxy_url(addr, credentials) .. "\n" end

if opts.output then
  -- a new file only its owner can read (the URLs hold the password), renamed into place
  local tmp = string.format("%s.%d.%d.tmp", opts.output, os.time(), math.random(1000000000))
  local quoted = "'" .. tmp:gsub("'", "'\\''") .. "'"
  if not os.execute("(umask 077 && set -C && : > " .. quoted .. ") 2>/dev/null") then
    fail("cannot create a file beside " .. opts.output)
  end
  local file, io_err = io.open(tmp, "w")
  local ok = file ~= nil
  if ok then ok, io_err = file:write(table.concat(lines)) end
  if ok then ok, io_err = file:close() end
  if ok then ok, io_err = os.rename(tmp, opts.output) end
  if not ok then
    os.remove(tmp)
    fail("cannot write " .. opts.output .. ": " .. tostring(io_err))
  end
else
  io.stdout:write(table.concat(lines))
end
if #addrs < opts.num then
  io.stderr:write(string.format("pull-ips: got %d of %d IPs\n", #addrs, opts.num))
end
