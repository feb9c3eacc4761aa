--- api:check_proxies: fetch a URL through each proxy, concurrently.
-- The checks run on a libcurl multi handle of their own, so proxy
-- settings never touch the connections the API calls use.
-- @module proxyapi.proxycheck

local core = require "proxyapi.core"
local check = require "proxyapi.check"
local errors = require "proxyapi.errors"
local net = require "proxyapi.net"
local transport = require "proxyapi.transport"
local scheduler = require "proxyapi.scheduler"

local type, ipairs, pcall, error = type, ipairs, pcall, error
local format, find, match = string.format, string.find, string.match
local scrub = core.transfer.scrub

local proxycheck = {}

local DEFAULT_URL = "http://www.gstatic.com/generate_204"
local MAX_BODY = 1024 * 1024

local arg_error = check.arg_error

local OPTIONS = { url = true, timeout = true, username = true, password = true, scheme = true,
                  concurrency = true }

--- Checks each proxy; returns one {addr, ok, status, latency_ms, err}
-- per address, in order.
function proxycheck.run(st, addrs, opts)
  if type(addrs) ~= "table" then
    arg_error(1, "check_proxies", "array of proxy addresses expected, got " .. type(addrs))
  end
  local o, msg = check.options(opts, OPTIONS)
  if o == nil then
    arg_error(2, "check_proxies", msg)
  end
  local url = o.url
  if url == nil then
    url = DEFAULT_URL
  elseif type(url) ~= "string" or not find(url, "^[hH][tT][tT][pP][sS]?://[^%s%c]+$") then
    arg_error(2, "check_proxies", "url: http:// or https:// URL expected")
  end
  local timeout = o.timeout
  if timeout == nil then
    timeout = 5
  elseif type(timeout) ~= "number" or not (timeout > 0 and timeout < 1e6) then
    arg_error(2, "check_proxies", "timeout: positive number of seconds expected")
  end
  for _, field in ipairs { "username", "password" } do
    if o[field] ~= nil and (type(o[field]) ~= "string" or find(o[field], "%z")) then
      arg_error(2, "check_proxies", field .. ": string without NUL expected")
    end
  end
  local scheme, concurrency = "http"
  if o.scheme ~= nil then
    scheme, msg = net.proxy_scheme(o.scheme)
    if scheme == nil then
      arg_error(2, "check_proxies", msg)
    end
  end
  concurrency, msg = check.optional_integer(o.concurrency, st.concurrency, "concurrency", 1)
  if concurrency == nil then
    arg_error(2, "check_proxies", msg)
  end
  local targets, n = {}, #addrs
  for i = 1, n do
    local proxy, user, pass = net.parse_proxy(addrs[i], scheme)
    if proxy == nil then
      arg_error(1, "check_proxies", format("proxy #%d: %s", i, user))
    end
    targets[i] = { route = nil, reply = "ignore", proxy = proxy, proxy_username = user or o.username,
                   proxy_password = pass or o.password }
    if targets[i].proxy_password and not targets[i].proxy_username then
      arg_error(2, "check_proxies", "a password needs a username")
    end
  end

  local handle = core.new_client {
    user_agent = st.user_agent, timeout = timeout, connect_timeout = timeout, max_response_bytes = MAX_BODY,
    proxy = false,
  }
  local route = { method = "GET", url = url }
  local endpoint = "GET " .. (match(url, "^([^?#]*)") or url)
  local results = { n = n }
  local function probe(i)
    local target = targets[i]
    target.route = route
    local r = transport.transfer(handle, target)
    local status, failure = r.status, r.kind
    local result = { addr = addrs[i], status = status, latency_ms = r.elapsed * 1000 }
    if failure == nil and status >= 200 and status < 400 then
      result.ok = true
    else
      result.ok = false
      result.err = errors.new {
        kind = failure or "http", status = status, endpoint = endpoint, attempts = 1,
        msg = failure and scrub(st.handle, r.msg) or format("status %d through the proxy", status),
        retryable = failure == "network" or failure == "timeout",
      }
    end
    results[i] = result
  end
  local ok, err = pcall(scheduler.run, handle, n, probe, concurrency, function(i, done, e)
    if not done then
      error(e, 0)
    end
    return i
  end, st.progress)
  handle:close()
  if not ok then
    error(err, 0)
  end
  return results
end

return proxycheck
