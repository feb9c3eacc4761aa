-- Marshalling: the C core's decoding and normalisation, its query and
-- JSON encoding, the Lua side's result shapes, and what goes on the wire.
local helper = require "helper"
local core = require "proxyapi.core"
local shapes_module = require "proxyapi.shapes"

--- The query text of {name, value, ...}: the core writes it from the
-- request value (fields by name, their order) the client builds.
local function encode_query(flat)
  local req = { fields = {}, order = {} }
  for i = 1, #flat, 2 do
    req.order[#req.order + 1] = flat[i]
    req.fields[flat[i]] = flat[i + 1]
  end
  return core.request_text(req, "GET")
end

local function decode(text)
  return core.json_decode(text)
end

describe("C core: reply decoding", function()
  it("makes every whole number an integer", function()
    local t = assert(decode('{"a":3,"b":3.0,"c":-0.0,"d":1e2,"e":[7,8.0]}'))
    for _, v in ipairs { t.a, t.b, t.c, t.d, t.e[1], t.e[2] } do
      assert.equal("integer", math.type(v))
    end
    assert.same({ 3, 3, 0, 100 }, { t.a, t.b, t.c, t.d })
  end)

  it("keeps fractions and out-of-range whole numbers as floats", function()
    local t = assert(decode('{"a":2.5,"b":1e300,"c":-1.25e-3}'))
    assert.equal("float", math.type(t.a))
    assert.equal(2.5, t.a)
    assert.equal("float", math.type(t.b))
    assert.equal(-1.25e-3, t.c)
  end)

  it("refuses NaN and infinity in a reply", function()
    for _, text in ipairs { '{"a":1e999}', '[-1e999]', '{"a":NaN}', '{"a":Infinity}', '[nan]' } do
      local value, msg = decode(text)
      assert.is_nil(value, text)
      assert.is_string(msg, text)
    end
    local _, msg = decode('{"a":{"b":[1e400]}}')
    assert.equal("number out of range in reply", msg)
  end)

  it("drops null fields and keeps arrays dense", function()
    local t = assert(decode('{"a":null,"b":[null,1,null,2,null],"c":[{"x":null,"y":1},null],"d":[null]}'))
    assert.is_nil(t.a)
    assert.same({ 1, 2 }, t.b)
    assert.equal(2, #t.b)
    assert.equal(1, #t.c)
    assert.same({ y = 1 }, t.c[1])
    assert.same({}, t.d)
    local n = 0
    for _ in pairs(t) do n = n + 1 end
    assert.equal(3, n) -- b, c, d
  end)

  it("decodes nested structures all the way down", function()
    local t = assert(decode('{"data":{"list":[[ "1.2.3.4:1", "5.6.7.8:2" ],[]],"n":{"m":{"k":[1.0,null,{"z":4.0}]}}}}'))
    assert.same({ "1.2.3.4:1", "5.6.7.8:2" }, t.data.list[1])
    assert.same({}, t.data.list[2])
    assert.equal("integer", math.type(t.data.n.m.k[1]))
    assert.equal("integer", math.type(t.data.n.m.k[2].z))
    assert.equal(2, #t.data.n.m.k)
  end)

  it("returns nil and a message for malformed or truncated JSON", function()
    for _, text in ipairs { "", "{", '{"a":', "[1,2", "{bad}", "<html>" } do
      local value, msg = decode(text)
      assert.is_nil(value)
      assert.truthy(msg:find("invalid JSON", 1, true), text)
    end
  end)

  it("gives a JSON null as nil without an error", function()
    assert.equal(1, select("#", decode("null")))
    assert.is_nil(decode("null"))
  end)

  it("keeps strings, escapes and UTF-8 intact", function()
    local t = assert(decode('{"s":"a\\"b\\\\c\\u4e2d\\n","z":"\\u0000x"}'))
    assert.equal('a"b\\c中\n', t.s)
    assert.equal("\0x", t.z)
  end)

  it("uses its own cjson instance, whatever the user's cjson is set to", function()
    local cjson = require "cjson"
    cjson.decode_invalid_numbers(true)
    cjson.encode_number_precision(3)
    local ok, err = pcall(function()
      assert.is_nil((decode('{"a":NaN}')))
      assert.equal('{"limit":102400}', core.json_encode { limit = 102400 })
    end)
    cjson.decode_invalid_numbers(true)
    cjson.encode_number_precision(14)
    assert(ok, err)
  end)
end)

describe("C core: normalisation guided by the text", function()
  -- a reference of the contract's rules in plain Lua, over cjson's raw result
  local raw = require("cjson").new()
  local function reference(v)
    if type(v) == "number" then
      return math.tointeger(v) or v
    elseif type(v) == "table" then
      local out = {}
      if rawlen(v) > 0 then
        for i = 1, rawlen(v) do
          if v[i] ~= raw.null then out[#out + 1] = reference(v[i]) end
        end
      else
        for k, x in pairs(v) do
          if x ~= raw.null then out[k] = reference(x) end
        end
      end
      return out
    end
    return v
  end

  -- random documents with what the text scan must get right
  local KEYS = { "a", "b", "code", "list", [[q\"uote]], [[back\\]], [[\u0041]], "1", "" }
  local STRINGS = { [["x"]], [["\""]], [["\\"]], [["\\\""]], [["a\\\\"]], [["null"]], [["1.5"]], [["{["]] }
  local NUMBERS = { "0", "-0", "7", "-12", "3.0", "2.5", "1e2", "-1.5e-3", "1E+2", "123456789012", "0.0" }
  local function document(rand, depth)
    local pick = rand(depth > 4 and 4 or 7)
    if pick == 1 then return STRINGS[rand(#STRINGS)]
    elseif pick == 2 then return NUMBERS[rand(#NUMBERS)]
    elseif pick == 3 then return ({ "null", "true", "false" })[rand(3)]
    elseif pick == 4 then return "null"
    elseif pick <= 5 then
      local items = {}
      for i = 1, rand(5) - 1 do items[i] = document(rand, depth + 1) end
      return "[ " .. table.concat(items, " ,") .. "]"
    else
      local members = {}
      for i = 1, rand(5) - 1 do
        members[i] = '"' .. KEYS[rand(#KEYS)] .. '" : ' .. document(rand, depth + 1)
      end
      return "{" .. table.concat(members, ",\n") .. " }"
    end
  end

  it("agrees with a full walk on 3000 random documents", function()
    local seed = 12345
    local function rand(n)
      seed = (seed * 1103515245 + 12345) % 2147483648
      return seed % n + 1
    end
    for _ = 1, 3000 do
      local text = "{\"code\":200,\"data\":" .. document(rand, 0) .. "}"
      local ok, expected = pcall(raw.decode, text)
      if ok then
        assert.same(reference(expected), (decode(text)), text)
      end
    end
  end)

  it("leaves a reply without numbers or nulls untouched below the envelope", function()
    local t = assert(decode('{"code":200.0,"data":{"list":[{"name_en":"A","items":[{"city":"x"}]}]}}'))
    assert.equal("integer", math.type(t.code))
    assert.same({ list = { { name_en = "A", items = { { city = "x" } } } } }, t.data)
  end)
end)

describe("C core: body encoding", function()
  local encode = core.json_encode

  it("writes integers exactly and floats as the shortest text that reads back", function()
    assert.equal('{"n":123456789012345}', encode { n = 123456789012345 })
    assert.equal("[9223372036854775807,-9223372036854775808,5,0]",
      encode { math.maxinteger, math.mininteger, 5.0, -0.0 })
    assert.equal("[0.30000000000000004,0.1,2.5e-07,1e+300]", encode { 0.1 + 0.2, 0.1, 2.5e-7, 1e300 })
  end)

  it("escapes strings as JSON does and keeps UTF-8 bytes", function()
    assert.equal('["a\\"b\\\\c\\n\\t\\u0001\\u001f/é"]', encode { 'a"b\\c\n\t\1\31/é' })
  end)

  it("writes arrays, objects, {} for an empty table, and null", function()
    assert.equal('[[1,2],{"k":true},{},null]', encode { { 1, 2 }, { k = true }, {}, require("cjson").null })
    assert.equal("null", encode(nil))
  end)

  it("reads back what it writes", function()
    local value = { list = { { id = 1, name = "x\0y", ratio = 0.25, tags = { "a", "b" } } }, ok = false }
    assert.same(value, core.json_decode(encode(value)))
  end)

  it("refuses what JSON cannot hold, with a clear error", function()
    for _, case in ipairs {
      { { 0 / 0 }, "cannot encode NaN or infinity in JSON" },
      { { math.huge }, "cannot encode NaN or infinity in JSON" },
      { { print }, "cannot encode a function in JSON" },
      { { 1, x = 2 }, "cannot encode a table with both array items and other keys in JSON" },
      { { [2] = 1 }, "cannot encode a table with number keys in JSON (strings, or an array 1..n)" },
      { { setmetatable({}, {}) }, "cannot encode a table with a metatable in JSON" },
    } do
      assert.has_error(function() encode(case[1]) end, case[2])
    end
    local cycle = {}
    cycle[1] = cycle
    assert.has_error(function() encode(cycle) end,
      "cannot encode a table nested this deeply (or a cycle) in JSON")
  end)

  it("nests as deep as lua-cjson reads, and no deeper", function()
    local deep = {}
    for _ = 1, 999 do deep = { deep } end
    assert.is_table(core.json_decode(encode(deep)))
    assert.has_error(function() encode { deep } end)
  end)
end)

describe("C core: query encoding", function()
  it("percent-encodes everything but unreserved characters", function()
    assert.equal("k=a%20b%2Fc%3Fd%26e%3Df%2Bg%25h~-._",
      encode_query { "k", "a b/c?d&e=f+g%h~-._" })
    assert.equal("city=S%C3%A3o%20Paulo", encode_query { "city", "São Paulo" })
    assert.equal("lb=%0D%0A", encode_query { "lb", "\r\n" })
    assert.equal("z=%00", encode_query { "z", "\0" })
  end)

  it("percent-encodes the text of floats ('+' would read as a space)", function()
    assert.equal("k=1e%2B20", encode_query { "k", 1e20 })
    assert.equal("k=2.5e-07", encode_query { "k", 2.5e-7 })
  end)

  it("writes whole numbers as integers and keeps the order given", function()
    assert.equal("b=9&a=9&c=1.5&d=-3&e=true&f=false",
      encode_query { "b", 9, "a", 9.0, "c", 1.5, "d", -3, "e", true, "f", false })
  end)

  it("raises on values that cannot go in a query", function()
    assert.has_error(function() encode_query { "k", {} } end)
    assert.has_error(function() encode_query { "k", 0 / 0 } end)
    assert.has_error(function() encode_query { "k", math.huge } end)
  end)

  it("encodes an empty list as an empty string", function()
    assert.equal("", encode_query {})
  end)
end)

describe("Lua side: result shapes", function()
  local shapes = shapes_module

  it("flattens IP lists of lists and of strings", function()
    assert.same({ "a:1", "b:2", "c:3" }, shapes.ips { list = { { "a:1", "b:2" }, { "c:3" } } })
    assert.same({ "a:1", "b:2" }, shapes.ips { list = { "a:1", "b:2" } })
    assert.same({}, shapes.ips { list = {} })
    assert.same({}, shapes.ips(nil))
  end)

  it("refuses IP lists that are not strings", function()
    local ips, msg = shapes.ips { list = { { "a:1", 5 } } }
    assert.is_nil(ips)
    assert.truthy(msg:find("not a string"))
    assert.is_nil((shapes.ips { list = "x" }))
  end)

  it("splits text on a literal separator, trimming and dropping empty items", function()
    assert.same({ "a:1", "b:2", "c:3" }, shapes.ips(" a:1 %. b:2%.%.c:3%.", "%.", true))
    assert.same({ "a:1", "b:2" }, shapes.ips("a:1.b:2", ".", true))
    assert.same({ "a:1", "b:2", "c:3" }, shapes.ips("a:1\r\nb:2\nc:3\r\n\r\n", nil, true))
    assert.same({ "a:1", "b:2" }, shapes.ips("a:1\rb:2", nil, true))
    assert.same({}, shapes.ips("", nil, true))
  end)

  it("refuses a JSON data that is a string where the IP list belongs", function()
    local ips, msg = shapes.ips("1.2.3.4:5")
    assert.is_nil(ips)
    assert.equal("unexpected reply: data is a string, expected an object", msg)
  end)

  it("makes a missing or null list an empty array, and a wrong one an error", function()
    assert.same({}, shapes.list(nil))
    assert.same({}, shapes.list {})
    assert.same({ 1 }, shapes.list { list = { 1 } })
    local list, msg = shapes.list "unexpected"
    assert.is_nil(list)
    assert.equal("unexpected reply: data is a string, expected an object", msg)
    assert.is_nil((shapes.list { list = 5 }))
  end)

  it("builds page tables and checks their counters", function()
    assert.same({ list = { 1 }, page = 1, page_size = 20, total_count = 1, total_page = 1 },
      shapes.page { list = { 1 }, page = 1, page_size = 20, total_count = 1, total_page = 1 })
    assert.same({ list = {} }, shapes.page(nil))
    assert.is_nil((shapes.page { list = {}, page = 1.5 }))
  end)
end)

describe("on the wire", function()
  local fake, api

  lazy_setup(function()
    fake = helper.start_fake()
    api = fake:client()
  end)

  lazy_teardown(function()
    api:close()
    fake:stop()
  end)

  before_each(function()
    fake:reset()
  end)

  local function last_wire()
    local log = fake:log()
    return log[#log].wire
  end

  it("puts GET parameters in the query, app_key first, numbers as integers", function()
    assert(api:list_products { page = 2.0, size = 5, product_type = 9.0 })
    assert.equal("app_key=***&page=2&size=5&product_type=9", last_wire())
  end)

  it("percent-encodes query values", function()
    assert(api:usage_flow { start_time = "2026-01-01 00:00:00", end_time = "2026-01-02 10:20:30" })
    assert.equal("app_key=***&start_time=2026-01-01%2000%3A00%3A00&end_time=2026-01-02%2010%3A20%3A30", last_wire())
  end)

  it("sends a JSON body with app_key and integer numbers", function()
    assert(api:add_accounts { "wire1:pw" })
    assert(api:change_limit("wire1", 7.0))
    local body = require("cjson").decode(last_wire())
    assert.same({ app_key = "***", account = "wire1", limit = 7 }, body)
    assert.truthy(last_wire():find('"limit":7[,}]'))
    assert.falsy(last_wire():find("7.0", 1, true))
  end)

  -- Replies are decoded where they arrived, the decoder told which text
  -- to read; a decode started from a debug hook inside another one (a
  -- profiler's, say) must read its own text and leave the outer's alone.
  it("decodes a reply in place, even with decodes nested from a hook", function()
    assert(api:add_accounts { "nest1:pw", "nest2:pw" })
    local plain = assert(api:list_accounts())
    local inner, busy = {}, false
    debug.sethook(function()
      if busy then return end
      busy = true
      inner[#inner + 1] = core.json_decode('{"inner":[1,2,3]}')
      busy = false
    end, "c")
    local ok, nested, err = pcall(api.list_accounts, api)
    debug.sethook()
    assert(ok, nested)
    assert.is_nil(err)
    assert.same(plain, nested)
    assert.truthy(#inner > 10)
    for _, v in ipairs(inner) do
      assert.same({ inner = { 1, 2, 3 } }, v)
    end
    assert.error_matches(function() core.json_decode(core.json_empty_array) end, "string expected")
  end)

  it("leaves absent optional parameters out entirely", function()
    assert(api:add_accounts { "wire2:pw" })
    local wire = last_wire()
    assert.falsy(wire:find("remark", 1, true))
    assert.falsy(wire:find("product_type", 1, true))
    assert.falsy(wire:find("null", 1, true))
    assert(api:extract_ips())
    assert.equal("app_key=***", last_wire())
  end)
end)
