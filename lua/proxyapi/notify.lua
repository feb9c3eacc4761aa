--- Delivering a watch firing: a webhook POST of its JSON object, or a
-- command run directly (no shell) with the firing in `PROXYAPI_*`
-- variables. Both are "at least once" on the caller's side: each returns
-- true only when the receiver took it (an HTTP 2xx, exit status 0), and
-- the caller records the delivery after that, retrying the same firing
-- (same `id`) otherwise. Neither ever sees the app_key: the webhook goes
-- through a libcurl handle of its own that has none, and the command
-- starts from a minimal environment.
-- @module proxyapi.notify

local core = require "proxyapi.core"
local net = require "proxyapi.net"
local version = require "proxyapi.version"

local type, pairs, tostring, setmetatable, error = type, pairs, tostring, setmetatable, error
local format, match, sort = string.format, string.match, table.sort
local random = math.random
local perform = core.transfer.perform

local notify = {}

--- What `new` uses when an option is not given.
notify.DEFAULTS = {
  timeout = 10, connect_timeout = 5, retries = 2, retry_backoff = 0.5, retry_max_wait = 10,
  command_timeout = 30,
}

-- HTTP statuses worth another try: the receiver may take it later
local RETRY_STATUS = { [408] = true, [425] = true, [429] = true, [500] = true, [502] = true, [503] = true,
                       [504] = true }

--- The environment a command starts from: PATH (default
-- `/usr/local/bin:/usr/bin:/bin`), HOME and LANG of this process, and
-- nothing else (the PROXYAPI_* values of the firing are added by
-- `rules.command_env`, which drops any other PROXYAPI_* name).
-- @treturn table name -> value
function notify.base_env()
  return { PATH = os.getenv("PATH") or "/usr/local/bin:/usr/bin:/bin", HOME = os.getenv("HOME"),
           LANG = os.getenv("LANG") }
end

--- The host of a URL (for messages: a webhook's path or userinfo may hold a token).
-- @tparam string url
-- @treturn string
function notify.host_of(url)
  url = tostring(url)
  return match(url, "^%a[%w+.-]*://") and net.url_host(url) or "?"
end

local Notifier = {}
Notifier.__index = Notifier

local function number_option(opts, name)
  local v = opts[name]
  if v == nil then
    return notify.DEFAULTS[name]
  elseif type(v) ~= "number" or v ~= v or v < 0 then
    error(format("bad argument #1 to 'new' (%s: a number >= 0 expected)", name), 3)
  end
  return v
end

--- A notifier.
-- @tparam[opt] table opts `timeout` (seconds per webhook attempt, 10),
-- `connect_timeout` (5), `retries` (extra attempts, 2), `retry_backoff`
-- (first wait, 0.5 s, doubling with jitter), `retry_max_wait` (10),
-- `proxy` (as the client's: nil = libcurl's environment variables, false
-- = none, or a URL), `ca_file`, `insecure`, `command_timeout` (30),
-- `base_env` (default `notify.base_env()`), `sleep` (function(seconds) ->
-- false when interrupted; default `core.sleep`)
-- @return a notifier with `:webhook`, `:command`, `:close`
function notify.new(opts)
  opts = opts or {}
  if type(opts) ~= "table" then
    error("bad argument #1 to 'new' (table expected, got " .. type(opts) .. ")", 2)
  end
  local self = setmetatable({}, Notifier)
  for name in pairs(notify.DEFAULTS) do
    self[name] = number_option(opts, name)
  end
  self.retries = math.tointeger(self.retries) or error("bad argument #1 to 'new' (retries: an integer expected)", 2)
  self.proxy, self.ca_file, self.insecure = opts.proxy, opts.ca_file, opts.insecure
  self.base_env = opts.base_env or notify.base_env()
  self.sleep = opts.sleep or core.sleep
  return self
end

-- The libcurl handle, made on first use: no app_key in it.
function Notifier:handle()
  if not self.curl then
    self.curl = core.new_client { user_agent = "proxyapi/" .. version, timeout = self.timeout,
                                  connect_timeout = self.connect_timeout, proxy = self.proxy,
                                  ca_file = self.ca_file, insecure = self.insecure,
                                  max_response_bytes = 1024 * 1024 }
  end
  return self.curl
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do
    keys[#keys + 1] = k
  end
  sort(keys)
  return keys
end

--- POSTs `body` (a table, sent as one JSON object, keys in sorted order)
-- to `url`, retrying network failures, timeouts and HTTP 408, 425, 429,
-- 5xx. Nothing is started after an interrupt.
-- @tparam string url http:// or https://
-- @tparam table body e.g. `rules.notification(firing)`
-- @treturn true when the receiver answered 2xx
-- @return[2] nil
-- @treturn[2] string why (names the host only: a webhook URL may hold a token)
-- @treturn[2] integer attempts made
function Notifier:webhook(url, body)
  if type(url) ~= "string" or type(body) ~= "table" then
    error("bad argument to 'webhook' (url string and body table expected)", 2)
  end
  local req = { route = { method = "POST", url = url }, fields = body, order = sorted_keys(body), reply = "ignore" }
  local host, attempts = notify.host_of(url), 0
  while true do
    if core.interrupted() then
      return nil, "webhook " .. host .. ": interrupted before delivery", attempts
    end
    attempts = attempts + 1
    local r = perform(self:handle(), req)
    local retry, why
    if r.kind then
      why, retry = format("webhook %s: %s: %s", host, r.kind, tostring(r.msg)), r.kind ~= "cancelled"
    elseif r.status and r.status >= 200 and r.status <= 299 then
      return true
    else
      why, retry = format("webhook %s: HTTP %s", host, tostring(r.status)), RETRY_STATUS[r.status] or false
    end
    if not retry or attempts > self.retries then
      return nil, why, attempts
    end
    local wait = self.retry_backoff * 2 ^ (attempts - 1)
    wait = wait > self.retry_max_wait and self.retry_max_wait or wait
    if not self.sleep(wait / 2 + random() * wait / 2) then
      return nil, why .. " (interrupted before a retry)", attempts
    end
  end
end

--- Runs argv directly (no shell, no PATH search) with exactly `env`
-- (build it with `rules.command_env(firing, notifier.base_env)`), standard
-- input from /dev/null and its output on standard error, for at most
-- `command_timeout` seconds.
-- @tparam {string,...} argv argv[1] an absolute path
-- @tparam table env name -> value
-- @tparam[opt] table opts `output` (a file both outputs are appended to)
-- @treturn true when it exited with status 0
-- @return[2] nil
-- @treturn[2] string why ("command /x: exit status 3", "… timed out after 30 s", …)
function Notifier:command(argv, env, opts)
  if core.interrupted() then
    return nil, "command " .. tostring(argv[1]) .. ": interrupted before delivery"
  end
  local how, code = core.spawn(argv, env, { timeout = self.command_timeout, output = opts and opts.output })
  local name = "command " .. argv[1]
  if how == "exit" and code == 0 then
    return true
  elseif how == "exit" then
    return nil, format("%s: exit status %d", name, code)
  elseif how == "signal" then
    return nil, format("%s: killed by signal %d", name, code)
  elseif how == "timeout" then
    return nil, format("%s: timed out after %g s", name, self.command_timeout)
  elseif how == "cancelled" then
    return nil, name .. ": stopped by the interrupt"
  end
  return nil, "command " .. tostring(code) -- could not start: the message names the path
end

--- Frees the webhook connections; the notifier may be used again.
function Notifier:close()
  if self.curl then
    self.curl:close()
    self.curl = nil
  end
end
Notifier.__close = Notifier.close

return notify
