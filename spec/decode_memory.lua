-- Peak memory of decoding one reply: a process that fetches a body
-- through the client and decodes it, against one that only runs
-- cjson.decode on the same text. Run from the project's root:
--
--   lua5.4 spec/decode_memory.lua compare SHAPE BYTES [DIR]
--       prints "SHAPE BYTES bare_kb cjson_kb fetch_kb ratio": the peaks of
--       cjson.decode alone, of cjson.decode with the client loaded, of the
--       fetch, and fetch / cjson
--   lua5.4 spec/decode_memory.lua gen SHAPE BYTES FILE
--   lua5.4 spec/decode_memory.lua cjson FILE [loaded] (prints VmHWM in KB)
--   lua5.4 spec/decode_memory.lua serve FILE          (prints its port, serves one GET)
--   lua5.4 spec/decode_memory.lua fetch PORT BYTES    (prints VmHWM in KB)
--
-- The children run lua5.4 with LUA_CPATH=build/?.so (then the default
-- path, for cjson and LuaSocket). Used by spec/decode_memory_spec.lua and
-- by the bench; `require "decode_memory"` gives the same functions.
local format, rep, concat = string.format, string.rep, table.concat

local M = {}

M.SHAPES = { "zeros", "floats", "members", "strings", "accounts", "nulls", "pairs", "records" }

local ACCOUNT = '{"id":%d,"username":"u%d","password":"p","usage_flow":123,"limit_flow":0,"status":1,'
  .. '"remark":"","created_at":"2026-01-01 00:00:00","product_type":9}'

-- One item of a list, by shape and position.
local ITEMS = {
  zeros = function() return "0" end,
  floats = function() return "1.5" end,
  strings = function(i) return format('"item %d of the list"', i) end,
  accounts = function(i) return format(ACCOUNT, i, i) end,
  nulls = function(i)
    if i % 2 == 1 then
      return "null"
    end
    return format('{"id":%d,"remark":null,"tags":[null,"a",null],"parent":null,"limit":null}', i)
  end,
  pairs = function(i) return format("[%d,%d.5]", i, i) end,
  -- records too long to be walked whole, whose numbers are listed one by one
  records = function(i)
    return format('{"id":%d,"name":"record %d","limit":null,"hosts":["%s"],"usage":{"day":%d,"note":"%s"}}',
      i, i, rep("h", 300), i, rep("n", 300))
  end,
}

--- The text of a reply of about `bytes` bytes, of one shape.
function M.body(shape, bytes)
  local head, tail = '{"code":200,"msg":"success","data":{"list":[', "]}}"
  local parts, size, i = {}, 0, 0
  if shape == "members" then -- one object with many numeric members
    head, tail = '{"code":200,"msg":"success","data":{', "}}"
    while size < bytes do
      i = i + 1
      parts[i] = format('"k%d":%d', i, i)
      size = size + #parts[i] + 1
    end
    return head .. concat(parts, ",") .. tail
  end
  local item = assert(ITEMS[shape], "unknown shape " .. tostring(shape))
  if shape == "zeros" or shape == "floats" then
    local one = item() .. ","
    local n = bytes // #one
    return head .. rep(one, n - 1) .. item() .. tail
  end
  while size < bytes do
    i = i + 1
    parts[i] = item(i)
    size = size + #parts[i] + 1
  end
  return head .. concat(parts, ",") .. tail
end

--- VmHWM of this process, in KB.
function M.peak_kb()
  local f = assert(io.open("/proc/self/status", "r"))
  local text = f:read("a")
  f:close()
  return math.tointeger(tonumber(assert(text:match("VmHWM:%s*(%d+)"))))
end

local function read_file(path)
  local f = assert(io.open(path, "rb"))
  local text = f:read("a")
  f:close()
  return text
end

function M.gen(shape, bytes, path)
  local f = assert(io.open(path, "wb"))
  assert(f:write(M.body(shape, bytes)))
  assert(f:close())
end

--- Decodes the file with cjson; `loaded`: with the client's code loaded
-- and a client made first, so that both processes start from the same
-- libraries (libcurl, TLS, the Lua modules: ~9 MB) and only the decoding
-- differs.
function M.cjson(path, loaded)
  if loaded then
    require("proxyapi").new({ app_key = "memory-key", base_url = "http://127.0.0.1:1", proxy = false }):close()
  end
  local text = read_file(path)
  local value = require("cjson").decode(text)
  assert(type(value) == "table")
  return M.peak_kb()
end

--- A one-shot HTTP server on a free loopback port: writes the port on
-- stdout, answers one request with the file, and ends.
function M.serve(path)
  local socket = require "socket"
  local body = read_file(path)
  local server = assert(socket.bind("127.0.0.1", 0))
  local _, port = server:getsockname()
  io.stdout:write(port, "\n")
  io.stdout:flush()
  server:settimeout(30)
  local conn = assert(server:accept())
  conn:settimeout(30)
  repeat
    local line = conn:receive("*l")
  until line == nil or line == ""
  conn:send(format("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
    .. "Connection: close\r\n\r\n", #body))
  local at, step = 1, 1 << 20
  while at <= #body do
    local last = assert(conn:send(body, at, math.min(at + step - 1, #body)))
    at = last + 1
  end
  conn:close()
  server:close()
end

function M.fetch(port, max_bytes)
  local proxyapi = require "proxyapi"
  local api = proxyapi.new {
    app_key = "memory-key", base_url = "http://127.0.0.1:" .. port, proxy = false,
    max_response_bytes = max_bytes, timeout = 60, retries = 0,
  }
  local data = assert(api:call("GET", "/x"))
  assert(type(data) == "table")
  local kb = M.peak_kb()
  api:close()
  return kb
end

local function quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

local SELF = debug.getinfo(1, "S").source:match("^@(.*)$") or "spec/decode_memory.lua"
local ENV = "LUA_CPATH='build/?.so;;' LUA_PATH='lua/?.lua;lua/?/init.lua;;' exec lua5.4 " .. quote(SELF)

local function run(args)
  local pipe = assert(io.popen(ENV .. " " .. args, "r"))
  local out = pipe:read("a")
  assert(pipe:close(), "child failed: " .. args)
  return out
end

--- Peak KB of the processes for one body (made in dir, then removed):
-- cjson.decode alone, cjson.decode with the client loaded, the fetch.
function M.compare(shape, bytes, dir)
  local path = format("%s/decode-memory-%s-%d.json", dir or "/tmp", shape, bytes)
  run(format("gen %s %d %s", shape, bytes, quote(path)))
  local ok, peaks = pcall(function()
    local bare = math.tointeger(tonumber(run("cjson " .. quote(path))))
    local loaded = math.tointeger(tonumber(run("cjson " .. quote(path) .. " loaded")))
    local server = assert(io.popen(ENV .. " serve " .. quote(path), "r"))
    local port = server:read("l")
    local fetch = math.tointeger(tonumber(run(format("fetch %s %d", port, bytes * 2 + 4096))))
    server:close()
    return { bare, loaded, fetch }
  end)
  os.remove(path)
  assert(ok, peaks)
  return peaks[1], peaks[2], peaks[3]
end

local function main(cmd, ...)
  local a, b, c = ...
  if cmd == "gen" then
    M.gen(a, math.tointeger(tonumber(b)), c)
  elseif cmd == "cjson" then
    print(M.cjson(a, b == "loaded"))
  elseif cmd == "serve" then
    M.serve(a)
  elseif cmd == "fetch" then
    print(M.fetch(a, math.tointeger(tonumber(b))))
  elseif cmd == "compare" then
    local bare, loaded, fetch = M.compare(a, math.tointeger(tonumber(b)), c)
    print(format("%s %d %d %d %d %.3f", a, b, bare, loaded, fetch, fetch / loaded))
  else
    io.stderr:write("usage: decode_memory.lua compare|gen|cjson|serve|fetch ...\n")
    os.exit(2)
  end
end

if arg and arg[0] and arg[0]:match("decode_memory%.lua$") and ... ~= "decode_memory" then
  main(...)
end

return M
