--- Profiles: named settings of `proxyapi.new` in a config file
-- (`$XDG_CONFIG_HOME/proxyapi/config.lua`, else
-- `~/.config/proxyapi/config.lua`), read as data: a text chunk run in an
-- empty environment under a hook that refuses every function call but
-- the chunk itself, with a bound on its work and memory.
--
--     default = "acme"
--     profiles = {
--       acme = { base_url = "https://api.acme.example", app_key_file = "~/.config/proxyapi/acme.key" },
--       brand2 = { base_url = "https://api.brand2.example", prefix = "/gateway", app_key_env = "BRAND2_KEY" },
--     }
--
-- Where the key and the base URL come from, first match wins: the options
-- of `new`; an explicitly chosen profile (`profile =`, `PROXYAPI_PROFILE`);
-- the environment (`PROXYAPI_APP_KEY` + `PROXYAPI_BASE_URL`); the default
-- profile. Both always come from the same layer. Without a config file
-- and without a chosen profile, `new` behaves as it always did.
-- @module proxyapi.profiles

local core = require "proxyapi.core"

local type, next, pairs, tostring, error, load = type, next, pairs, tostring, error, load
local format, find, sub, byte = string.format, string.find, string.sub, string.byte
local sort, concat = table.sort, table.concat
local getenv, io_open = os.getenv, io.open
local co_create, co_resume = coroutine.create, coroutine.resume
local sethook, getinfo = debug.sethook, debug.getinfo
local collectgarbage = collectgarbage

local profiles = {}

local MAX_FILE_BYTES = 256 * 1024
local MAX_STEPS = 1000000 -- VM instructions
local MAX_MEMORY_KB = 16 * 1024
local MAX_DEPTH = 16

-- Keys of a profile that are not options of `new`.
local PROFILE_KEYS = { app_key_file = true, app_key_env = true, rules = true, history = true }

--- The config file's default path: `$XDG_CONFIG_HOME/proxyapi/config.lua`,
-- else `~/.config/proxyapi/config.lua` (a relative XDG_CONFIG_HOME is ignored).
-- @treturn string
-- @usage print(profiles.default_path()) --> "/home/me/.config/proxyapi/config.lua"
function profiles.default_path()
  local dir = getenv "XDG_CONFIG_HOME"
  if dir == nil or byte(dir) ~= byte "/" then
    dir = (getenv "HOME" or "") .. "/.config"
  end
  return dir .. "/proxyapi/config.lua"
end

--- A path with a leading `~/` made the home folder.
-- @tparam string path
-- @treturn string
-- @usage profiles.expand("~/.config/proxyapi/acme.key") --> "/home/me/.config/proxyapi/acme.key"
function profiles.expand(path)
  if path == "~" or sub(path, 1, 2) == "~/" then
    return (getenv "HOME" or "") .. sub(path, 2)
  end
  return path
end

-- Plain data only: strings, numbers, booleans and tables of them.
local function check_data(value, where, depth, seen)
  local kind = type(value)
  if kind == "string" or kind == "number" or kind == "boolean" then
    return true
  elseif kind ~= "table" then
    return nil, format("%s: a %s is not data", where, kind)
  end
  if depth > MAX_DEPTH or seen[value] then
    return nil, where .. ": nested too deeply (or a cycle)"
  end
  seen[value] = true
  for k, v in next, value do
    if type(k) ~= "string" and math.type(k) ~= "integer" then
      return nil, where .. ": keys must be strings or integers"
    end
    local ok, msg = check_data(v, where .. "." .. tostring(k), depth + 1, seen)
    if not ok then
      return nil, msg
    end
  end
  seen[value] = nil
  return true
end

--- Runs the chunk in a coroutine of its own with the guard hook: calls
-- of anything but the chunk, too many steps, or too much memory stop it.
local function run_guarded(chunk)
  local co = co_create(chunk)
  local steps, base = 0, collectgarbage "count"
  sethook(co, function(event)
    if event == "count" then
      steps = steps + 1
      if steps > MAX_STEPS then
        error("too much work for a config file (is there a loop?)", 0)
      end
      if collectgarbage "count" - base > MAX_MEMORY_KB then
        error("too much memory for a config file", 0)
      end
      return
    end
    local called = getinfo(2, "f")
    if called == nil or called.func ~= chunk then
      local at = getinfo(3, "l")
      error(format("%sfunction calls are not allowed in a config file (it is data)",
        at and at.currentline and at.currentline > 0 and at.currentline .. ": " or ""), 0)
    end
  end, "c", 1)
  return co_resume(co)
end

--- Reads a config file as data.
-- @tparam[opt] string path default: `default_path()`
-- @treturn ?table `{ path =, default =, profiles = { name = table } }`, or
-- nil (and no message) when the file does not exist
-- @return[2] nil
-- @treturn[2] string what is wrong, naming the file
-- @usage local config = assert(profiles.load("/etc/proxyapi.lua"))
function profiles.load(path)
  path = profiles.expand(path or profiles.default_path())
  local f, open_err = io_open(path, "rb")
  if f == nil then
    if not find(open_err or "", "No such file", 1, true) then
      return nil, format("config %s: %s", path, tostring(open_err))
    end
    return nil
  end
  local text, read_err = f:read(MAX_FILE_BYTES + 1)
  f:close()
  if text == nil and read_err then
    return nil, format("config %s: %s", path, tostring(read_err))
  end
  text = text or ""
  if #text > MAX_FILE_BYTES then
    return nil, format("config %s: larger than %d bytes", path, MAX_FILE_BYTES)
  end
  local env = {}
  local chunk, syntax = load(text, "=" .. path, "t", env)
  if chunk == nil then
    return nil, "config " .. tostring(syntax)
  end
  local ok, msg = run_guarded(chunk)
  if not ok then
    return nil, format("config %s:%s", path, find(tostring(msg), "^%d+: ") and tostring(msg) or " " .. tostring(msg))
  end
  for key in next, env do
    if key ~= "default" and key ~= "profiles" then
      return nil, format("config %s: unknown setting '%s' (expected 'default' and 'profiles')", path, tostring(key))
    end
  end
  local data_ok, data_msg = check_data(env, "config", 0, {})
  if not data_ok then
    return nil, format("config %s: %s", path, data_msg)
  end
  local list = env.profiles or {}
  if type(list) ~= "table" then
    return nil, format("config %s: 'profiles' must be a table of named profiles", path)
  end
  for name, p in next, list do
    if type(name) ~= "string" or not find(name, "^[%w_.-]+$") then
      return nil, format("config %s: profile names are letters, digits, '_', '.' and '-'", path)
    end
    if type(p) ~= "table" then
      return nil, format("config %s: profile '%s' must be a table", path, name)
    end
  end
  if env.default ~= nil and (type(env.default) ~= "string" or list[env.default] == nil) then
    return nil, format("config %s: default names no profile (%s)", path, tostring(env.default))
  end
  return { path = path, default = env.default, profiles = list }
end

--- The profile names of a config, sorted.
-- @tparam table config from `load`
-- @treturn {string,...}
-- @usage for _, name in ipairs(profiles.names(config)) do print(name) end
function profiles.names(config)
  local list = {}
  for name in pairs(config and config.profiles or {}) do
    list[#list + 1] = name
  end
  sort(list)
  return list
end

--- Where a profile's key comes from, as one can show it (never the key):
-- `"file ~/.config/proxyapi/acme.key"` or `"env BRAND2_KEY"`.
-- @tparam table p a profile
-- @treturn ?string
-- @usage print(profiles.key_source(config.profiles.acme))
function profiles.key_source(p)
  if type(p.app_key_file) == "string" then
    return "file " .. p.app_key_file
  elseif type(p.app_key_env) == "string" then
    return "env " .. p.app_key_env
  end
  return nil
end

-- The key of profile `name`: from its app_key_file (owner-only) or app_key_env.
local function key_of(p, name, where)
  local file, env = p.app_key_file, p.app_key_env
  if file ~= nil and env ~= nil then
    return nil, format("%s: profile '%s' has both app_key_file and app_key_env: keep one", where, name)
  end
  if file ~= nil then
    if type(file) ~= "string" or file == "" then
      return nil, format("%s: profile '%s': app_key_file must be a path", where, name)
    end
    local key, err = core.read_secret_file(profiles.expand(file))
    if key == nil then
      return nil, format("%s: profile '%s': %s", where, name, tostring(err))
    end
    return key, format("profile %s's app_key_file", name)
  end
  if type(env) ~= "string" or env == "" then
    return nil, format("%s: profile '%s': app_key_env must name an environment variable", where, name)
  end
  local key = getenv(env)
  if key == nil or key == "" then
    return nil, format("%s: profile '%s': the environment variable %s (its app_key_env) is not set", where, name, env)
  end
  return key, format("%s (profile %s's app_key_env)", env, name)
end

--- The options a profile gives `new` (its key included), or nil and a
-- message. `names` are the option names `new` takes.
local function profile_options(config, name, names)
  local p = config.profiles[name]
  local where = "config " .. config.path
  if p == nil then
    local known = profiles.names(config)
    return nil, format("%s: no profile named '%s' (known: %s)", where, name,
      #known > 0 and concat(known, ", ") or "none")
  end
  for key in pairs(p) do
    if key == "app_key" then
      return nil, format("%s: profile '%s': app_key does not belong in the config file; "
        .. "use app_key_file (readable only by you) or app_key_env", where, name)
    elseif key == "profile" or key == "config" or not (names[key] or PROFILE_KEYS[key]) then
      return nil, format("%s: profile '%s': unknown option '%s'", where, name, tostring(key))
    end
  end
  local has_key, has_url = p.app_key_file ~= nil or p.app_key_env ~= nil, p.base_url ~= nil
  if not (has_key and has_url) then
    return nil, format("%s: profile '%s' gives %s: app_key (app_key_file or app_key_env) and base_url "
      .. "must both come from it", where, name, has_key and "an app_key but no base_url"
      or has_url and "base_url but no app_key" or "neither an app_key nor a base_url")
  end
  local opts = {}
  for key, value in pairs(p) do
    if not PROFILE_KEYS[key] then
      opts[key] = value
    end
  end
  local key, label = key_of(p, name, where)
  if key == nil then
    return nil, label
  end
  opts.app_key = key
  return opts, { app_key = label, base_url = format("profile %s's base_url (%s)", name, config.path) }
end

local function env_value(name)
  local v = getenv(name)
  return v ~= nil and v ~= "" and v or nil
end

--- The profile chosen for options `opts` (their `profile`, else
-- PROXYAPI_PROFILE), or false for none (`profile = false`), or nil.
local function chosen(opts)
  if opts.profile == false then
    return false
  end
  if opts.profile ~= nil then
    return opts.profile
  end
  return env_value "PROXYAPI_PROFILE"
end

local function same_place(key_from, url_from, gives_key)
  return format("app_key and base_url must come from the same place, but only %s is set (%s); "
    .. "give both there, or neither", gives_key and key_from or url_from, gives_key and "no base_url" or "no app_key")
end

--- Resolves the layers for the options of `new`: returns the options to
-- check (the key and base URL, and a profile's other options under the
-- given ones), the labels the key and base URL came by, and what was
-- chosen: `{ profile = name or nil, settings = the profile's table or {} }`.
-- Returns nil and a message for a bad config file or profile, or a layer
-- that gives only one of the key and the base URL.
-- @tparam table opts the options given to `new` (`profile`, `config` among them)
-- @tparam table names the option names `new` takes
-- @treturn table the options
-- @treturn table labels: `app_key`, `base_url` (nil: the option's own name)
-- @treturn table what was chosen
-- @return[2] nil
-- @treturn[2] string what is wrong
-- @usage local o, labels, chose = assert(profiles.resolve({ profile = "acme" }, options.NAMES))
function profiles.resolve(opts, names)
  local pick = chosen(opts)
  if pick ~= nil and pick ~= false and (type(pick) ~= "string" or pick == "") then
    return nil, "profile: a profile name expected"
  end
  if opts.config ~= nil and (type(opts.config) ~= "string" or opts.config == "") then
    return nil, "config: a path expected"
  end
  local given_key, given_url = opts.app_key ~= nil, opts.base_url ~= nil
  local result, labels = {}, {}
  for k, v in pairs(opts) do
    if k ~= "profile" and k ~= "config" then
      result[k] = v
    end
  end
  local function with_profile(config, name, keep_own)
    local p_opts, p_labels = profile_options(config, name, names)
    if p_opts == nil then
      return nil, p_labels
    end
    for k, v in pairs(p_opts) do
      if result[k] == nil and not (keep_own and (k == "app_key" or k == "base_url")) then
        result[k] = v
      end
    end
    if not keep_own then
      labels = p_labels
    end
    return result, labels, { profile = name, settings = config.profiles[name] }
  end
  local function config_or_error()
    local config, err = profiles.load(opts.config)
    if config == nil and err == nil then
      return nil, format("config %s: no such file (profile %s)", profiles.expand(opts.config or
        profiles.default_path()), tostring(pick))
    end
    return config, err
  end
  if pick then
    local config, err = config_or_error()
    if config == nil then
      return nil, err
    end
    if given_key or given_url then
      if not (given_key and given_url) then
        return nil, same_place("the option app_key", "the option base_url", given_key)
      end
      return with_profile(config, pick, true)
    end
    return with_profile(config, pick, false)
  end
  local none = { settings = {} }
  if given_key and given_url or pick == false then
    return result, labels, none
  end
  local env_key, env_url = env_value "PROXYAPI_APP_KEY", env_value "PROXYAPI_BASE_URL"
  if not given_key and not given_url and env_key and env_url then
    return result, labels, none
  end
  local config, err = profiles.load(opts.config)
  if config == nil then
    if err ~= nil then
      return nil, err
    elseif opts.config ~= nil then
      return nil, format("config %s: no such file", profiles.expand(opts.config))
    end
    return result, labels, none -- no config file: as before profiles
  end
  if given_key or given_url then
    return nil, same_place("the option app_key", "the option base_url", given_key)
  elseif env_key or env_url then
    return nil, same_place("PROXYAPI_APP_KEY", "PROXYAPI_BASE_URL", env_key ~= nil)
  elseif config.default then
    return with_profile(config, config.default, false)
  end
  return result, labels, none
end

return profiles
