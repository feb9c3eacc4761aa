--- The client: options, and one code path that serves every endpoint of
-- proxyapi.endpoints (argument rules, batching, paging, result shapes).
-- @module proxyapi.client

local core = require "proxyapi.core"
local check = require "proxyapi.check"
local endpoints = require "proxyapi.endpoints"
local errors = require "proxyapi.errors"
local transport = require "proxyapi.transport"
local scheduler = require "proxyapi.scheduler"
local proxycheck = require "proxyapi.proxycheck"

local type, select, pairs, ipairs, next = type, select, pairs, ipairs, next
local error, tostring, setmetatable, getmetatable = error, tostring, setmetatable, getmetatable
local format, find, sub, gsub = string.format, string.find, string.sub, string.gsub
local tonumber = tonumber
local concat, unpack, sort = table.concat, table.unpack, table.sort
local math_type, huge = math.type, math.huge
local tointeger = check.tointeger
local getenv, stderr = os.getenv, io.stderr

local arg_error = check.arg_error
local exchange = transport.exchange

local client = {}

--- Client state by handle; weak, so that a dropped client is collected.
-- The app_key lives only here, out of reach of the client object.
local states = setmetatable({}, { __mode = "k" })

local Client = core.Client

local function state(self, fname)
  local st = states[self]
  if st == nil then
    error(format("calling '%s' on bad self (proxyapi.Client expected, got %s)", fname,
      type(self)), 0)
  end
  if not self:_isopen() then
    error("attempt to use a closed proxyapi client", 0)
  end
  return st
end

-- ---------------------------------------------------------------------
-- Options

local OPTIONS = {
  app_key = true, base_url = true, prefix = true, paths = true, timeout = true,
  connect_timeout = true, retries = true, retry_backoff = true, retry_max_wait = true,
  concurrency = true, batch_size = true, proxy = true, dry_run = true, ca_file = true,
  insecure = true, max_response_bytes = true, on_request = true, progress = true,
}

local function option_error(msg)
  arg_error(1, "new", msg)
end

--- A numeric option: "seconds" (> 0), "delay" (>= 0), or an integer of
-- at least `min`.
local function number_option(opts, name, default, kind, min)
  local v = opts[name]
  if v == nil then
    return default
  end
  if type(v) ~= "number" or v ~= v or v == huge or v == -huge then
    option_error(format("%s: finite number expected, got %s", name, check.shown(v)))
  end
  if kind == "integer" then
    local i, msg = check.integer(v, name, min)
    if i == nil then
      option_error(msg)
    end
    return i
  end
  if v < 0 or (kind == "seconds" and v == 0) then
    option_error(format("%s: %s number of seconds expected, got %s", name,
      kind == "seconds" and "a positive" or "a non-negative", tostring(v)))
  end
  return v
end

local function is_loopback(host)
  return host == "localhost" or host == "[::1]" or find(host, "^127%.%d+%.%d+%.%d+$") ~= nil
end

--- The app_key and base_url come from options or, when absent, from the
-- environment; a bad value is reported under the name it was given by.
local function required_string(opts, name, variable)
  local value, label = opts[name], name
  if value == nil then
    value, label = getenv(variable), variable
    if value == nil or value == "" then
      option_error(format("%s is required (set %s or pass %s)", name, variable, name))
    end
  elseif type(value) ~= "string" then
    option_error(format("%s: string expected, got %s", name, type(value)))
  end
  return value, label
end

local function check_base_url(url, label, insecure)
  if url == "" then
    option_error(label .. ": empty")
  end
  if find(url, "%c") then
    option_error(label .. ": control characters are not allowed")
  end
  local scheme, authority, rest = url:match("^(%a[%w+.-]*)://([^/?#]*)(.*)$")
  scheme = scheme and scheme:lower()
  if scheme ~= "http" and scheme ~= "https" then
    option_error(label .. ": http:// or https:// URL expected")
  end
  if authority == "" or find(authority, "@", 1, true) or find(authority, "%s") then
    option_error(label .. ": a host (without credentials) expected")
  end
  if rest ~= "" and not find(rest, "^/[^?#%s]*$") then
    option_error(label .. ": no query, fragment or spaces expected after the host")
  end
  local host, port = authority:match("^(%[[%x:.]+%])(.*)$")
  if host == nil then
    host, port = authority:match("^([^:%[%]]+)(.*)$")
  end
  local port_number = port and tointeger(tonumber(port:match("^:(%d+)$")))
  if host == nil or port ~= "" and not (port_number and port_number >= 1 and port_number <= 65535) then
    option_error(label .. ": host[:port] expected, with a port from 1 to 65535")
  end
  if scheme == "http" and not insecure and not is_loopback(host:lower()) then
    option_error(label .. ": plain http would send the app_key in clear text; use https "
      .. "(plain http is allowed for loopback hosts, or with insecure = true)")
  end
  return scheme .. "://" .. authority .. gsub(rest, "/+$", "")
end

local function check_app_key(key, label)
  if key == "" then
    option_error(label .. ": empty")
  end
  -- printable ASCII only: the key goes raw into JSON and percent-encoded into URLs
  if not find(key, "^[\33-\126]+$") or #key > 1024 then
    option_error(label .. ": printable ASCII characters without spaces expected (at most 1024)")
  end
  return key
end


local function check_proxy(proxy)
  if proxy == nil or proxy == false then
    return proxy
  end
  if type(proxy) ~= "string" then
    option_error("proxy: false or \"scheme://host:port\" expected, got " .. type(proxy))
  end
  local scheme, hostport = proxy:match("^(%a[%w]*)://([^/%s]+)/?$")
  if not scheme or not check.PROXY_SCHEMES[scheme:lower()] or not find(hostport, ":%d+$") then
    option_error("proxy: \"scheme://host:port\" expected (http, https, socks4, socks4a, socks5, socks5h)")
  end
  return proxy
end

local function check_path(path, label)
  if type(path) ~= "string" or not find(path, "^/[^?#%s%c]*$") then
    option_error(format("%s: a path starting with / (no query, spaces or control characters) expected", label))
  end
  return path
end

--- The wire path of each method: an override from `paths`, or the
-- default with its leading /openapi replaced by `prefix`.
local function resolve_paths(prefix, overrides)
  local paths = {}
  for name, ep in pairs(endpoints) do
    local path = ep.path
    if prefix and sub(path, 1, 9) == "/openapi/" then
      path = prefix .. sub(path, 9)
    end
    paths[name] = path
  end
  if overrides ~= nil then
    if type(overrides) ~= "table" then
      option_error("paths: table expected, got " .. type(overrides))
    end
    for name, path in pairs(overrides) do
      if endpoints[name] == nil then
        option_error(format("paths: no method named '%s'", tostring(name)))
      end
      paths[name] = check_path(path, "paths." .. name)
    end
  end
  return paths
end

--- A file that opens and reads (a directory opens, but fails to read).
local function readable_file(path)
  local f = not find(path, "%z") and io.open(path, "r")
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
  option_error("dry_run: boolean or function expected, got " .. type(value))
end

local function optional_function(opts, name)
  local v = opts[name]
  if v ~= nil and type(v) ~= "function" then
    option_error(format("%s: function expected, got %s", name, type(v)))
  end
  return v
end

--- Makes a client; see API.md for the options.
function client.new(opts, version)
  if opts == nil then
    opts = {}
  elseif type(opts) ~= "table" then
    option_error("table of options expected, got " .. type(opts))
  end
  for key in next, opts do
    if not OPTIONS[key] then
      option_error(format("unknown option '%s'", tostring(key)))
    end
  end
  local insecure = opts.insecure
  if insecure ~= nil and type(insecure) ~= "boolean" then
    option_error("insecure: boolean expected, got " .. type(insecure))
  end
  local key = check_app_key(required_string(opts, "app_key", "PROXYAPI_APP_KEY"))
  local url, url_label = required_string(opts, "base_url", "PROXYAPI_BASE_URL")
  local base_url = check_base_url(url, url_label, insecure)
  local prefix = opts.prefix
  if prefix ~= nil then
    if type(prefix) ~= "string" or not (prefix == "" or find(prefix, "^/[^?#%s%c]*[^/?#%s%c]$")) then
      option_error("prefix: a path such as \"/openapi\" expected (or \"\" for none)")
    end
  end
  local ca_file = opts.ca_file
  if ca_file ~= nil and not (type(ca_file) == "string" and readable_file(ca_file)) then
    option_error("ca_file: a readable file expected")
  end
  local st = {
    key = key,
    scrub = errors.scrubber(key),
    base_url = base_url,
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
    paths = resolve_paths(prefix, opts.paths),
  }
  st.urls = {}
  for name, path in pairs(st.paths) do
    st.urls[name] = base_url .. path
  end
  st.key_query = { "app_key", key }
  st.user_agent = "proxyapi/" .. version
  st.handle = core.new_client {
    user_agent = st.user_agent,
    connect_timeout = st.connect_timeout,
    max_response_bytes = st.max_response_bytes,
    proxy = check_proxy(opts.proxy),
    ca_file = ca_file,
    insecure = insecure,
  }
  if insecure then
    stderr:write("proxyapi: warning: insecure = true: TLS certificates are not verified\n")
  end
  states[st.handle] = st
  return st.handle
end

-- ---------------------------------------------------------------------
-- Arguments: from the Lua call to a flat list of wire fields

local option_names = {} -- ep -> pos -> set of option names
for _, ep in pairs(endpoints) do
  option_names[ep] = {}
  for _, a in ipairs(ep.args or {}) do
    if a.field then
      local known = option_names[ep][a.pos] or {}
      known[a.field] = true
      option_names[ep][a.pos] = known
    end
  end
end

--- Checks the arguments of a call; returns the wire fields as a flat
-- array {name, value, ...}, and for a batch endpoint the list of items,
-- their account names, and the slot of the list in the fields.
local function collect(fname, ep, ...)
  local fields, items, names, slot = {}, nil, nil, nil
  local options = {}
  for _, a in ipairs(ep.args or {}) do
    local pos = a.pos
    local value = select(pos, ...)
    if a.field then
      local opts = options[pos]
      if opts == nil then
        local msg
        opts, msg = check.options(value, option_names[ep][pos])
        if opts == nil then
          arg_error(pos, fname, msg)
        end
        options[pos] = opts
      end
      value = opts[a.field]
    end
    if value ~= nil or a.required then
      local wire, extra = check[a.rule](value, a.field or a.wire)
      if wire == nil then
        arg_error(pos, fname, extra)
      end
      if ep.batch == a.wire then
        items, names, slot = wire, extra or wire, #fields + 2
        wire = ""
      end
      fields[#fields + 1] = a.wire
      fields[#fields + 1] = wire
    end
  end
  if ep.ordered then
    local first, second = ep.ordered[1], ep.ordered[2]
    local a, b
    for i = 1, #fields, 2 do
      if fields[i] == first then
        a = fields[i + 1]
      elseif fields[i] == second then
        b = fields[i + 1]
      end
    end
    if a and b and a > b then
      arg_error(1, fname, format("%s is after %s", first, second))
    end
  end
  return fields, items, names, slot
end

local function with_field(fields, name, value)
  local copy = { unpack(fields) }
  for i = 1, #copy, 2 do
    if copy[i] == name then
      copy[i + 1] = value
      return copy
    end
  end
  copy[#copy + 1], copy[#copy + 2] = name, value
  return copy
end

-- ---------------------------------------------------------------------
-- Results: from `data` to what a method returns

local shapes = {}

local function list_of(data)
  if data == nil then
    return {}
  end
  if type(data) ~= "table" then
    return nil, format("unexpected reply: data is a %s, expected an object", type(data))
  end
  local list = data.list
  if list == nil then
    return {}
  end
  if type(list) ~= "table" then
    return nil, format("unexpected reply: data.list is a %s, expected an array", type(list))
  end
  return list
end

function shapes.ok()
  return true
end

shapes.list = list_of

function shapes.page(data)
  local list, msg = list_of(data)
  if list == nil then
    return nil, msg
  end
  local page = { list = list }
  if data ~= nil then
    for _, field in ipairs { "page", "page_size", "total_count", "total_page" } do
      local v = data[field]
      if v ~= nil and math_type(v) ~= "integer" then
        return nil, format("unexpected reply: data.%s is not an integer", field)
      end
      page[field] = v
    end
  end
  return page
end

function shapes.data(data)
  if data == nil then
    return true
  end
  return data
end

local function split_text(text, separator)
  local ips, n, init = {}, 0, 1
  local pattern, plain = separator, true
  if separator == nil then
    pattern, plain = "\r?\n", false
    text = gsub(text, "\r\n?", "\n")
  end
  while true do
    local i, j = find(text, pattern, init, plain)
    local item = (sub(text, init, (i or 0) - 1)):match("^%s*(.-)%s*$")
    if item ~= "" then
      n = n + 1
      ips[n] = item
    end
    if i == nil then
      return ips
    end
    init = j + 1
  end
end

--- IP extraction: a list of lists of "ip:port" (flattened), or the text
-- of a text-format reply.
function shapes.ips(data, separator, is_text)
  if is_text then
    return split_text(data, separator)
  end
  local list, msg = list_of(data)
  if list == nil then
    return nil, msg
  end
  local ips, n = {}, 0
  for _, item in ipairs(list) do
    if type(item) == "string" then
      n = n + 1
      ips[n] = item
    elseif type(item) == "table" then
      for _, ip in ipairs(item) do
        if type(ip) ~= "string" then
          return nil, "unexpected reply: an IP is not a string"
        end
        n = n + 1
        ips[n] = ip
      end
    else
      return nil, "unexpected reply: an IP is not a string"
    end
  end
  return ips
end

-- ---------------------------------------------------------------------
-- Requests

local function encode_value(value)
  return core.json_encode(value)
end

--- The dry-run line of a POST: method, path and fields, key hidden.
local function dry_run_line(path, fields)
  local parts = { '"app_key":"***"' }
  for i = 1, #fields, 2 do
    parts[#parts + 1] = encode_value(fields[i]) .. ":" .. encode_value(fields[i + 1])
  end
  return format("proxyapi: dry-run: POST %s {%s}", path, concat(parts, ","))
end

--- Sends one request to `path`; returns the shaped result, or nil and an
-- error object.
local function send(st, path, url, ep, fields, shape)
  local req = { method = ep.method, path = path, url = url, policy = ep.retry }
  if ep.method == "GET" then
    if #fields == 0 then
      req.query = st.key_query
    else
      req.query = { "app_key", st.key, unpack(fields) }
    end
  else
    if st.dry_run then
      st.dry_run(dry_run_line(path, fields))
      return true
    end
    local body = { app_key = st.key }
    for i = 1, #fields, 2 do
      body[fields[i]] = fields[i + 1]
    end
    req.body = body
  end
  shape = shape or shapes[ep.result]
  if ep.result == "ips" then
    local format_, lb
    for i = 1, #fields, 2 do
      if fields[i] == "format" then
        format_ = fields[i + 1]
      elseif fields[i] == "lb" then
        lb = fields[i + 1]
      end
    end
    if format_ ~= nil and format_:lower() ~= "json" then
      req.raw = true
    end
    req.shape = function(data, is_text)
      return shapes.ips(data, lb, is_text)
    end
  else
    req.shape = shape
  end
  return exchange(st, req)
end

--- A list longer than batch_size goes out as several requests, run
-- `concurrency` at a time; every name of a failed request is reported.
local function send_batch(st, name, ep, fields, items, names, slot)
  local size, count = st.batch_size, #items
  local nchunks = (count + size - 1) // size
  local path, url = st.paths[name], st.urls[name]
  local chunk_errors, raised = {}, nil
  local function run_chunk(k)
    local f = { unpack(fields) }
    f[slot] = concat(items, ",", (k - 1) * size + 1, k * size < count and k * size or count)
    return send(st, path, url, ep, f)
  end
  local function finished(k, ok, result, err)
    if not ok then
      raised = raised or result -- a bug (say in on_request): raised once all are done
    elseif result == nil then
      chunk_errors[k] = err
    end
  end
  if nchunks == 1 or st.dry_run or transport.loop_of(st.handle) then
    for k = 1, nchunks do
      finished(k, true, run_chunk(k))
    end
  else
    scheduler.run(st.handle, nchunks, run_chunk, st.concurrency, finished, st.progress)
  end
  if raised ~= nil then
    error(raised, 0)
  end
  local first_error, failed = nil, {}
  for k = 1, nchunks do
    if chunk_errors[k] then
      first_error = first_error or chunk_errors[k]
      for i = (k - 1) * size + 1, k * size < count and k * size or count do
        failed[#failed + 1] = names[i]
      end
    end
  end
  if first_error then
    first_error.failed = failed
    return nil, first_error
  end
  return true
end

local function invoke(self, name, ep, ...)
  local st = state(self, name)
  local fields, items, names, slot = collect(name, ep, ...)
  if items ~= nil then
    return send_batch(st, name, ep, fields, items, names, slot)
  end
  return send(st, st.paths[name], st.urls[name], ep, fields)
end

for name, ep in pairs(endpoints) do
  Client[name] = function(self, ...)
    return invoke(self, name, ep, ...)
  end
end

-- ---------------------------------------------------------------------
-- Paging iterators

--- An iterator over every item of every page of `list_name`; it raises
-- the error object on a failure, as io.lines does.
local function pager(iter_name, list_name)
  local ep = endpoints[list_name]
  return function(self, opts)
    local st = state(self, iter_name)
    local fields = collect(iter_name, ep, opts)
    local page = opts and tointeger(opts.page) or 1
    local size = opts and tointeger(opts.size) or nil
    local list, i, finished = nil, 0, false
    return function()
      while true do
        if list ~= nil and i < #list then
          i = i + 1
          return list[i]
        end
        if finished then
          return nil
        end
        local result, err = send(st, st.paths[list_name], st.urls[list_name], ep,
          with_field(fields, "page", page), shapes.page)
        if result == nil then
          finished = true
          error(err, 0)
        end
        list, i = result.list, 0
        local expected = result.page_size or size
        if #list == 0 or (result.total_page and page >= result.total_page)
          or (expected and #list < expected) then
          finished = true
        end
        page = page + 1
      end
    end
  end
end

Client.each_product = pager("each_product", "list_products")
Client.each_static_ip = pager("each_static_ip", "list_static_ips")

-- ---------------------------------------------------------------------
-- The escape hatch

--- A parameter of `call`, checked: scalars for a query string; for a JSON
-- body also plain tables (no metatable: cjson reads them raw), all the way down.
local function call_value(value, key, post, depth)
  local kind = type(value)
  if kind == "string" or kind == "boolean" then
    return value
  elseif kind == "number" then
    if value ~= value or value == huge or value == -huge then
      return nil, format("params.%s: finite number expected", key)
    end
    return tointeger(value) or value
  elseif kind == "table" and post then
    if getmetatable(value) ~= nil then
      return nil, format("params.%s: a plain table (without a metatable) expected", key)
    end
    if (depth or 0) > 32 then
      return nil, format("params.%s: nested too deeply", key)
    end
    for k, v in next, value do
      if type(k) ~= "string" and math_type(k) ~= "integer" then
        return nil, format("params.%s: keys must be strings or integers", key)
      end
      local _, msg = call_value(v, key .. "." .. tostring(k), post, (depth or 0) + 1)
      if msg then
        return nil, msg
      end
    end
    return value
  end
  return nil, format("params.%s: string, number or boolean expected, got %s", key, kind)
end

--- Calls any endpoint: decoded `data`, or true when it is null. GET is
-- retried like a read, POST only when no connection could be made.
function Client:call(method, path, params)
  local st = state(self, "call")
  if type(method) ~= "string" or (method:upper() ~= "GET" and method:upper() ~= "POST") then
    arg_error(1, "call", "'GET' or 'POST' expected")
  end
  method = method:upper()
  if type(path) ~= "string" or not find(path, "^/[^?#%s%c]*$") then
    arg_error(2, "call", "a path starting with / (without query, spaces or control characters) expected")
  end
  local keys = {}
  if params ~= nil then
    if type(params) ~= "table" then
      arg_error(3, "call", "table of parameters expected, got " .. type(params))
    end
    for key in next, params do
      if type(key) ~= "string" then
        arg_error(3, "call", "parameter names must be strings")
      elseif key == "app_key" then
        arg_error(3, "call", "app_key is added by the client")
      end
      keys[#keys + 1] = key
    end
    sort(keys)
  end
  local fields = {}
  for _, key in ipairs(keys) do
    local value, msg = call_value(params[key], key, method == "POST")
    if value == nil then
      arg_error(3, "call", msg)
    end
    fields[#fields + 1], fields[#fields + 2] = key, value
  end
  local ep = { method = method, retry = method == "GET" and "read" or "once", result = "data" }
  return send(st, path, st.base_url .. path, ep, fields)
end

-- ---------------------------------------------------------------------
-- Concurrency

--- Runs fn(api, item) for every item; API calls inside run concurrently.
function Client:map(items, fn, opts)
  local st = state(self, "map")
  if type(items) ~= "table" then
    arg_error(1, "map", "array expected, got " .. type(items))
  end
  if type(fn) ~= "function" then
    arg_error(2, "map", "function expected, got " .. type(fn))
  end
  local o, msg = check.options(opts, { concurrency = true, progress = true })
  if o == nil then
    arg_error(3, "map", msg)
  end
  local concurrency
  concurrency, msg = check.optional_integer(o.concurrency, st.concurrency, "concurrency", 1)
  if concurrency == nil then
    arg_error(3, "map", msg)
  end
  local progress = o.progress
  if progress ~= nil and type(progress) ~= "function" then
    arg_error(3, "map", "progress: function expected, got " .. type(progress))
  end
  progress = progress or st.progress
  local n = #items
  local results, errs = { n = n }, {}
  local function record(i, ok, first, second)
    if not ok then
      errs[i] = first
    elseif first == nil and second ~= nil then
      errs[i] = second
    elseif errors.is_error(first) then
      errs[i] = first
    else
      results[i] = first
    end
  end
  local function run_item(i)
    return fn(self, items[i])
  end
  if transport.loop_of(st.handle) then
    -- nested in another map: the outer loop already runs things concurrently
    for i = 1, n do
      record(i, pcall(run_item, i))
      if progress then
        progress(i, n)
      end
    end
  else
    scheduler.run(st.handle, n, run_item, concurrency, record, progress)
  end
  return results, errs
end

-- ---------------------------------------------------------------------
-- Settings

--- A copy of the client's settings, without the app_key: base_url,
-- timeout, connect_timeout, retries, retry_backoff, retry_max_wait,
-- concurrency, batch_size, max_response_bytes, dry_run (a boolean) and
-- paths (method -> path).
function Client:settings()
  local st = state(self, "settings")
  local paths = {}
  for name, path in pairs(st.paths) do
    paths[name] = path
  end
  return {
    base_url = st.base_url, timeout = st.timeout, connect_timeout = st.connect_timeout,
    retries = st.retries, retry_backoff = st.retry_backoff, retry_max_wait = st.retry_max_wait,
    concurrency = st.concurrency, batch_size = st.batch_size,
    max_response_bytes = st.max_response_bytes, dry_run = st.dry_run ~= nil, paths = paths,
  }
end

-- ---------------------------------------------------------------------
-- Proxy tools

--- Fetches opts.url through each proxy concurrently; one result per
-- address, in order: {addr =, ok =, status =, latency_ms =, err =}.
function Client:check_proxies(addrs, opts)
  return proxycheck.run(state(self, "check_proxies"), addrs, opts)
end

-- for the specs: the result shapes, and the state of each client (the
-- secrets spec needs the key pxlua --fake made up, to search output for it)
client.states = states
client.shapes = shapes

return client
