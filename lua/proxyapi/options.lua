--- The options of proxyapi.new, checked in one place: where the app_key
-- and the base URL come from (the options, else the environment), and
-- every other option's rule. Returns the settings the client keeps.
-- @module proxyapi.options

local check = require "proxyapi.check"
local net = require "proxyapi.net"
local profiles = require "proxyapi.profiles"

local type, next, tostring, tonumber, pairs = type, next, tostring, tonumber, pairs
local error, pcall, setmetatable, getmetatable = error, pcall, setmetatable, getmetatable
local format, find, gsub, match, lower = string.format, string.find, string.gsub, string.match, string.lower
local huge, tointeger = math.huge, check.tointeger
local getenv, stderr, io_open = os.getenv, io.stderr, io.open

local options = {}

--- The names `proxyapi.new` takes.
options.NAMES = {
  app_key = true, base_url = true, prefix = true, paths = true, timeout = true,
  connect_timeout = true, retries = true, retry_backoff = true, retry_max_wait = true,
  concurrency = true, batch_size = true, proxy = true, dry_run = true, ca_file = true,
  insecure = true, max_response_bytes = true, on_request = true, progress = true,
  journal = true, history = true, grace = true, profile = true, config = true,
}

-- A bad option ends the check with its message: options.settings turns it
-- into a return value.
local Bad = {}

-- label: the name the bad value came by (an option, or the environment
-- variable it was read from); problem: what is wrong with it.
local function bad(msg, missing, option, label, problem)
  error(setmetatable({ msg = msg, missing = missing, option = option, label = label, problem = problem }, Bad), 0)
end

local function bad_value(option, label, problem)
  bad(label .. ": " .. problem, nil, option, label, problem)
end

--- A numeric option: "seconds" (> 0), "delay" (>= 0), or an integer of
-- at least `min`.
local function number_option(opts, name, default, kind, min)
  local v = opts[name]
  if v == nil then
    return default
  end
  if type(v) ~= "number" or v ~= v or v == huge or v == -huge then
    bad(format("%s: finite number expected, got %s", name, check.shown(v)))
  end
  if kind == "integer" then
    local i, msg = check.integer(v, name, min)
    if i == nil then
      bad(msg)
    end
    return i
  end
  if v < 0 or (kind == "seconds" and v == 0) then
    bad(format("%s: %s number of seconds expected, got %s", name,
      kind == "seconds" and "a positive" or "a non-negative", tostring(v)))
  end
  return v
end

--- The app_key and base_url come from the options or, when absent, from
-- the environment; a bad value is reported under the name it was given by.
local function required_string(opts, name, variable, labels)
  local value, label = opts[name], labels[name] or name
  if value == nil then
    value, label = getenv(variable), variable
    if value == nil or value == "" then
      bad(format("%s is required (set %s or pass %s)", name, variable, name), name)
    end
  elseif type(value) ~= "string" then
    bad(format("%s: string expected, got %s", name, type(value)))
  end
  return value, label
end

local function check_base_url(url, label, insecure)
  local function bad_url(problem)
    bad_value("base_url", label, problem)
  end
  if url == "" then
    bad_url("empty")
  end
  if find(url, "%c") then
    bad_url("control characters are not allowed")
  end
  local scheme, authority, rest = match(url, "^(%a[%w+.-]*)://([^/?#]*)(.*)$")
  scheme = scheme and lower(scheme)
  if scheme ~= "http" and scheme ~= "https" then
    bad_url("http:// or https:// URL expected")
  end
  if authority == "" or find(authority, "@", 1, true) or find(authority, "%s") then
    bad_url("a host (without credentials) expected")
  end
  if rest ~= "" and not find(rest, "^/[^?#%s]*$") then
    bad_url("no query, fragment or spaces expected after the host")
  end
  local host, port = match(authority, "^(%[[%x:.]+%])(.*)$")
  if host == nil then
    host, port = match(authority, "^([^:%[%]]+)(.*)$")
  end
  local port_number = port and tointeger(tonumber(match(port, "^:(%d+)$")))
  if host == nil or port ~= "" and not (port_number and port_number >= 1 and port_number <= 65535) then
    bad_url("host[:port] expected, with a port from 1 to 65535")
  end
  if scheme == "http" and not insecure and not net.is_loopback(host) then
    bad_url("plain http would send the app_key in clear text; use https "
      .. "(plain http is allowed for loopback hosts, or with insecure = true)")
  end
  return scheme .. "://" .. authority .. gsub(rest, "/+$", ""), lower(host)
end

local function check_app_key(key, label)
  if key == "" then
    bad_value("app_key", label, "empty")
  end
  -- printable ASCII only: the key goes raw into JSON and percent-encoded into URLs
  if not find(key, "^[\33-\126]+$") or #key > 1024 then
    bad_value("app_key", label, "printable ASCII characters without spaces expected (at most 1024)")
  end
  return key
end

local function check_proxy(proxy)
  if proxy == nil or proxy == false then
    return proxy
  end
  if type(proxy) ~= "string" then
    bad("proxy: false or \"scheme://host:port\" expected, got " .. type(proxy))
  end
  if not find(proxy, "^%a[%w]*://[^/%s]+/?$") or not net.parse_proxy(proxy) then
    bad("proxy: \"scheme://host:port\" expected (http, https, socks4, socks4a, socks5, socks5h)")
  end
  return proxy
end

--- The grace of transfers in flight after an interrupt: the option, else
-- PROXYAPI_GRACE, else 2 seconds.
local function grace_of(opts)
  if opts.grace ~= nil then
    return number_option(opts, "grace", nil, "delay")
  end
  local env = getenv "PROXYAPI_GRACE"
  if env == nil or env == "" then
    return 2
  end
  local v = tonumber(env)
  if v == nil or v ~= v or v < 0 or v == huge then
    bad_value("grace", "PROXYAPI_GRACE", "a non-negative number of seconds expected, got " .. check.shown(env))
  end
  return v
end

--- A database option (`journal`, `history`): a path, true (the default
-- path), false or nil (none), or an open one (a table with `method`).
local function check_database(opts, name, method)
  local v = opts[name]
  if v ~= nil and type(v) ~= "boolean" and type(v) ~= "string"
      and not (type(v) == "table" and type(v[method]) == "function") then
    bad(format("%s: a path, true, false or an open %s expected, got %s", name, name, type(v)))
  end
  if type(v) == "string" and (v == "" or find(v, "%z")) then
    bad(name .. ": a path expected")
  end
  return v or nil
end

local function check_prefix(prefix)
  if prefix ~= nil and (type(prefix) ~= "string"
      or not (prefix == "" or find(prefix, "^/[^?#%s%c]*[^/?#%s%c]$"))) then
    bad("prefix: a path such as \"/openapi\" expected (or \"\" for none)")
  end
  return prefix
end

--- Path overrides: method name -> path, for the methods of `endpoints`.
local function check_paths(overrides, endpoints)
  if overrides == nil then
    return {}
  end
  if type(overrides) ~= "table" then
    bad("paths: table expected, got " .. type(overrides))
  end
  local paths = {}
  for name, path in pairs(overrides) do
    if endpoints[name] == nil then
      bad(format("paths: no method named '%s'", tostring(name)))
    end
    if type(path) ~= "string" or not find(path, "^/[^?#%s%c]*$") then
      bad(format("paths.%s: a path starting with / (no query, spaces or control characters) expected", name))
    end
    paths[name] = path
  end
  return paths
end

--- A file that opens and reads (a directory opens, but fails to read).
local function readable_file(path)
  local f = not find(path, "%z") and io_open(path, "r")
  if not f then
    return false
  end
  local _, err = f:read(0)
  f:close()
  return err == nil
end

local function dry_run_writer(value)
  if value == nil or value == false then
    return nil
  elseif value == true then
    return function(line)
      stderr:write(line, "\n")
    end
  elseif type(value) == "function" then
    return value
  end
  bad("dry_run: boolean or function expected, got " .. type(value))
end

local function optional_function(opts, name)
  local v = opts[name]
  if v ~= nil and type(v) ~= "function" then
    bad(format("%s: function expected, got %s", name, type(v)))
  end
  return v
end

-- The profile whose options are being checked: messages name it.
local checking_profile

local function settings_of(opts, endpoints)
  if opts == nil then
    opts = {}
  elseif type(opts) ~= "table" then
    bad("table of options expected, got " .. type(opts))
  end
  for key in next, opts do
    if not options.NAMES[key] then
      bad(format("unknown option '%s'", tostring(key)))
    end
  end
  -- the layers of profiles.lua: the key and base URL (and a profile's
  -- other options) from the options, a profile or the environment
  local resolved, labels, chose = profiles.resolve(opts, options.NAMES)
  if resolved == nil then
    bad(labels)
  end
  opts, checking_profile = resolved, chose.profile
  local insecure = opts.insecure
  if insecure ~= nil and type(insecure) ~= "boolean" then
    bad("insecure: boolean expected, got " .. type(insecure))
  end
  local key = check_app_key(required_string(opts, "app_key", "PROXYAPI_APP_KEY", labels))
  local url, url_label = required_string(opts, "base_url", "PROXYAPI_BASE_URL", labels)
  local base_url, host = check_base_url(url, url_label, insecure)
  local ca_file = opts.ca_file
  if ca_file ~= nil and not (type(ca_file) == "string" and readable_file(ca_file)) then
    bad("ca_file: a readable file expected")
  end
  return {
    app_key = key,
    base_url = base_url,
    host = host,
    prefix = check_prefix(opts.prefix),
    paths = check_paths(opts.paths, endpoints),
    timeout = number_option(opts, "timeout", 30, "seconds"),
    connect_timeout = number_option(opts, "connect_timeout", 10, "seconds"),
    retries = number_option(opts, "retries", 2, "integer", 0),
    retry_backoff = number_option(opts, "retry_backoff", 0.25, "delay"),
    retry_max_wait = number_option(opts, "retry_max_wait", 30, "delay"),
    concurrency = number_option(opts, "concurrency", 8, "integer", 1),
    batch_size = number_option(opts, "batch_size", 100, "integer", 1),
    max_response_bytes = number_option(opts, "max_response_bytes", 64 * 1024 * 1024, "integer", 1),
    dry_run = dry_run_writer(opts.dry_run),
    on_request = optional_function(opts, "on_request"),
    progress = optional_function(opts, "progress"),
    proxy = check_proxy(opts.proxy),
    ca_file = ca_file,
    insecure = insecure,
    grace = grace_of(opts),
    journal = check_database(opts, "journal", "intent"),
    history = check_database(opts, "history", "sync_accounts"),
    profile = chose.profile,
    profile_settings = chose.settings, -- its rules and history, for the jobs
  }
end

--- Checks the options of `proxyapi.new`.
-- @tparam ?table opts
-- @tparam table endpoints the endpoint table (for `paths`)
-- @treturn table the settings (with the key, which the caller hands to the core)
-- @return[2] nil
-- @treturn[2] string what is wrong
-- @treturn[2] table what is known of it: `missing` ("app_key" or "base_url"
-- when that one is given nowhere), or `option`, `label` (the name the value
-- came by: the option or its environment variable) and `problem`
-- @usage local settings, msg = options.settings({ timeout = 5 }, endpoints)
function options.settings(opts, endpoints)
  checking_profile = nil
  local ok, result = pcall(settings_of, opts, endpoints)
  if ok then
    return result
  end
  if getmetatable(result) ~= Bad then
    error(result, 0)
  end
  if checking_profile then
    result.msg = format("%s (with profile %s)", result.msg, checking_profile)
  end
  return nil, result.msg, result
end

return options
