-- A smoke test of the benchmark harness (scripts/bench/), no timings:
-- its arithmetic and formatting, its reply generator, the proxyapi client
-- script in both hosts against the fake, and, once `make bench-bin` has
-- built them, the canned server and the C floor.
local helper = require "helper"
local cjson = require "cjson"

package.path = "./scripts/bench/lib/?.lua;" .. package.path
local report = require "report"
local measure = require "measure"

local quote = helper.quote

local function cwd()
  local p = assert(io.popen("pwd"))
  local dir = p:read("l")
  p:close()
  return dir
end

local ROOT = cwd()
local LUA_ENV = string.format("LUA_PATH_5_4=%s LUA_CPATH_5_4=%s", quote(ROOT .. "/lua/?.lua;" .. ROOT
  .. "/lua/?/init.lua;;"), quote(ROOT .. "/build/?.so;;"))

describe("bench arithmetic and formatting", function()
  it("takes medians of odd and even counts without reordering its input", function()
    local xs = { 5, 1, 4, 2 }
    assert.equal(3, measure.median(xs))
    assert.same({ 5, 1, 4, 2 }, xs)
    assert.equal(4, measure.median { 9, 4, 1 })
    assert.is_nil(measure.median {})
  end)

  it("prints µs with thousands separators, small values with a decimal", function()
    assert.equal("1,835", report.num(1834.6))
    assert.equal("31.5", report.num(31.46))
    assert.equal("-1,234,568", report.num(-1234567.8))
    assert.equal("-", report.num(nil))
    assert.equal("1.05×", report.ratio(105, 100))
    assert.equal("-", report.ratio(nil, 100))
  end)

  it("passes a target only when every row is measured and within the limit", function()
    local text, ok = report.all_within({ { "1 KB", 1.04 }, { "POST", 1.05 } }, 1.05)
    assert.equal("1 KB 1.04×, POST 1.05×", text)
    assert.is_true(ok)
    assert.is_false(select(2, report.all_within({ { "a", 1.0 }, { "b", 1.2 } }, 1.05)))
    assert.is_false(select(2, report.all_within({ { "a", 1.0 }, { "b", nil } }, 1.05)))
    assert.is_nil(select(2, report.all_within({ { "a", nil } }, 1.05)))
  end)
end)

describe("bench glue split (callgrind profile)", function()
  local split = require "split"
  local function lines(text)
    return text:gmatch("[^\n]+")
  end
  -- the shape callgrind_annotate --inclusive=yes --tree=calling prints
  local PROFILE = [[
1,000,000 (100.0%)  PROGRAM TOTALS
  600,000 (60.00%)  *  /b/csrc/px_client.c:px_perform [/b/build/pxlua]
  500,000 (50.00%)  >   ???:curl_multi_perform (10x) [/usr/lib/x86_64-linux-gnu/libcurl.so.4.8.0]
   90,000 ( 9.00%)  >   /b/csrc/px_result.c:px_result_push (10x) [/b/build/pxlua]
  500,000 (50.00%)  *  ???:curl_multi_perform [/usr/lib/x86_64-linux-gnu/libcurl.so.4.8.0]
   40,000 ( 4.00%)  >   /b/csrc/px_transfer.c:px_on_header (30x) [/b/build/pxlua]
   20,000 ( 2.00%)  >   ./malloc/./malloc/malloc.c:malloc (99x) [/usr/lib/x86_64-linux-gnu/libc.so.6]
   40,000 ( 4.00%)  *  /b/csrc/px_transfer.c:px_on_header [/b/build/pxlua]
    5,000 ( 0.50%)  >   ???:curl_easy_getinfo (30x) [/usr/lib/x86_64-linux-gnu/libcurl.so.4.8.0]
  300,000 (30.00%)  *  ???:luaD_precall [/b/build/pxlua]
  250,000 (25.00%)  >   ???:json_decode (10x) [/b/build/pxlua]
   30,000 ( 3.00%)  >   ???:0x0000000000003c80 (10x) [/usr/lib/x86_64-linux-gnu/liblua5.4-cjson.so.0.0.0]
  250,000 (25.00%)  *  ???:json_decode [/b/build/pxlua]
  200,000 (20.00%)  >   ???:json_decode'2 (10x) [/b/build/pxlua]
   70,000 ( 7.00%)  *  ???:0x000000000004cbe0 [/usr/lib/x86_64-linux-gnu/libcurl.so.4.8.0]
   10,000 ( 1.00%)  >   ???:px_on_data (10x) [/b/build/pxlua]
   60,000 ( 6.00%)  *  ???:px_transfer_drive
   50,000 ( 5.00%)  >   ???:lua_getfield (10x) [/usr/bin/lua5.4]
   10,000 ( 1.00%)  >   ???:curl_multi_poll (10x) [/usr/lib/x86_64-linux-gnu/libcurl.so.4.8.0]
]]

  it("counts calls into libcurl less its callbacks into the client, and calls into cjson", function()
    local parts = assert(split.parse(lines(PROFILE), "/b/build"))
    -- libcurl: 500k + the getinfo a callback made (5k) + a poll (10k), less
    -- the callbacks (40k, 10k); malloc called by libcurl stays libcurl's; a
    -- function printed without its object is ours, so what it calls (Lua)
    -- is not a callback from libcurl
    assert.same({ total = 1000000, libcurl = 465000, decode = 280000, own = 255000 }, parts)
  end)

  it("says so when the text has no totals", function()
    local parts, err = split.parse(lines("nothing here\n"), "/b/build")
    assert.is_nil(parts)
    assert.matches("no totals", err)
  end)
end)

describe("bench reply generator", function()
  it("writes the three shapes at the size asked, as replies proxyapi accepts", function()
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir " .. quote(dir)))
    local code, _, err = helper.run("lua5.4 scripts/bench/gen-shapes.lua " .. quote(dir) .. " 20000")
    assert.equal(0, code, err)
    for _, shape in ipairs { "numbers", "strings", "accounts" } do
      local text = measure.read_file(dir .. "/" .. shape .. ".json")
      os.remove(dir .. "/" .. shape .. ".json")
      assert.is_true(#text >= 20000 and #text < 20400, shape .. ": " .. #text .. " bytes")
      local reply = cjson.decode(text)
      assert.equal(200, reply.code)
      assert.is_true(#reply.data.list > 10)
      if shape == "numbers" then
        assert.equal(0, reply.data.list[#reply.data.list])
      elseif shape == "accounts" then
        assert.equal("string", type(reply.data.list[1].username))
      end
    end
    os.remove(dir)
  end)
end)

describe("bench proxyapi client script", function()
  local fake

  setup(function()
    fake = helper.start_fake()
    local names = {}
    for i = 1, 100 do
      names[i] = "bench" .. i .. ":pw" .. i
    end
    assert(fake:client():add_accounts(names))
  end)

  teardown(function()
    fake:stop()
  end)

  before_each(function()
    fake:clear_log()
  end)

  local function run(host, args)
    local env = string.format("env NO_PROXY='*' PROXYAPI_BASE_URL=%s PROXYAPI_APP_KEY=%s %s", fake.base_url,
      fake.app_key, LUA_ENV)
    local exe = host == "pxlua" and helper.PXLUA or "lua5.4"
    return helper.run(string.format("%s %s scripts/bench/proxyapi.lua %s %s", env, exe, host, args))
  end

  local function count(method, path)
    local n = 0
    for _, e in ipairs(fake:log()) do
      if e.method == method and e.path == path then
        n = n + 1
      end
    end
    return n
  end

  for _, host in ipairs { "pxlua", "require" } do
    it(host .. ": peak makes one list_accounts call and reports its peak memory", function()
      local code, out, err = run(host, "peak 1 10")
      assert.equal(0, code, err)
      local n = 0
      for _ in pairs(fake:accounts()) do
        n = n + 1
      end
      assert.equal(n, tonumber(out:match("items=(%d+)")))
      assert.is_true(tonumber(out:match("hwm_kib=(%d+)")) >= tonumber(out:match("before_kib=(%d+)")))
      assert.equal(1, count("GET", "/openapi/whitelist-account/list"))
    end)

    it(host .. ": map runs every call through api:map after one round of warm-up", function()
      local code, out, err = run(host, "map 40 10")
      assert.equal(0, code, err)
      assert.equal("40", out:match("^calls=(%d+) seconds=[%d.]+ cpu=[%d.]+\n$"))
      assert.equal(16 + 40, count("POST", "/openapi/whitelist-account/enable"))
    end)
  end

  it("stops a loop at its count: 5 warm-up calls and CALLS timed ones", function()
    local code, out, err = run("pxlua", "enable 7 10")
    assert.equal(0, code, err)
    assert.equal("7", out:match("calls=(%d+)"))
    assert.equal(12, count("POST", "/openapi/whitelist-account/enable"))
  end)
end)

describe("bench server and C floor", function()
  local BIN = "build/bench"
  local built = measure.read_file(BIN .. "/server") and measure.read_file(BIN .. "/curl_loop")

  it("serve and count real requests: sequential, decoded, and 4 in flight", function()
    if not built then
      pending("run `make bench-bin` first")
      return
    end
    local server = measure.start_server(BIN, 0, "scripts/bench/list_accounts.json", "scripts/bench/list_accounts.json",
      "spec")
    local ok, err = pcall(function()
      local out = measure.capture(string.format("%s/curl_loop --decode %s 20", BIN,
        quote(server.base .. "/openapi/whitelist-account/list?app_key=x")))
      assert.equal("20", out:match("calls=(%d+)"))
      assert.equal("976", out:match("bytes=(%d+)"))
      out = measure.capture(string.format("%s/curl_loop --decode --concurrency 4 --post '{}' %s 20", BIN,
        quote(server.base .. "/openapi/whitelist-account/enable")))
      assert.equal("20", out:match("calls=(%d+)"))
      assert.equal("40", out:match("bytes=(%d+)"))
      out = measure.capture(BIN .. "/curl_loop --decode-file scripts/bench/list_accounts.json 10")
      assert.equal("10", out:match("calls=(%d+)"))
    end)
    local conns, reqs = measure.stop_server(server)
    assert(ok, err)
    assert.equal(5 + 20 + 4 + 20, tonumber(reqs)) -- warm-ups included
    assert.equal(1 + 4, tonumber(conns)) -- keep-alive: one connection per handle
  end)
end)
