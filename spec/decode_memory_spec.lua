-- Memory of decoding: a process that fetches a reply through the client
-- (a one-shot HTTP server on 127.0.0.1 in another process) and decodes it
-- peaks at most 1.2 times as high as one that only runs cjson.decode on
-- the same text, whatever the reply's shape. Both processes load the
-- client's code first, so that only the decoding differs (see
-- spec/decode_memory.lua, which the bench also runs on larger bodies).
local memory = require "decode_memory"
local core = require "proxyapi.core"
local cjson = require "cjson"

local rep, format, concat = string.rep, string.format, table.concat
local huge, mtype, tointeger = math.huge, math.type, math.tointeger

local BYTES = 4 * 1000 * 1000
local RATIO = 1.2

describe("decoding a large reply", function()
  local dir

  setup(function()
    dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -m 700 '" .. dir .. "'"))
  end)

  teardown(function()
    os.execute("rm -rf '" .. dir .. "'")
  end)

  for _, shape in ipairs(memory.SHAPES) do
    it("peaks within " .. RATIO .. "x of cjson.decode alone: " .. shape, function()
      local bare, loaded, fetched = memory.compare(shape, BYTES, dir)
      -- the measure itself: the tree of a 4 MB body is far above the ~9 MB
      -- the libraries take, and cjson.decode alone sees all of it
      assert.is_true(loaded - bare > 1000, "the client's code took only " .. (loaded - bare) .. " KB")
      assert.is_true(bare > 2 * BYTES // 1024, "cjson.decode peaked at only " .. bare .. " KB")
      assert.is_true(fetched <= loaded * RATIO,
        string.format("%s: %d KB fetched and decoded, %d KB for cjson.decode (%.2fx)", shape, fetched, loaded,
          fetched / loaded))
    end)
  end

  it("measures bodies of the asked size and shape", function()
    local first = {
      zeros = function(data) return data.list[1] == 0 end,
      floats = function(data) return data.list[1] == 1.5 end,
      members = function(data) return data.k1 == 1 and data.k100 == 100 end,
      strings = function(data) return type(data.list[1]) == "string" end,
      accounts = function(data) return data.list[2].username == "u2" and data.list[2].product_type == 9 end,
      nulls = function(data) return data.list[1] == cjson.null and data.list[2].remark == cjson.null end,
      pairs = function(data) return data.list[3][1] == 3 and data.list[3][2] == 3.5 end,
      records = function(data) return data.list[1].usage.day == 1 and #data.list[1].hosts[1] == 300 end,
    }
    for _, shape in ipairs(memory.SHAPES) do
      local text = memory.body(shape, 100000)
      assert.is_true(#text >= 100000 and #text < 101000, shape .. ": " .. #text .. " bytes")
      assert.is_true(first[shape](cjson.decode(text).data), shape)
    end
  end)
end)

-- The scan lists less than it did (see csrc/px_normalise.c): the values
-- must stay those of the plain walk, here a Lua one over cjson.decode.
local function reference(v)
  if type(v) == "number" then
    if v ~= v or v == huge or v == -huge then
      error("number out of range in reply", 0)
    end
    return tointeger(v) or v
  elseif v == cjson.null or type(v) ~= "table" then
    return v ~= cjson.null and v or nil
  end
  local out = {}
  if rawlen(v) > 0 then
    for _, item in ipairs(v) do
      if item ~= cjson.null then
        out[#out + 1] = reference(item)
      end
    end
  else
    for k, item in pairs(v) do
      out[k] = reference(item)
    end
  end
  return out
end

local function differ(a, b, path)
  if type(a) ~= type(b) or mtype(a) ~= mtype(b) then
    return format("%s: %s %s vs %s %s", path, type(a), tostring(a), type(b), tostring(b))
  elseif type(a) ~= "table" then
    return a ~= b and format("%s: %s vs %s", path, tostring(a), tostring(b)) or nil
  end
  for k, v in pairs(a) do
    local why = differ(v, b[k], path .. "." .. tostring(k))
    if why then return why end
  end
  for k in pairs(b) do
    if a[k] == nil then return path .. "." .. tostring(k) .. ": extra" end
  end
end

-- A text long enough to be scanned (4096 bytes and more).
local function long(text)
  return text .. rep(" ", 4096 - #text)
end

local IDLE = '["' .. rep("i", 300) .. '"]' -- a container that needs no work, too long to walk for nothing

local function members(n, value)
  local parts = {}
  for i = 1, n do
    parts[i] = format('"m%d":%s', i, value(i))
  end
  return concat(parts, ",")
end

local CASES = {
  ["an object with more numbers and nulls than are listed"] = long("{" .. members(40, function(i)
    return i % 3 == 0 and "null" or i % 3 == 1 and i .. ".0" or i .. ".5"
  end) .. ',"idle":' .. IDLE .. ',"sub":{"x":[1.0,{"y":null}],"idle":' .. IDLE .. "}}"),
  ["an array of numbers, nulls and containers that need work"] =
    long('[1.0,null,{"k":2.0,"idle":' .. IDLE .. '},3,null,[null,4.0,' .. IDLE .. '],5.5,' .. IDLE .. "]"),
  ["an object seen early to be walked whole, then a long member"] = long("{" .. members(100, function(i)
    return i .. ".0"
  end) .. ',"list":[{"s":"' .. rep("s", 500) .. '"}],"after":{"z":6.0,"idle":' .. IDLE .. "}}"),
  ["more entries than the text's share allows"] = "[" .. rep("{" .. members(16, function(i)
    return i .. ".0"
  end) .. ',"idle":' .. IDLE .. "},", 60) .. "0]",
  ["escaped keys"] = long('{"k\\u0041":1.0,"idle":' .. IDLE .. ',"x":{"y\\"":2.0,"z":null,"idle":' .. IDLE .. "}}"),
  ["a duplicate key holding a container, then a number"] =
    long('{"idle":' .. IDLE .. ',"d":{"x":1.0,"idle":' .. IDLE .. '},"d":2.0}'),
  ["a duplicate key holding a number, then a container"] =
    long('{"idle":' .. IDLE .. ',"d":2.0,"d":{"x":1.0,"n":null,"idle":' .. IDLE .. "}}"),
  ["infinity deep in a listed member"] = long('{"idle":' .. IDLE .. ',"a":{"b":[1,1e999],"idle":' .. IDLE .. "}}"),
  ["infinity among an object's many numbers"] = long("{" .. members(30, function(i)
    return i == 25 and "-1e999" or tostring(i)
  end) .. ',"idle":' .. IDLE .. "}"),
  ["infinity among an array's items"] = long('[{"idle":' .. IDLE .. ',"n":1.0},1,2,-1e999,' .. IDLE .. "]"),
}

describe("decoding a large reply with the leaner scan", function()
  local names = {}
  for name in pairs(CASES) do
    names[#names + 1] = name
  end
  table.sort(names)
  for _, name in ipairs(names) do
    it("gives the plain walk's value: " .. name, function()
      local text = CASES[name]
      assert.is_true(#text >= 4096)
      local ok, want = pcall(reference, cjson.decode(text))
      local got, err = core.json_decode(text)
      if not ok then
        assert.is_nil(got)
        assert.equal(want, err)
      else
        assert.is_nil(err)
        assert.is_nil(differ(want, got, "$"))
      end
    end)
  end

  for _, shape in ipairs(memory.SHAPES) do
    it("gives the plain walk's value: a 200 KB " .. shape .. " body", function()
      local text = memory.body(shape, 200000)
      local got = assert(core.json_decode(text))
      assert.is_nil(differ(reference(cjson.decode(text)), got, "$"))
    end)
  end
end)
