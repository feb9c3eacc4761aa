-- A connection to the fake: one coroutine per accepted socket reads the
-- requests off it and answers each (a control request, a provider request,
-- or a fault in its place). Reading, writing and delays suspend the
-- coroutine (yield "read", "write" or "sleep" and the time to wake) so
-- that the loop (loop.lua) can serve the other connections meanwhile.
local socket = require "socket"
local control = require "proxyapi.fake.control"
local faults = require "proxyapi.fake.faults"
local handlers = require "proxyapi.fake.handlers"
local http = require "proxyapi.fake.http"
local json = require "proxyapi.fake.json"

local gettime, yield = socket.gettime, coroutine.yield
local gsub = string.gsub
local envelope, JSON_TYPE = json.envelope, json.TYPE

local conn = {}

local BLOCK = 65536

local Conn = {}
Conn.__index = Conn

-- Data already buffered inside LuaSocket is returned before waiting, since
-- select() cannot see it.
function Conn:receive_chunk()
  while true do
    local chunk, err, partial = self.sock:receive(BLOCK)
    if chunk then return chunk end
    if partial and partial ~= "" then return partial end
    if err ~= "timeout" then return nil, err end
    yield "read"
  end
end

function Conn:send(s)
  local i = 1
  while true do
    local last, err, sent = self.sock:send(s, i)
    if last then return true end
    if err ~= "timeout" then return nil, err end
    i = sent + 1
    yield "write"
  end
end

function Conn.sleep(_, seconds)
  if seconds > 0 then yield("sleep", gettime() + seconds) end
end

function Conn:reply(status, body, content_type, keep_alive, extra)
  return self:send(http.head(status, #body, content_type or JSON_TYPE, keep_alive, extra) .. body)
end

local function plain(s)
  return (gsub(s, "%W", "%%%0"))
end

local function without_key(params)
  local copy = {}
  if params then
    for k, v in pairs(params) do
      if k ~= "app_key" then copy[k] = v end
    end
  end
  return copy
end

-- One provider request; returns whether the connection stays open.
local function respond(server, c, req)
  local params
  if req.method == "POST" and handlers.routes[req.path] then
    params = json.object(req.body)
  else
    params = http.parse_query(req.query)
  end
  -- the request as it came over the wire (key masked), for specs of the client's marshalling
  local wire = req.method == "POST" and req.body or req.query or ""
  local entry = { conn = c.id, method = req.method, path = req.path, params = without_key(params),
                  wire = gsub(wire, plain(server.app_key), "***"), t_start = gettime(),
                  user_agent = req.headers["user-agent"], content_type = req.headers["content-type"],
                  accept = req.headers.accept, accept_encoding = req.headers["accept-encoding"],
                  expect = req.headers.expect }
  server:record(entry)
  local fault = faults.take(server.faults, req.method, req.path)
  if fault then entry.fault = faults.describe(fault) end
  c:sleep(server.delay + (fault and fault.delay or 0))
  if fault then
    local keep = faults.apply(server, c, req, fault, params, entry)
    if keep ~= nil then return keep end
  end
  local status, body, content_type, extra = server:handle(req.method, req.path, params)
  local keep = req.keep_alive and not server.stopped
  local ok = c:reply(status, body, content_type, keep, extra)
  server:finish(entry, status)
  return ok and keep
end

local function serve(server, c)
  while true do
    local req, err = http.read_request(c)
    if not req then
      if err ~= "closed" then c:reply(400, envelope(400, "bad request: " .. err), JSON_TYPE, false) end
      return
    end
    local keep
    if req.path:find "^/_fake/" then
      keep = control.serve(server, c, req)
    else
      keep = respond(server, c, req)
    end
    if not keep then return end
  end
end

-- A connection on an accepted (non-blocking) socket, its coroutine not yet started.
function conn.new(server, sock, id)
  local c = setmetatable({ sock = sock, id = id, buf = "", pos = 1 }, Conn)
  c.co = coroutine.create(function() return serve(server, c) end)
  return c
end

return conn
