-- Fault tables: checking them, parsing the command line's "k=v,k=v" form,
-- taking the next one that matches a request, and answering it.
local cjson = require "cjson"
local http = require "proxyapi.fake.http"
local json = require "proxyapi.fake.json"

local tointeger, mtype, format, rep, sub = math.tointeger, math.type, string.format, string.rep, string.sub

local faults = {}

faults.actions = { close = true, drop_reply = true, reset = true, stall = true, truncate = true,
                   badjson = true, wrong_shape = true, oversize = true }

local kinds = { path = "string", method = "string", times = "integer", delay = "number",
                status = "integer", retry_after = "scalar", headers = "table", code = "integer",
                msg = "string", body = "string", action = "string", size = "integer" }
faults.fields = kinds

-- A header value must not be able to end the head early.
local function header_text(v)
  if mtype(v) == "float" and tointeger(v) then v = tointeger(v) end
  v = type(v) == "number" and format("%.14g", v) or v
  if type(v) ~= "string" or v:find "[\r\n]" then return nil end
  return v
end

-- A checked copy of t, or nil and what is wrong with it.
function faults.normalize(t)
  if type(t) ~= "table" then return nil, "a fault must be an object" end
  local f = {}
  for k, v in pairs(t) do
    local kind = kinds[k]
    if not kind then return nil, "unknown fault field '" .. tostring(k) .. "'" end
    if v ~= cjson.null then
      if kind == "integer" then
        v = mtype(v) and tointeger(v)
        if not v then return nil, k .. " must be an integer" end
      elseif kind == "scalar" then
        v = header_text(v)
        if not v then return nil, k .. " must be a number or a one-line string" end
      elseif type(v) ~= kind then
        return nil, k .. " must be a " .. kind
      end
      f[k] = v
    end
  end
  if type(f.path) ~= "string" or f.path == "" then return nil, "path is required (a path or \"*\")" end
  f.method = f.method and f.method:upper()
  f.times = f.times or 1
  if f.times == 0 or f.times < -1 then return nil, "times must be -1 (forever) or at least 1" end
  if f.delay and not (f.delay >= 0 and f.delay < 3600) then return nil, "delay must be 0..3600 seconds" end
  if f.status and (f.status < 100 or f.status > 599) then return nil, "status must be 100..599" end
  if f.action and not faults.actions[f.action] then return nil, "unknown action '" .. f.action .. "'" end
  if f.size and f.size < 0 then return nil, "size must not be negative" end
  if f.headers then
    local headers = {}
    for name, value in pairs(f.headers) do
      value = header_text(value)
      if type(name) ~= "string" or not name:find "^[%w!#$%%&'*+%-.^_`|~]+$" or not value then
        return nil, "headers must map header names to one-line values"
      end
      headers[name] = value
    end
    f.headers = headers
  end
  if not (f.delay or f.status or f.code or f.body or f.action) then
    return nil, "a fault needs one of delay, status, code, body, action"
  end
  return f
end

local numeric = { times = true, delay = true, status = true, code = true, size = true }

-- "path=/x,status=503,times=2,retry_after=1,header.X-Id=7" -> fault.
function faults.parse_spec(spec)
  local t = {}
  for item in (spec .. ","):gmatch "([^,]*)," do
    if item ~= "" then
      local k, v = item:match "^([%w_.%-]+)=(.*)$"
      if not k then return nil, "bad fault item '" .. item .. "' (want key=value)" end
      local header = k:match "^headers?%.(.+)$"
      if header then
        t.headers = t.headers or {}
        t.headers[header] = v
      else
        t[k] = numeric[k] and tonumber(v) or v
      end
    end
  end
  return faults.normalize(t)
end

-- The first queued fault for this request, used up by one application.
function faults.take(queue, method, path)
  for i, f in ipairs(queue) do
    if (f.path == "*" or f.path == path) and (not f.method or f.method == method) then
      if f.times > 0 then
        f.times = f.times - 1
        if f.times == 0 then table.remove(queue, i) end
      end
      return f
    end
  end
end

-- What the log records: the action, else the status or code answered.
function faults.describe(f)
  if f.action then return f.action end
  if f.status then return "status " .. f.status end
  if f.code then return "code " .. f.code end
  if f.body then return "body" end
  return "delay"
end

function faults.copy(list)
  local out = {}
  for i, f in ipairs(list) do
    local c = {}
    for k, v in pairs(f) do c[k] = v end
    out[i] = c
  end
  return out
end

local canned = json.envelope(200, "success", { list = json.array {} })

local function fault_body(fault)
  local action = fault.action
  if action == "badjson" then return '{"code":200,"msg":"ok","data":{' end
  if action == "wrong_shape" then return '{"code":200,"msg":"ok","data":"unexpected"}' end
  if action == "oversize" then
    local head = '{"code":200,"msg":"success","data":null,"padding":"'
    return head .. rep("x", math.max(0, (fault.size or 2 * 1024 * 1024) - #head - 2)) .. '"}'
  end
  if fault.body then return fault.body end
  if fault.code then return json.envelope(fault.code, fault.msg or "fault") end
  if fault.status then return json.envelope(fault.status, http.reasons[fault.status] or "fault") end
  if action == "stall" or action == "truncate" then return canned end
end

-- Answers a faulted request on conn in the provider's place: returns
-- whether the connection stays open, or nil when the fault only delays it
-- (the delay is already over) and the request is to be handled as usual.
function faults.apply(server, conn, req, fault, params, entry)
  local action = fault.action
  if action == "close" or action == "reset" or action == "drop_reply" then
    if action == "drop_reply" then server:handle(req.method, req.path, params) end
    if action == "reset" then conn.sock:setoption("linger", { on = true, timeout = 0 }) end
    conn.sock:close()
    server:finish(entry, nil)
    return false
  end
  local body = fault_body(fault)
  if not body then return nil end
  local status, extra = fault.status or 200, fault.headers
  if fault.retry_after then
    extra = { ["Retry-After"] = fault.retry_after }
    for k, v in pairs(fault.headers or {}) do extra[k] = v end
  end
  if action == "stall" or action == "truncate" then
    local half = sub(body, 1, #body // 2)
    conn:send(http.head(status, #body, json.TYPE, true, extra) .. half)
    server:finish(entry, status)
    if action == "stall" then
      repeat until not conn:receive_chunk()   -- keep it open, reading nothing more, until the peer leaves
    end
    return false
  end
  local keep = req.keep_alive and not server.stopped
  conn:reply(status, body, json.TYPE, keep, extra)
  server:finish(entry, status)
  return keep
end

return faults
