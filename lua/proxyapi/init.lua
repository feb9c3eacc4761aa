--- A Lua client for the residential-proxy provider's OpenAPI.
--
-- The C core (`proxyapi.core`) makes the transfers, on one libcurl multi
-- handle per client, and marshals JSON with a private lua-cjson instance;
-- the Lua side holds the policy: argument rules, the endpoint table,
-- batching, paging and retries.
--
-- Every method of a `Client` returns its result, or `nil, err` on a
-- run-time failure, so that `assert(api:list_accounts())` works. `err` is
-- an `Error`. Wrong arguments are the caller's bug: they raise
-- `bad argument #n to 'method' (...)` at once, before anything is sent.
-- The app_key never appears in anything the library prints, returns or
-- raises.
--
-- @module proxyapi
-- @usage
-- local proxyapi = require "proxyapi"
-- local api <close> = proxyapi.new { app_key = os.getenv "KEY", base_url = "https://api.example.com" }
-- for _, a in ipairs(assert(api:list_accounts())) do
--   print(a.username, a.usage_flow // 1024 // 1024 .. " GB")
-- end

local client = require "proxyapi.client"
local errors = require "proxyapi.errors"
local check = require "proxyapi.check"
local net = require "proxyapi.net"

local type, require, rawset, setmetatable = type, require, rawset, setmetatable
local format = string.format
local tointeger = check.tointeger
local arg_error = check.arg_error

local proxyapi = {}

--- The version of proxyapi, "major.minor.patch".
proxyapi.VERSION = require "proxyapi.version"

--- Product (package) types.
-- @table product
-- @field DYNAMIC_RESIDENTIAL_TRAFFIC 9
-- @field DYNAMIC_RESIDENTIAL_IP 11
-- @field STATIC_DATACENTER_IP 14
-- @field STATIC_RESIDENTIAL_IP 25
proxyapi.product = {
  DYNAMIC_RESIDENTIAL_TRAFFIC = 9,
  DYNAMIC_RESIDENTIAL_IP = 11,
  STATIC_DATACENTER_IP = 14,
  STATIC_RESIDENTIAL_IP = 25,
}

--- States of static IPs.
-- @table static_status
-- @field VALID 1
-- @field INVALID 2
-- @field EXPIRING 3 (expiring soon)
-- @field MAINTENANCE 4 (under maintenance)
proxyapi.static_status = { VALID = 1, INVALID = 2, EXPIRING = 3, MAINTENANCE = 4 }

--- API codes: `err.code` of errors of kind "api".
-- @table code
-- @field OK 200 (some deployments answer 0, which counts as success too)
-- @field INVALID_APP_KEY 3
-- @field NOT_VERIFIED 156 (the account is not real-name verified)
proxyapi.code = { OK = 200, INVALID_APP_KEY = 3, NOT_VERIFIED = 156 }

--- States of proxy accounts (`account.status`).
-- @table account_status
-- @field DISABLED 0
-- @field ENABLED 1
proxyapi.account_status = { DISABLED = 0, ENABLED = 1 }

local PRODUCT_NAMES = {
  [9] = "Dynamic Residential Traffic Package",
  [11] = "Dynamic Residential IP",
  [14] = "Static Datacenter IP",
  [25] = "Static Residential IP",
}

--- The English name of a product type.
-- @tparam integer product_type 9, 11, 14 or 25
-- @treturn ?string the name, or nil for an unknown type
-- @usage proxyapi.product_name(9) --> "Dynamic Residential Traffic Package"
function proxyapi.product_name(product_type)
  return PRODUCT_NAMES[tointeger(product_type) or false]
end

--- Tells the error objects that failed calls return from other values.
-- @param value anything
-- @treturn boolean
-- @usage
-- local ok, err = api:list_accounts()
-- if not ok and proxyapi.is_error(err) and err.kind == "timeout" then ... end
-- @function is_error
proxyapi.is_error = errors.is_error

--- The exit status for outcomes, per the table of exit codes: 0 all
-- succeeded, 2 usage or configuration, 3 partial failure (some items of a
-- batch or map failed, others succeeded), 4 the API refused, 5 network,
-- timeout, HTTP or protocol failure, 130 interrupted; 1 for a value that
-- is not a proxyapi error (a bug). When every item failed, the first
-- failed item's kind decides.
-- @param first the results of `Client:map`, or a call's first result, or an error
-- @param[opt] second the errs of `Client:map`, or a call's error
-- @treturn integer
-- @usage os.exit(proxyapi.exit_code(api:map(names, function(a, n) return a:disable_accounts(n) end)))
-- @usage os.exit(proxyapi.exit_code(api:change_limit("team1", 50)))
-- @function exit_code
proxyapi.exit_code = errors.exit_code

--- Makes a client.
-- Missing or malformed options raise an error here.
-- @tparam[opt] table options
-- @tparam string options.app_key the key (default: `PROXYAPI_APP_KEY`); required
-- @tparam string options.base_url e.g. "https://api.example.com" (default:
-- `PROXYAPI_BASE_URL`); required; plain http only for loopback hosts, unless
-- `insecure` is true
-- @tparam[opt="/openapi"] string options.prefix replaces the leading /openapi of
-- the paths that start with it (not /ip/get-static-ip)
-- @tparam[opt] table options.paths per-method path overrides, used exactly as
-- given: `{ list_static_ips = "/x/y" }`
-- @tparam[opt=30] number options.timeout seconds per attempt
-- @tparam[opt=10] number options.connect_timeout seconds
-- @tparam[opt=2] integer options.retries extra attempts (see `Client` for which calls)
-- @tparam[opt=0.25] number options.retry_backoff first wait in seconds; doubles, with jitter
-- @tparam[opt=30] number options.retry_max_wait longest wait (also caps Retry-After)
-- @tparam[opt=8] integer options.concurrency parallel transfers for batch work and `Client:map`
-- @tparam[opt=100] integer options.batch_size account names per request
-- @tparam[opt] string|false options.proxy outbound proxy for the API calls:
-- nil = libcurl's environment variables, false = none, "scheme://host:port"
-- @tparam[opt=false] boolean|function options.dry_run true: POSTs are not sent but
-- reported on stderr as one line (key hidden) and succeed; or a function(line)
-- @tparam[opt] string options.ca_file CA bundle for TLS verification
-- @tparam[opt=false] boolean options.insecure no TLS verification (prints one warning)
-- @tparam[opt=67108864] integer options.max_response_bytes
-- @tparam[opt] function options.on_request function(info) after each HTTP exchange,
-- with info.method, .path, .status, .elapsed, .attempt, .error (never the key)
-- @tparam[opt] function options.progress function(done, total) for split batches
-- and `Client:map`
-- @tparam[opt] string|boolean|table options.journal record every request that
-- changes or hands out something (intent before it is sent, outcome after):
-- a path, true for `$XDG_STATE_HOME/proxyapi/journal.sqlite3`, or a journal of
-- `proxyapi.journal.open`; a journal that cannot be written stops the change
-- @tparam[opt] string|boolean|table options.history a history database (a path,
-- true for `$XDG_STATE_HOME/proxyapi/history.sqlite3`, or one of
-- `proxyapi.history.open`): `delete_accounts` stores the accounts' usage there
-- first, since the provider drops it, and sends nothing when it cannot
-- @tparam[opt=2] number options.grace seconds transfers in flight may take to end
-- after an interrupt (default: `PROXYAPI_GRACE`, else 2)
-- @tparam[opt] string|false options.profile a profile of the config file
-- (default: `PROXYAPI_PROFILE`; false: none)
-- @tparam[opt] string options.config the config file (default:
-- `$XDG_CONFIG_HOME/proxyapi/config.lua`)
-- @treturn Client
-- @raise `bad argument #1 to 'new' (...)` for a missing or malformed option
-- @usage
-- local api = proxyapi.new { app_key = key, base_url = "https://api.example.com", timeout = 10 }
-- local test = proxyapi.new { app_key = fake_key, base_url = "http://127.0.0.1:8080" }
function proxyapi.new(options)
  return client.new(options, proxyapi.VERSION)
end

--- The journal of changes (`proxyapi.journal`: `open(path)`, then `:runs()`,
-- `:entries{run=, since=, account=, outcome=}`, `:prune{before=}`), loaded on
-- first use.
-- @field journal

--- The usage history (`proxyapi.history`: `open(path)`, then `:sync(api)`,
-- `:usage{}`, `:accounts{}`), loaded on first use.
-- @field history

-- Both need LuaSQL: loaded when first read, so that a script that uses
-- neither never loads it.
local LAZY = { journal = "proxyapi.journal", history = "proxyapi.history" }
setmetatable(proxyapi, { __index = function(t, k)
  local name = LAZY[k]
  if name then
    local m = require(name)
    rawset(t, k, m)
    return m
  end
end })


--- A proxy URL from an extracted address and credentials.
-- @tparam string addr "host:port", as `Client:extract_ips` returns them
-- @tparam[opt] table options
-- @tparam[opt="http"] string options.scheme http, https, socks4, socks4a, socks5 or socks5h
-- @tparam[opt] string options.username percent-encoded into the URL
-- @tparam[opt] string options.password percent-encoded into the URL (needs a username)
-- @treturn string the URL
-- @raise `bad argument` for a malformed address or option
-- @usage
-- proxyapi.proxy_url("1.2.3.4:1140", { username = "u", password = "p" })
-- --> "http://u:p@1.2.3.4:1140"
function proxyapi.proxy_url(addr, options)
  local port = net.host_port(addr)
  if port == nil then
    arg_error(1, "proxy_url", format('"host:port" expected, got %s',
      type(addr) == "string" and format("%q", addr) or type(addr)))
  end
  if port < 1 or port > 65535 then
    arg_error(1, "proxy_url", "port must be from 1 to 65535")
  end
  options = options or {}
  if type(options) ~= "table" then
    arg_error(2, "proxy_url", "table of options expected, got " .. type(options))
  end
  local scheme = "http"
  if options.scheme ~= nil then
    local msg
    scheme, msg = net.proxy_scheme(options.scheme)
    if scheme == nil then
      arg_error(2, "proxy_url", msg)
    end
  end
  local user, pass = options.username, options.password
  if user ~= nil and type(user) ~= "string" or pass ~= nil and type(pass) ~= "string" then
    arg_error(2, "proxy_url", "username and password must be strings")
  end
  if pass ~= nil and user == nil then
    arg_error(2, "proxy_url", "a password needs a username")
  end
  local credentials = ""
  if user ~= nil then
    credentials = net.percent_encode(user) .. (pass and ":" .. net.percent_encode(pass) or "") .. "@"
  end
  return scheme .. "://" .. credentials .. addr
end

--- An error object, returned as the second value of a failed call.
-- `tostring(err)` reads like
-- `proxyapi: POST /openapi/whitelist-account/add: api code 3: invalid app_key`;
-- `proxyapi.is_error(err)` tells it apart.
-- @table Error
-- @field kind "api" (code ~= 200), "http" (non-2xx status), "network", "timeout",
-- "protocol" (bad JSON, unexpected shape, reply too large), "cancelled" (interrupted)
-- or "journal" (the journal or the history could not be written: nothing was sent)
-- @field code the API's code, for kind "api" (and "http" when the reply had one)
-- @field status the HTTP status, where there was one
-- @field msg the server's message or a description (the key scrubbed out)
-- @field endpoint e.g. "POST /openapi/whitelist-account/add"
-- @field attempts how many times the request went out
-- @field retryable whether trying again later may succeed
-- @field failed for batches: every name (username for add) whose request failed
-- @field succeeded for batches: every name whose request went through
-- @field unknown for batches: the names of `failed` whose request may have reached
-- the server (the journal's outcome "unknown")
-- @field outcome for requests that change or hand out something: "failed" when it is
-- known not to have been applied (an answer refused it, or it never left), "unknown"
-- when it may have been; the journal records the same
-- @field maybe_applied true when a request that is not retried failed after it may
-- have reached the server (add, delete, extract_ips)
-- @field retry_after seconds the server asked to wait, when over retry_max_wait

--- A client of the API, made by `proxyapi.new`.
--
-- Retries: reads (every GET but `extract_ips`) and the idempotent writes
-- (`enable_accounts`, `disable_accounts`, `change_password`,
-- `change_remark`, `change_limit`) are retried on network failures,
-- timeouts and HTTP 429, 500, 502, 503, 504; `add_accounts`,
-- `delete_accounts`, `extract_ips` and `call` with POST only when the
-- connection could not be made at all, and they go out on a connection
-- of their own so that libcurl never re-sends them. An API code is an
-- answer and is never retried.
--
-- Names and passwords are ASCII letters and digits, non-empty. Lists of
-- names or accounts longer than `batch_size` go out as several requests,
-- `concurrency` at a time. A client is a to-be-closed value;
-- `tostring(api)` never shows the key.
-- @type Client

-- The methods of the endpoints (list_accounts ... list_static_ips, and the
-- iterators each_product and each_static_ip) are documented from their
-- entries of proxyapi.endpoints: `make docs` writes them (scripts/gen-doc).

--- Calls any endpoint: the escape hatch.
-- GET parameters go in the query string, POST ones in a JSON body; the key
-- is added. GET is retried like a read, POST only when no connection could
-- be made.
-- @tparam string method "GET" or "POST"
-- @tparam string path e.g. "/openapi/ip/v3"
-- @tparam[opt] table params string keys; string, number or boolean values
-- @return the decoded `data`, or true when it is null
-- @return[2] nil
-- @treturn[2] Error err
-- @usage local data = assert(api:call("GET", "/openapi/ip/dynamic-states/search", { country_code = "US" }))
-- @function Client:call

--- Runs a function for every item, with the API calls inside it running
-- concurrently (libcurl multi, up to `concurrency` at a time) while the
-- function reads sequentially. Retries and backoff waits inside follow
-- the same rules as outside and block no other item.
-- @tparam table items an array
-- @tparam function fn `fn(api, item, i)`: the client, the item and its index
-- @tparam[opt] table options `concurrency` (default: the client's),
-- `progress` = function(done, total)
-- @treturn table results: `results[i]` is what `fn` returned for `items[i]`; `results.n == #items`
-- @treturn table errs: `errs[i]` is a returned `nil, err` or error object, or the
-- raised value unchanged; always a table
-- @usage
-- local results, errs = api:map(names, function(api, name)
--   return api:change_limit(name, 10)
-- end, { concurrency = 16 })
-- @function Client:map

--- Fetches a URL through each proxy, concurrently.
-- @tparam {string,...} addrs "host:port" or "scheme://[user:pass@]host:port"
-- @tparam[opt] table options `url` (an http(s) URL), `timeout` (default 5 s),
-- `username`, `password`, `scheme` (for bare addresses, default "http"),
-- `concurrency`
-- @treturn {table,...} one `{addr =, ok =, status =, latency_ms =, err =}` per
-- address, in order (`err` an `Error`)
-- @usage for _, r in ipairs(api:check_proxies(ips, { url = "https://example.com/" })) do
--   print(r.addr, r.ok, r.latency_ms)
-- end
-- @function Client:check_proxies

--- The client's settings, without the key.
-- @treturn table `base_url`, `timeout`, `connect_timeout`, `retries`, `retry_backoff`,
-- `retry_max_wait`, `concurrency`, `batch_size`, `max_response_bytes`, `dry_run`
-- (boolean), `paths` (method -> path)
-- @usage if api:settings().dry_run then print("nothing will change") end
-- @function Client:settings

--- Frees the client's connections at once; later calls raise. Idempotent;
-- `__close` and `__gc` do the same.
-- @usage do local api <close> = proxyapi.new { ... } ... end
-- @function Client:close

return proxyapi
