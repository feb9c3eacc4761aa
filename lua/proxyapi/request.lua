--- Requests: the one value that describes a request to the API, made
-- from a method's Lua arguments by reading its entry of
-- proxyapi.endpoints. The query writer and the JSON body writer of the
-- core, the dry-run line, the journal and `on_request` all read it:
--
--     { route = <route>, fields = { wire name = value, ... },
--       order = { wire names in wire order }, secret = { wire name = true },
--       batch = <wire name of the list>, items = { ... }, names = { ... },
--       reply = "maybe_text" (text replies), separator = <lb> }
--
-- A route is what a client knows of an endpoint: its name, method, path
-- and full URL (after `prefix` and `paths`), its effect, retry policy and
-- the `endpoint` label errors carry ("POST /openapi/whitelist-account/add").
-- @module proxyapi.request

local core = require "proxyapi.core"
local check = require "proxyapi.check"

local type, ipairs, pairs, next, error = type, ipairs, pairs, next, error
local setmetatable = setmetatable
local format, sub, lower, gsub = string.format, string.sub, string.lower, string.gsub
local arg_error = check.arg_error
local request_text = core.request_text

local request = {}

--- What each endpoint entry needs at every call, worked out once: the
-- wire order, the secrets, the known options per position, and one step
-- per argument with its rule already looked up (a call then runs a plain
-- loop: no ipairs, select or rule lookup per argument).
local prepared = setmetatable({}, { __mode = "k" })

-- Arguments are read by position; the endpoint table uses at most this many.
local MAX_POS = 2

local function prepare(ep)
  local p = { order = {}, options = {}, secret = nil, steps = {}, nsteps = 0 }
  for i, a in ipairs(ep.args or {}) do
    p.order[i] = a.wire
    if a.field then
      local known = p.options[a.pos] or {}
      known[a.field] = true
      p.options[a.pos] = known
    end
    if a.secret then
      p.secret = p.secret or {}
      p.secret[a.wire] = a.secret
    end
    local rule = check[a.rule]
    if type(rule) ~= "function" or a.pos < 1 or a.pos > MAX_POS then
      error(format("endpoint argument %s: a rule of proxyapi.check and a position from 1 to %d expected", a.wire,
        MAX_POS), 2)
    end
    p.steps[i] = { pos = a.pos, field = a.field, wire = a.wire, rule = rule, label = a.field or a.wire,
                   required = a.required, batch = ep.batch == a.wire }
    p.nsteps = i
  end
  prepared[ep] = p
  return p
end

--- The route of endpoint `name` (entry `ep`) for a client's settings:
-- an override from `paths`, or the path with its leading /openapi
-- replaced by `prefix`.
-- @tparam table settings the client's (base_url, prefix, paths)
-- @tparam string name the method name
-- @tparam table ep its entry of the endpoint table
-- @treturn table the route
function request.route(settings, name, ep)
  local path = settings.paths[name]
  if path == nil then
    path = ep.path
    local prefix = settings.prefix
    if prefix and sub(path, 1, 9) == "/openapi/" then
      path = prefix .. sub(path, 9)
    end
  end
  return {
    name = name, method = ep.method, path = path, url = settings.base_url .. path,
    effect = ep.effect, policy = ep.retry, at_most_once = ep.retry == "once",
    endpoint = ep.method .. " " .. path,
  }
end

--- The route of `call`: any method and path.
function request.call_route(settings, method, path)
  local post = method == "POST"
  return {
    name = "call", method = method, path = path, url = settings.base_url .. path,
    effect = post and "change" or "read", policy = post and "once" or "read", at_most_once = post,
    endpoint = method .. " " .. path,
  }
end

--- Checks a call's arguments against the entry `ep` and makes its request
-- value; raises `bad argument` before anything is sent.
-- @tparam string fname the method's name (for messages)
-- @tparam table route
-- @tparam table ep
-- @param arg1 the call's first argument after self
-- @param arg2 its second (no endpoint takes more)
-- @treturn table the request value
function request.build(fname, route, ep, arg1, arg2)
  local p = prepared[ep] or prepare(ep)
  local fields = {}
  -- the fields the value usually gets, named in the constructor: it is
  -- made at that size (8 slots) instead of growing (reply and separator,
  -- for text replies only, may grow it)
  local req = { route = route, order = p.order, secret = p.secret, fields = fields, batch = nil, items = nil,
                names = nil }
  local steps, opts1, opts2 = p.steps, nil, nil
  for i = 1, p.nsteps do
    local step = steps[i]
    local pos = step.pos
    local value = arg2
    if pos == 1 then
      value = arg1
    end
    local field = step.field
    if field then
      local opts = pos == 1 and opts1 or opts2
      if opts == nil then
        local msg
        opts, msg = check.options(value, p.options[pos])
        if opts == nil then
          arg_error(pos, fname, msg)
        end
        if pos == 1 then
          opts1 = opts
        else
          opts2 = opts
        end
      end
      value = opts[field]
    end
    if value ~= nil or step.required then
      local wire, extra = step.rule(value, step.label)
      if wire == nil then
        arg_error(pos, fname, extra)
      end
      if step.batch then
        req.batch, req.items, req.names = step.wire, wire, extra or wire
      else
        fields[step.wire] = wire
      end
    end
  end
  local ordered = ep.ordered
  if ordered then
    local first, second = fields[ordered[1]], fields[ordered[2]]
    if first and second and first > second then
      arg_error(1, fname, format("%s is after %s", ordered[1], ordered[2]))
    end
  end
  local text = ep.text
  if text then
    local switch = fields[text.arg]
    if switch ~= nil and lower(switch) ~= text.json then
      req.reply, req.separator = "maybe_text", fields[text.separator]
    end
  end
  return req
end

--- A copy of a request value with one field set (a page, a batch chunk).
-- @tparam table req
-- @tparam string wire the field's wire name
-- @param value
-- @treturn table
function request.with(req, wire, value)
  local copy, fields = {}, {}
  for k, v in next, req do
    copy[k] = v
  end
  for k, v in next, req.fields do
    fields[k] = v
  end
  fields[wire] = value
  copy.fields = fields
  return copy
end

--- The request as the dry-run line and the journal show it: method, path
-- and parameters exactly as they would be sent, the app_key and every
-- secret as ***.
-- @tparam table req
-- @treturn string e.g. `POST /openapi/whitelist-account/disable {"app_key":"***","accounts":"a,b"}`
function request.line(req)
  local route = req.route
  local params = request_text(req, route.method, true)
  if route.method == "POST" then
    return route.endpoint .. " " .. params
  end
  return route.endpoint .. "?" .. params
end

--- The fields of a request as a plain table, secrets as "***" unless
-- `with_secrets` (the journal keeps new passwords: they must not be lost).
-- @tparam table req
-- @tparam boolean with_secrets
-- @treturn table
function request.params(req, with_secrets)
  local out, secret = {}, req.secret
  for k, v in pairs(req.fields) do
    local how = not with_secrets and secret and secret[k]
    if how == "pairs" and type(v) == "string" then
      v = gsub(v, ":[^,]*", ":***")
    elseif how then
      v = "***"
    end
    out[k] = v
  end
  return out
end

return request
