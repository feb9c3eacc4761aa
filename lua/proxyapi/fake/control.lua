-- The control plane: the test hooks under /_fake/ (faults, the request
-- log, state, config, the clock, usage, packages, reset, shutdown). They
-- need no key and answer the provider's envelope: code 200 with data, or
-- HTTP and code 400 naming what is wrong with the body.
local cjson = require "cjson"
local data = require "proxyapi.fake.data"
local faults = require "proxyapi.fake.faults"
local json = require "proxyapi.fake.json"
local usage = require "proxyapi.fake.usage"
local packages = require "proxyapi.fake.packages"
local clock = require "proxyapi.fake.clock"

local envelope, array, JSON_TYPE = json.envelope, json.array, json.TYPE
local mtype, tointeger, floor = math.type, math.tointeger, math.floor

local control = {}

local KB_PER_GB = 1024 * 1024
local MAX_GB = 1024 * 1024          -- one addition or daily rule: at most a petabyte
local MAX_DAYS = clock.MAX_MOVE // 86400

-- The body as a JSON object whose fields are all among `known`; {} when empty.
local function body_of(req, known)
  if not req.body:find "%S" then return {} end
  local value = json.object(req.body)
  if not value then return nil, "body must be a JSON object" end
  for k, v in pairs(value) do
    if not known[k] then return nil, "unknown field '" .. tostring(k) .. "'" end
    if v == cjson.null then value[k] = nil end
  end
  return value
end

local function fields(...)
  local set = {}
  for _, name in ipairs { ... } do set[name] = true end
  return set
end

local function is_number(v) return type(v) == "number" and v == v end

-- An amount in KB from body[kb_name] (an integer) or body[gb_name] (a
-- number, rounded to a KB); false when neither is given.
local function amount(body, kb_name, gb_name)
  local kb, gb = body[kb_name], body[gb_name]
  if kb ~= nil and gb ~= nil then return nil, "give " .. kb_name .. " or " .. gb_name .. ", not both" end
  if kb ~= nil then
    local n = mtype(kb) and tointeger(kb)
    if not n or n < 0 or n > MAX_GB * KB_PER_GB then
      return nil, kb_name .. " must be an integer from 0 to " .. MAX_GB * KB_PER_GB
    end
    return n
  end
  if gb ~= nil then
    if not is_number(gb) or gb < 0 or gb > MAX_GB then return nil, gb_name .. " must be 0.." .. MAX_GB end
    return floor(gb * KB_PER_GB + 0.5)
  end
  return false
end

-- Control endpoints: "METHOD path" -> function(server, req) -> data | nil, error.
local routes = {}

routes["POST /_fake/faults"] = function(server, req)
  local ok, value = pcall(cjson.decode, req.body)
  if not ok or type(value) ~= "table" then return nil, "body must be a fault object or an array of them" end
  local list = value[1] and value or { value }
  local checked = {}
  for i, f in ipairs(list) do
    local fault, err = faults.normalize(f)
    if not fault then return nil, "fault " .. i .. ": " .. err end
    checked[i] = fault
  end
  table.move(checked, 1, #checked, #server.faults + 1, server.faults)
  return { queued = #server.faults }
end

local function clear_faults(server)
  server.faults = {}
  return { queued = 0 }
end
routes["DELETE /_fake/faults"] = clear_faults
routes["POST /_fake/faults/clear"] = clear_faults

routes["GET /_fake/log"] = function(server) return { list = array(server.log) } end
routes["POST /_fake/log/clear"] = function(server)
  server.log = {}
  return nil
end

routes["GET /_fake/state"] = function(server)
  local state = server.state
  usage.sync(state)
  return { accounts = array(state.accounts), not_verified = state.not_verified,
           delay = server.delay, faults = array(server.faults), now = data.format_time(state.clock:now()) }
end

-- The key the fake accepts: for specs of the client's secrecy, which must
-- know what to search output for when pxlua --fake made the key up.
routes["GET /_fake/app_key"] = function(server) return { app_key = server.app_key } end

routes["POST /_fake/config"] = function(server, req)
  local config, err = body_of(req, fields("not_verified", "delay"))
  if not config then return nil, err end
  if config.not_verified ~= nil and type(config.not_verified) ~= "boolean" then
    return nil, "not_verified must be a boolean"
  end
  if config.delay ~= nil and not (is_number(config.delay) and config.delay >= 0 and config.delay < 3600) then
    return nil, "delay must be 0..3600 seconds"
  end
  if config.not_verified ~= nil then server.state.not_verified = config.not_verified end
  if config.delay ~= nil then server.delay = config.delay end
  return { not_verified = server.state.not_verified, delay = server.delay }
end

routes["GET /_fake/clock"] = function(server) return server.state.clock:info() end

-- {"advance": seconds} or {"to": "YYYY-MM-DD HH:MM:SS"}, forward only; "frozen" stops or restarts it.
routes["POST /_fake/clock"] = function(server, req)
  local body, err = body_of(req, fields("advance", "to", "frozen"))
  if not body then return nil, err end
  local state = server.state
  local c = state.clock
  if body.advance ~= nil and body.to ~= nil then return nil, "give advance or to, not both" end
  if body.frozen ~= nil and type(body.frozen) ~= "boolean" then return nil, "frozen must be a boolean" end
  local seconds = body.advance
  if body.to ~= nil then
    local t = data.parse_time(body.to)
    if not t then return nil, "to must be a real time as YYYY-MM-DD HH:MM:SS" end
    seconds = t - c:now()
    if seconds < 0 then return nil, "to must not be before the fake's now (" .. data.format_time(c:now()) .. ")" end
  elseif seconds ~= nil and not (is_number(seconds) and seconds >= 0) then
    return nil, "advance must be a number of seconds >= 0"
  end
  if seconds and seconds > clock.MAX_MOVE then return nil, "the clock moves at most " .. MAX_DAYS .. " days at once" end
  usage.sync(state)
  if body.frozen ~= nil then c:freeze(body.frozen) end
  if seconds then c:advance(seconds) end
  usage.sync(state)
  return c:info()
end

local function usage_views(state, list)
  local views = {}
  for i, account in ipairs(list) do views[i] = usage.view(state, account) end
  return { day = data.format_day(state.clock:day()), kb_per_day_all = state.per_day_all or 0,
           accounts = array(views) }
end

routes["GET /_fake/usage"] = function(server)
  usage.sync(server.state)
  return usage_views(server.state, server.state.accounts)
end

-- {"account": name} or {"all": true}, with "kb"/"gb" (added to today)
-- and/or "kb_per_day"/"gb_per_day" (a growth rule).
routes["POST /_fake/usage"] = function(server, req)
  local body, err = body_of(req, fields("account", "all", "kb", "gb", "kb_per_day", "gb_per_day"))
  if not body then return nil, err end
  local state = server.state
  if (body.account ~= nil) == (body.all ~= nil) then return nil, "give account or all (true)" end
  if body.all ~= nil and body.all ~= true then return nil, "all must be true" end
  local targets = state.accounts
  if body.account ~= nil then
    local account = type(body.account) == "string" and state.by_name[body.account]
    if not account then return nil, "account '" .. tostring(body.account) .. "' does not exist" end
    targets = { account }
  end
  local kb, kb_err = amount(body, "kb", "gb")
  if kb == nil then return nil, kb_err end
  local rule, rule_err = amount(body, "kb_per_day", "gb_per_day")
  if rule == nil then return nil, rule_err end
  if not kb and not rule then return nil, "give kb or gb (added now), or kb_per_day or gb_per_day (a rule)" end
  usage.sync(state)
  if rule then usage.set_rule(state, body.account and targets[1], rule) end
  if kb then
    for _, account in ipairs(targets) do usage.add(state, account, kb) end
  end
  return usage_views(state, targets)
end

routes["GET /_fake/products"] = function(server)
  local state = server.state
  return { now = data.format_time(state.clock:now()), list = array(packages.view(state)) }
end

-- {"days": N, "product_type": 9, "ips": 1}: a package bought now, expiring in N days.
routes["POST /_fake/products"] = function(server, req)
  local body, err = body_of(req, fields("days", "product_type", "ips"))
  if not body then return nil, err end
  local days = body.days
  if not (is_number(days) and days > 0 and days <= MAX_DAYS) then
    return nil, "days must be a number over 0, at most " .. MAX_DAYS
  end
  local ptype = body.product_type or 9
  ptype = mtype(ptype) and tointeger(ptype)
  if not (ptype == 9 or ptype == 11 or ptype == 14 or ptype == 25) then
    return nil, "product_type must be one of 9, 11, 14, 25"
  end
  local static = ptype == 14 or ptype == 25
  local ips = body.ips or (static and 1 or 0)
  ips = mtype(ips) and tointeger(ips)
  if not ips or ips < 0 or ips > 100 then return nil, "ips must be an integer from 0 to 100" end
  if ips > 0 and not static then return nil, "only packages of type 14 or 25 come with static IPs" end
  local product, list = packages.buy(server.state, ptype, floor(days * 86400 + 0.5), ips)
  return { product = product, static_ips = array(list), days_left = days }
end

routes["POST /_fake/reset"] = function(server)
  server:reset()
  return nil
end

routes["POST /_fake/shutdown"] = function() return nil end

local paths = {}
control.endpoints = {}   -- "METHOD path", sorted
for key in pairs(routes) do
  paths[key:match " (.*)"] = true
  control.endpoints[#control.endpoints + 1] = key
end
table.sort(control.endpoints)

-- Answers a control request on conn; returns whether the connection stays open.
function control.serve(server, conn, req)
  local fn = routes[req.method .. " " .. req.path]
  local status, body
  if fn then
    local ok, value, err = pcall(fn, server, req)
    if not ok then
      status, body = 500, envelope(500, "internal error: " .. tostring(value))
    elseif err then
      status, body = 400, envelope(400, err)
    else
      status, body = 200, envelope(200, "success", value)
    end
  elseif paths[req.path] then
    status, body = 405, envelope(405, "method not allowed")
  else
    status, body = 404, envelope(404, "not found")
  end
  local stop = req.path == "/_fake/shutdown" and status == 200
  local keep = req.keep_alive and not stop and not server.stopped
  conn:reply(status, body, JSON_TYPE, keep)
  if stop then server.stopped = true end
  return keep
end

return control
