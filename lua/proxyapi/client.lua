--- The client's methods. Every endpoint method is made from its entry of
-- proxyapi.endpoints by one definition (`client.define`); the others are
-- call, map, settings and check_proxies. The object users hold is the
-- core's proxyapi.Client userdata: its methods table has only these, and
-- what the client knows (settings, routes) stays here, out of its reach.
-- @module proxyapi.client

local core = require "proxyapi.core"
local check = require "proxyapi.check"
local endpoints = require "proxyapi.endpoints"
local errors = require "proxyapi.errors"
local options = require "proxyapi.options"
local record = require "proxyapi.record"
local request = require "proxyapi.request"
local shapes = require "proxyapi.shapes"
local batch = require "proxyapi.batch"
local send = require "proxyapi.send"
local keep = require "proxyapi.keep"
local scheduler = require "proxyapi.scheduler"
local transport = require "proxyapi.transport"
local proxycheck = require "proxyapi.proxycheck"

local type, pairs, ipairs, next, pcall = type, pairs, ipairs, next, pcall
local error, tostring, getmetatable, setmetatable = error, tostring, getmetatable, setmetatable
local format, find, upper = string.format, string.find, string.upper
local sort = table.sort
local math_type, huge, tointeger = math.type, math.huge, check.tointeger
local stderr = io.stderr
local arg_error = check.arg_error
local isopen = core.transfer.isopen

local client = {}

--- Client state by handle; weak, so that a dropped client is collected.
local states = setmetatable({}, { __mode = "k" })

local Client = core.Client

local function state(self, fname)
  local st = states[self]
  if st == nil then
    error(format("calling '%s' on bad self (proxyapi.Client expected, got %s)", fname, type(self)), 0)
  end
  if not isopen(self) then
    error("attempt to use a closed proxyapi client", 0)
  end
  return st
end

--- Checks the options of `new` without making a client: true, or nil,
-- the message and what options.settings knows of the problem.
function client.check_options(opts)
  local st, msg, why = options.settings(opts, endpoints)
  if st == nil then
    return nil, msg, why
  end
  return true
end

--- Makes a client; raises `bad argument #1 to 'new'` for a bad option.
function client.new(opts, version)
  local st, msg = options.settings(opts, endpoints)
  if st == nil then
    arg_error(1, "new", msg)
  end
  st.user_agent = "proxyapi/" .. version
  st.routes = setmetatable({}, { __mode = "k" })
  st.record, msg = record.new(st.journal, st)
  if st.record == nil then
    arg_error(1, "new", msg)
  end
  st.handle = core.new_client {
    user_agent = st.user_agent, app_key = st.app_key, timeout = st.timeout,
    connect_timeout = st.connect_timeout, max_response_bytes = st.max_response_bytes,
    proxy = st.proxy, ca_file = st.ca_file, insecure = st.insecure, grace = st.grace,
  }
  st.app_key = nil -- the core holds it now
  if st.insecure then
    stderr:write("proxyapi: warning: insecure = true: TLS certificates are not verified\n")
  end
  states[st.handle] = st
  return st.handle
end

local function route_of(st, name, ep)
  local route = st.routes[ep]
  if route == nil then
    route = request.route(st, name, ep)
    st.routes[ep] = route
  end
  return route
end

--- Adds a method for every entry of an endpoint table to `methods`: the
-- interpreter of the table. proxyapi.Client gets those of
-- proxyapi.endpoints; a spec can give a copy with a made-up entry.
-- @tparam table methods
-- @tparam table table_ the endpoint table
function client.define(methods, table_)
  for name, ep in pairs(table_) do
    local shape = shapes[ep.result]
    if ep.args == nil then
      -- no arguments: one request value per client serves every call
      -- (nothing writes to a request value once it is made)
      methods[name] = function(self)
        local st = state(self, name)
        local route = st.routes[ep] or route_of(st, name, ep)
        local req = route.request
        if req == nil then
          req = request.build(name, route, ep)
          route.request = req
        end
        return send.one(st, req, shape)
      end
    elseif ep.drops_history then
      methods[name] = function(self, arg1, arg2)
        local st = state(self, name)
        local req = request.build(name, st.routes[ep] or route_of(st, name, ep), ep, arg1, arg2)
        local h, err = keep.before(st, self, req)
        if h == nil then
          return nil, err
        end
        local result
        result, err = (req.items ~= nil and batch.send or send.one)(st, req, shape)
        if h then
          keep.after(h, self, req, err)
        end
        if result == nil then
          return nil, err
        end
        return result
      end
    else
      methods[name] = function(self, arg1, arg2)
        local st = state(self, name)
        local req = request.build(name, st.routes[ep] or route_of(st, name, ep), ep, arg1, arg2)
        if req.items ~= nil then
          return batch.send(st, req, shape)
        end
        return send.one(st, req, shape)
      end
    end
    local paged = ep.paged
    if paged then
      methods[paged.iterator] = function(self, opts)
        local st = state(self, paged.iterator)
        return batch.pages(st, request.build(paged.iterator, route_of(st, name, ep), ep, opts), paged)
      end
    end
  end
  return methods
end

client.define(Client, endpoints)

--- The profile a client was made from: its name and its table (rules,
-- history: what watch reads), or nil and {} for none.
function client.profile(api)
  local st = states[api]
  return st and st.profile, st and st.profile_settings or {}
end

--- Adds `fn` to what a client calls after each HTTP exchange (after its own
-- `on_request`, if any): for jobs that observe a client they did not make,
-- as `proxyapi metrics --listen` counts requests.
-- @param api a client
-- @tparam function fn function(info), as `on_request`
function client.observe(api, fn)
  local st = states[api]
  if st == nil or type(fn) ~= "function" then
    error("client.observe: a client and a function expected", 2)
  end
  local before = st.on_request
  st.on_request = before and function(info)
    before(info)
    fn(info)
  end or fn
end

--- The recorder of a client (its journal and outcome counts), for hosts
-- that end its run or print its summary; nil for anything else.
function client.recorder(api)
  local st = states[api]
  return st and st.record
end

-- ---------------------------------------------------------------------
-- The escape hatch

--- A parameter of `call`, checked: scalars for a query string; for a JSON
-- body also plain tables (no metatable: they are read raw), all the way down.
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
  if type(method) ~= "string" or (upper(method) ~= "GET" and upper(method) ~= "POST") then
    arg_error(1, "call", "'GET' or 'POST' expected")
  end
  method = upper(method)
  if type(path) ~= "string" or not find(path, "^/[^?#%s%c]*$") then
    arg_error(2, "call", "a path starting with / (without query, spaces or control characters) expected")
  end
  local order = {}
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
      order[#order + 1] = key
    end
    sort(order)
  end
  local fields = {}
  for _, key in ipairs(order) do
    local value, msg = call_value(params[key], key, method == "POST")
    if value == nil then
      arg_error(3, "call", msg)
    end
    fields[key] = value
  end
  local req = { route = request.call_route(st, method, path), fields = fields, order = order }
  return send.one(st, req, shapes.data)
end

-- ---------------------------------------------------------------------
-- Concurrency

-- What errs holds for a function that raised nil: the item is not lost.
local NIL_ERROR = "proxyapi: the function run by api:map raised nil (error object is a nil value)"

--- Runs fn(api, item, i) for every item; API calls inside run concurrently.
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
  local function note(i, ok, first, second)
    if not ok then
      errs[i] = first == nil and NIL_ERROR or first
    elseif first == nil and second ~= nil then
      errs[i] = second
    elseif errors.is_error(first) then
      errs[i] = first
    else
      results[i] = first
    end
  end
  local function run_item(i)
    return fn(self, items[i], i)
  end
  if transport.loop_of(st.handle) then
    -- nested in another map: the outer loop already runs things concurrently
    for i = 1, n do
      note(i, pcall(run_item, i))
      if progress then
        progress(i, n)
      end
    end
  else
    scheduler.run(st.handle, n, run_item, concurrency, note, progress)
  end
  return results, errs
end

-- ---------------------------------------------------------------------
-- Settings and proxy tools

--- A copy of the client's settings, without the app_key: base_url,
-- timeout, connect_timeout, retries, retry_backoff, retry_max_wait,
-- concurrency, batch_size, max_response_bytes, dry_run (a boolean) and
-- paths (method -> path).
function Client:settings()
  local st = state(self, "settings")
  local paths = {}
  for name, ep in pairs(endpoints) do
    paths[name] = route_of(st, name, ep).path
  end
  return {
    base_url = st.base_url, timeout = st.timeout, connect_timeout = st.connect_timeout,
    retries = st.retries, retry_backoff = st.retry_backoff, retry_max_wait = st.retry_max_wait,
    concurrency = st.concurrency, batch_size = st.batch_size,
    max_response_bytes = st.max_response_bytes, dry_run = st.dry_run ~= nil, paths = paths,
  }
end

--- Fetches opts.url through each proxy concurrently; one result per
-- address, in order: {addr =, ok =, status =, latency_ms =, err =}.
function Client:check_proxies(addrs, opts)
  return proxycheck.run(state(self, "check_proxies"), addrs, opts)
end

return client
