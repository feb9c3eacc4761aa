-- What spec/hostile_spec.lua needs around the hostile server: starting
-- and stopping it, its hit counts, clients aimed at one of its modes,
-- child Lua processes under a watchdog, and a search for the app_key in
-- any spelling.
local helper = require "helper"
local proxyapi = require "proxyapi"
local http = require "socket.http"
local ltn12 = require "ltn12"
local cjson = require "cjson"

local support = {}

local Server = {}
Server.__index = Server

function support.start()
  local pipe = assert(io.popen("exec lua5.4 spec/hostile/server.lua --port 0 --ttl 120", "r"))
  local port = math.tointeger(tonumber(pipe:read("l")))
  assert(port, "the hostile server did not start")
  return setmetatable({ pipe = pipe, port = port, url = "http://127.0.0.1:" .. port, tags = 0,
                        clients = setmetatable({}, { __mode = "k" }) }, Server)
end

function Server:stop()
  self:close_clients()
  pcall(http.request, self.url .. "/_stop")
  self.pipe:close()
end

--- A segment of `mode` that no other spec shares (its own hit count).
function Server:segment(mode)
  self.tags = self.tags + 1
  return mode .. "~" .. self.tags
end

--- What the server saw for a segment: {n =, list = {{method, path, query, body}}}.
function Server:hits(segment)
  local chunks = {}
  local ok, status = http.request { url = self.url .. "/_hits/" .. segment, sink = ltn12.sink.table(chunks) }
  assert(ok and status == 200, "hits: " .. tostring(status))
  return cjson.decode(table.concat(chunks))
end

function Server:count(segment)
  return math.tointeger(self:hits(segment).n)
end

support.KEY = "Sx/Ky+Zq=Wv/Mn+Lo=Pp"

--- The options of a client of `segment`: short waits and timeouts; the
-- option tables given win.
function Server:options(segment, ...)
  local o = {
    base_url = self.url .. "/" .. segment, app_key = support.KEY, proxy = false,
    retries = 2, retry_backoff = 0.01, retry_max_wait = 0.2, timeout = 2, connect_timeout = 2,
  }
  for i = 1, select("#", ...) do
    for k, v in pairs(select(i, ...) or {}) do
      o[k] = v
    end
  end
  return o
end

--- A client of a new segment of `mode`; returns the client and the segment.
function Server:client(mode, ...)
  local segment = self:segment(mode)
  local c = proxyapi.new(self:options(segment, ...))
  self.clients[c] = true
  return c, segment
end

--- A client whose API is behind the server as an outbound proxy.
function Server:proxied(mode, ...)
  self.tags = self.tags + 1
  local segment = mode .. "-" .. self.tags
  local c = proxyapi.new(self:options(segment, {
    base_url = "https://" .. segment .. ".example.invalid", proxy = self.url,
  }, ...))
  self.clients[c] = true
  return c, segment
end

function Server:close_clients()
  for c in pairs(self.clients) do
    c:close()
  end
end

-- ---------------------------------------------------------------------
-- Child processes

support.WATCHDOG = 4 -- seconds any child may run

--- The start of every child script: `server` (the base URL of the
-- hostile server, from arg[1]), `KEY` and `client(segment, options)`.
local PRELUDE = [[
local proxyapi = require "proxyapi"
local server, KEY = arg[1], arg[2]
local function client(segment, options)
  local o = { base_url = server .. "/" .. segment, app_key = KEY, proxy = false, retries = 1,
              retry_backoff = 0.01, retry_max_wait = 0.2, timeout = 2 }
  for k, v in pairs(options or {}) do o[k] = v end
  return proxyapi.new(o)
end
]]

--- Runs `code` (after the prelude) in lua5.4 with this checkout's module,
-- under the watchdog; `shell` goes before the command (e.g. "ulimit -n 20;").
-- Returns the exit code, stdout and stderr.
function Server:script(code, shell)
  local file = helper.tempfile(PRELUDE .. code)
  local command = string.format("%s LUA_PATH='./lua/?.lua;./lua/?/init.lua;;' LUA_CPATH='./build/?.so;;' "
    .. "exec timeout -k 1 %d lua5.4 %s %s %s", shell or "", support.WATCHDOG, helper.quote(file),
    helper.quote(self.url), helper.quote(support.KEY))
  local code_, out, err = helper.run("sh -c " .. helper.quote(command))
  os.remove(file)
  return code_, out, err
end

-- ---------------------------------------------------------------------
-- The app_key, in any spelling

--- Undoes what a server (or a careless scrubber) might have done to the
-- key: percent-encoding (repeated), JSON and HTML escapes, then lower case.
local function plain(text)
  for _ = 1, 3 do
    text = text:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end)
  end
  text = text:gsub("\\u00(%x%x)", function(h) return string.char(tonumber(h, 16)) end)
  text = text:gsub("\\/", "/")
  text = text:gsub("&#(%d+);", function(d) return tonumber(d) < 128 and string.char(tonumber(d)) or nil end)
  text = text:gsub("&#[xX](%x+);", function(h) return tonumber(h, 16) < 128 and string.char(tonumber(h, 16)) or nil end)
  return text:lower()
end

--- True when `text` holds `key` in any of those spellings.
function support.leaks(text, key)
  return plain(tostring(text)):find(key:lower(), 1, true) ~= nil
end

--- Every string reachable from an error object (fields, tostring).
function support.texts_of(err)
  local list = { tostring(err) }
  if type(err) == "table" then
    for k, v in pairs(err) do
      list[#list + 1] = tostring(k) .. "=" .. tostring(v)
      if type(v) == "table" then
        for _, x in pairs(v) do
          list[#list + 1] = tostring(x)
        end
      end
    end
  end
  return list
end

return support
