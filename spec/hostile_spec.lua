-- The client against a hostile server (spec/hostile/server.lua, apart
-- from the project's fake): replies cut short, bodies that never end,
-- wrong shapes, paging that never ends, the app_key echoed in every
-- spelling, a proxy refusing CONNECT, odd Retry-After values, huge arrays,
-- misuse of api:map and its scheduler, and more of HTTP's corners.
-- Each spec says what the contract (README) and README promise and checks it over real
-- HTTP, counting what the server received. Specs of a defect that today's
-- client still has carry #defect in their names
-- (`busted --exclude-tags=defect` keeps the suite green until they are fixed).
local helper = require "helper"
local proxyapi = require "proxyapi"
local support = require "hostile.support"

local KEY = support.KEY
local KEYS = { KEY, "LetterKey0nly42abcXYZ" }

local server

local function tagged(name, defect)
  return defect and name .. "" or name
end

local function assert_error(err, kind, label)
  label = label and label .. ": " or ""
  assert.is_true(proxyapi.is_error(err), label .. "an error object expected, got " .. tostring(err))
  if kind then
    assert.equal(kind, err.kind, label .. tostring(err))
  end
end

--- The requests a segment received for `path` (a suffix), in order.
local function requests(segment, method, path)
  local list = {}
  for _, h in ipairs(server:hits(segment).list) do
    if h.method == method and (path == nil or h.path:sub(-#path) == path) then
      list[#list + 1] = h
    end
  end
  return list
end

--- Every item an each_* iterator gives, or the error it raised.
local function drain(iterator)
  local list = {}
  local ok, err = pcall(function()
    for item in iterator do
      list[#list + 1] = item
    end
  end)
  return list, not ok and err or nil
end

lazy_setup(function()
  server = support.start()
end)

lazy_teardown(function()
  server:stop()
end)

after_each(function()
  server:close_clients()
end)

-- ---------------------------------------------------------------------
describe("a reply cut short", function()
  -- {mode, defect}: where the close comes; every one is a network failure
  local CUTS = {
    { "half_headers", true },   -- "HTTP/1.1 200 OK\r\nContent-Type: appli"
    { "cut=5" },                -- inside the status line
    { "cut=17", true },         -- after the status line
    { "cut=40", true },         -- inside a header
    { "cut=69" },               -- before the blank line
    { "cut=71" },               -- after the headers, before the body
    { "cut=90" },               -- in the body
  }
  for _, cut in ipairs(CUTS) do
    local mode, defect = cut[1], cut[2]

    it(tagged(mode .. ": reads are retried as network failures", defect), function()
      local api, segment = server:client(mode)
      local list, err = api:list_accounts()
      assert.is_nil(list)
      assert_error(err, "network")
      assert.is_true(err.retryable)
      assert.equal(3, err.attempts)
      assert.equal(3, server:count(segment))
      assert.not_matches("empty reply", tostring(err))
      local ok, err2 = api:disable_accounts { "u1" }
      assert.is_nil(ok)
      assert_error(err2, "network")
      assert.equal(3, err2.attempts)
    end)

    it(tagged(mode .. ": at-most-once writes are sent once and may be applied", defect), function()
      local calls = {
        add_accounts = function(api) return api:add_accounts { "u1:p1" } end,
        delete_accounts = function(api) return api:delete_accounts { "u1" } end,
        extract_ips = function(api) return api:extract_ips { num = 1 } end,
      }
      for name, call in pairs(calls) do
        local api, segment = server:client(mode)
        local result, err = call(api)
        assert.is_nil(result, name)
        assert_error(err, "network", name)
        assert.is_true(err.maybe_applied, name .. ": " .. tostring(err))
        assert.equal(1, err.attempts, name .. ": " .. tostring(err))
        assert.equal(1, server:count(segment), name)
      end
    end)
  end

  it("half_headers: a split batch names every account; idempotent chunks are retried", function()
    local api, segment = server:client("half_headers", { batch_size = 2 })
    local ok, err = api:disable_accounts { "a1", "a2", "a3", "a4", "a5" }
    assert.is_nil(ok)
    assert_error(err, "network")
    assert.same({ "a1", "a2", "a3", "a4", "a5" }, err.failed)
    assert.equal(9, server:count(segment)) -- 3 chunks, 3 attempts each
  end)

  it("half_headers: a split add is sent once per chunk and may be applied", function()
    local api, segment = server:client("half_headers", { batch_size = 2 })
    local ok, err = api:add_accounts { "a1:p1", "a2:p2", "a3:p3", "a4:p4", "a5:p5" }
    assert.is_nil(ok)
    assert_error(err, "network")
    assert.is_true(err.maybe_applied)
    assert.same({ "a1", "a2", "a3", "a4", "a5" }, err.failed)
    assert.equal(3, server:count(segment))
  end)

  it("half_headers: every item of api:map fails as a network failure", function()
    local api, segment = server:client("half_headers", { retries = 1 })
    local results, errs = api:map({ 1, 2, 3, 4 }, function(a) return a:list_accounts() end)
    assert.equal(4, results.n)
    for i = 1, 4 do
      assert.is_nil(results[i])
      assert_error(errs[i], "network")
    end
    assert.equal(8, server:count(segment))
  end)
end)

-- ---------------------------------------------------------------------
describe("a reply that never ends", function()
  local quick = { timeout = 0.2, retries = 1 }

  it("an endless chunked body ends at max_response_bytes", function()
    local api, segment = server:client("chunked_endless", { max_response_bytes = 256 * 1024 })
    local list, err = api:list_accounts()
    assert.is_nil(list)
    assert_error(err, "protocol")
    assert.matches("larger than", err.msg)
    assert.equal(1, server:count(segment))
  end)

  it("a byte every 50 ms ends at the timeout, and reads are retried", function()
    local api, segment = server:client("trickle=50", quick)
    local list, err = api:list_accounts()
    assert.is_nil(list)
    assert_error(err, "timeout")
    assert.equal(2, err.attempts)
    assert.equal(2, server:count(segment))
  end)

  it("a trickled reply to add_accounts times out once and may be applied", function()
    local api, segment = server:client("trickle=50", quick)
    local ok, err = api:add_accounts { "u1:p1" }
    assert.is_nil(ok)
    assert_error(err, "timeout")
    assert.is_true(err.maybe_applied)
    assert.equal(1, server:count(segment))
  end)

  it("1xx responses forever end at the timeout", function()
    local api, segment = server:client("continue_forever", quick)
    local list, err = api:list_accounts()
    assert.is_nil(list)
    assert_error(err, "timeout")
    assert.equal(2, server:count(segment))
  end)

  it("headers that never end are a reply too large (protocol), not a network failure", function()
    local api, segment = server:client("header_flood", quick)
    local list, err = api:list_accounts()
    assert.is_nil(list)
    assert_error(err, "protocol")
    assert.equal(1, server:count(segment))
  end)

  it("a 200 KB header line is a protocol error, not 'Out of memory'", function()
    local api = server:client("long_header", quick)
    local list, err = api:list_accounts()
    assert.is_nil(list)
    assert_error(err, "protocol")
    assert.not_matches("[Oo]ut of memory", err.msg)
  end)

  it("a gzip bomb is cut at max_response_bytes (counted decoded)", function()
    server:client("gzip=bomb"):call("GET", "/warm-up") -- the server makes the fixture once
    local api, segment = server:client("gzip=bomb", { max_response_bytes = 1024 * 1024 })
    local data, err = api:call("GET", "/x")
    assert.is_nil(data)
    assert_error(err, "protocol")
    assert.matches("larger than", err.msg)
    assert.equal(1, server:count(segment))
  end)

  it("a gzip-encoded reply is decoded", function()
    local api = server:client("gzip=plain")
    assert.same({}, assert(api:list_accounts()))
  end)
end)

-- ---------------------------------------------------------------------
describe("a reply of the wrong shape", function()
  local LISTS = {
    list_accounts = function(api) return api:list_accounts() end,
    usage_flow = function(api) return api:usage_flow {} end,
    list_cities = function(api) return api:list_cities() end,
    search_cities = function(api) return api:search_cities("US", "CA") end,
    list_states = function(api) return api:list_states() end,
    search_states = function(api) return api:search_states("US") end,
    list_products = function(api) return api:list_products {} end,
    extract_ips = function(api) return api:extract_ips {} end,
    each_product = function(api) return drain(api:each_product {}) end,
    each_static_ip = function(api) return drain(api:each_static_ip {}) end,
  }

  local function every_list_method_refuses(fixture)
    local api = server:client("body=" .. fixture)
    for name, call in pairs(LISTS) do
      local result, err = call(api)
      if name:find("^each_") then
        assert.same({}, result, name)
      else
        assert.is_nil(result, name .. " returned a " .. type(result))
      end
      assert_error(err, "protocol", name)
      assert.equal(1, err.attempts, name)
    end
  end

  it("data = [1,2,3] is a protocol error for every list method", function()
    every_list_method_refuses("data_array")
  end)

  it("data.list = {\"a\":1} is a protocol error for every list method", function()
    every_list_method_refuses("list_object")
  end)

  it("data = \"surprise\" and data.list = \"a,b\" are protocol errors", function()
    every_list_method_refuses("data_string")
    every_list_method_refuses("list_string")
  end)

  it("extract_ips: a list holding objects is a protocol error", function()
    local ips, err = server:client("body=ip_objects"):extract_ips { num = 1 }
    assert.is_nil(ips)
    assert_error(err, "protocol")
  end)

  it("extract_ips: strings that are not host:port are a protocol error", function()
    local ips, err = server:client("body=ip_words"):extract_ips { num = 1 }
    assert.is_nil(ips)
    assert_error(err, "protocol")
  end)

  it("extract_ips: a list of lists of host:port is flattened", function()
    assert.same({ "1.2.3.4:8000", "5.6.7.8:8001" }, assert(server:client("body=ip_good"):extract_ips {}))
  end)

  it("extract_ips, text format: an HTML error page is a protocol error", function()
    local ips, err = server:client("body=text_html"):extract_ips { format = "txt" }
    assert.is_nil(ips)
    assert_error(err, "protocol")
  end)

  it("extract_ips, text format: a plain-text message is a protocol error", function()
    local ips, err = server:client("body=text_words"):extract_ips { format = "txt" }
    assert.is_nil(ips)
    assert_error(err, "protocol")
  end)

  it("extract_ips, text format: host:port lines are returned", function()
    local api = server:client("body=text_good")
    assert.same({ "1.2.3.4:8000", "5.6.7.8:8001" }, assert(api:extract_ips { format = "txt" }))
    assert.same({ "1.2.3.4:8000", "5.6.7.8:8001" }, assert(api:extract_ips { format = "txt", lb = "\r\n" }))
  end)

  -- envelopes that are not {"code": integer, ...}, and JSON the client must refuse
  for _, fixture in ipairs { "code_string", "code_float", "code_missing", "code_null", "code_true", "code_huge",
                             "top_array", "top_string", "top_null", "empty", "nan", "infinite", "deep",
                             "text_html" } do
    it("body " .. fixture .. " is a protocol error, not retried", function()
      local api, segment = server:client("body=" .. fixture)
      local list, err = api:list_accounts()
      assert.is_nil(list)
      assert_error(err, "protocol")
      assert.equal(1, server:count(segment))
      local ok, err2 = api:add_accounts { "u1:p1" }
      assert.is_nil(ok)
      assert_error(err2, "protocol")
      assert.is_true(err2.maybe_applied)
    end)
  end

  it("an API error whose msg holds NUL or invalid UTF-8 is still an API error", function()
    for _, fixture in ipairs { "nul_msg", "bad_utf8_msg" } do
      local list, err = server:client("body=" .. fixture):list_accounts()
      assert.is_nil(list)
      assert_error(err, "api")
      assert.equal(5, err.code)
      assert.is_string(tostring(err))
    end
  end)
end)

-- ---------------------------------------------------------------------
describe("paging", function()
  local ITERATORS = { "each_product", "each_static_ip" }
  local function each(api, name, opts)
    return api[name](api, opts or {})
  end

  for _, name in ipairs(ITERATORS) do
    it(name .. ": a server that ignores page and says nothing of the end: protocol error at the repeat",
      function()
        local api, segment = server:client("pages=ignore")
        local items, err = drain(each(api, name))
        assert_error(err, "protocol")
        assert.is_true(#items <= 10, #items .. " items")
        assert.is_true(server:count(segment) <= 2, server:count(segment) .. " requests")
      end)

    it(name .. ": total_count alone ends the paging", function()
      local api, segment = server:client("pages=count")
      local items, err = drain(each(api, name))
      assert.is_nil(err)
      assert.equal(25, #items)
      for i, item in ipairs(items) do
        assert.equal(i, item.id)
      end
      assert.equal(3, server:count(segment))
    end)

    it(name .. ": total_count with the caller's size ends the paging", function()
      local api, segment = server:client("pages=count")
      local items, err = drain(each(api, name, { size = 10 }))
      assert.is_nil(err)
      assert.equal(25, #items)
      assert.equal(3, server:count(segment))
    end)

    it(name .. ": pages that repeat the previous one are a protocol error", function()
      local api, segment = server:client("pages=repeat")
      local items, err = drain(each(api, name))
      assert_error(err, "protocol")
      assert.equal(10, #items)
      assert.equal(2, server:count(segment))
    end)

    it(name .. ": a short page ends the paging although total_page says more", function()
      local api, segment = server:client("pages=short_more")
      local items, err = drain(each(api, name))
      assert.is_nil(err)
      assert.equal(3, #items)
      assert.equal(1, server:count(segment))
    end)

    it(name .. ": new pages forever, without an end, stop at a page cap (fewer than 1100 pages)",
      function()
        local api, segment = server:client("pages=endless")
        local _, err = drain(each(api, name))
        assert_error(err, "protocol")
        assert.is_true(server:count(segment) < 1100, server:count(segment) .. " requests")
      end)

    it(name .. ": consistent pages are read to the end and no further", function()
      local api, segment = server:client("pages=consistent")
      local items, err = drain(each(api, name))
      assert.is_nil(err)
      assert.equal(25, #items)
      assert.equal(3, server:count(segment))
    end)
  end
end)

-- ---------------------------------------------------------------------
describe("the app_key echoed back", function()
  -- spellings a server might echo, and which of them leak through today
  local SPELLINGS = {
    { "raw" }, { "lower", true }, { "upper", true }, { "pct_upper", true }, { "pct_lower", true },
    { "pct_mixed", true }, { "url" }, { "url_lower" }, { "url_lower_case", true }, { "double_pct", true },
    { "json_u" }, { "json_slash" }, { "html", true },
  }
  local PLACES = { "api", "http", "s500", "text", "badjson", "location" }

  local function leaks_of(texts, key, where)
    local found = {}
    for _, text in ipairs(texts) do
      if support.leaks(text, key) then
        found[#found + 1] = where .. ": " .. text
      end
    end
    return found
  end

  for _, s in ipairs(SPELLINGS) do
    local spelling, defect = s[1], s[2]
    it(tagged("spelled " .. spelling .. ": not in err, its fields, tostring, map errs or on_request", defect),
      function()
        local found = {}
        for _, key in ipairs(KEYS) do
          local seen = {}
          local on_request = function(info)
            for k, v in pairs(info) do
              seen[#seen + 1] = k .. "=" .. tostring(v)
            end
          end
          for _, place in ipairs(PLACES) do
            local api = server:client("echo=" .. place .. "," .. spelling, { app_key = key, on_request = on_request })
            local list, err = api:list_accounts()
            assert.is_nil(list)
            assert_error(err)
            for _, leak in ipairs(leaks_of(support.texts_of(err), key, place)) do
              found[#found + 1] = leak
            end
            local _, errs = api:map({ 1, 2 }, function(a) return a:list_accounts() end)
            for i = 1, 2 do
              for _, leak in ipairs(leaks_of(support.texts_of(errs[i]), key, place .. " map")) do
                found[#found + 1] = leak
              end
            end
          end
          local api = server:client("echo=iptext," .. spelling, { app_key = key })
          local _, err = api:extract_ips { format = "txt" }
          if err then
            for _, leak in ipairs(leaks_of(support.texts_of(err), key, "iptext")) do
              found[#found + 1] = leak
            end
          end
          for _, leak in ipairs(leaks_of(seen, key, "on_request")) do
            found[#found + 1] = leak
          end
        end
        assert.same({}, found)
      end)
  end

  -- pxlua's own output: an uncaught error, and a script printing the error
  for _, s in ipairs { { "raw" }, { "url" }, { "lower", true }, { "pct_upper", true }, { "pct_mixed", true },
                       { "html", true } } do
    local spelling, defect = s[1], s[2]
    it(tagged("spelled " .. spelling .. ": not in pxlua's output", defect), function()
      local found = {}
      for _, place in ipairs { "api", "http" } do
        local env = "PROXYAPI_APP_KEY=" .. helper.quote(KEY) .. " PROXYAPI_BASE_URL="
          .. helper.quote(server.url .. "/" .. server:segment("echo=" .. place .. "," .. spelling))
        local code, out, err = helper.pxlua("-e 'assert(api:list_accounts())'", nil, env)
        assert.are_not.equal(0, code, out .. err)
        for _, leak in ipairs(leaks_of({ out, err }, KEY, place .. " uncaught")) do
          found[#found + 1] = leak
        end
        code, out, err = helper.pxlua("-e 'local r, e = api:list_accounts() print(e) print(e.msg) "
          .. "for k, v in pairs(e) do print(k, v) end'", nil, env)
        assert.equal(0, code, err)
        for _, leak in ipairs(leaks_of({ out, err }, KEY, place .. " script")) do
          found[#found + 1] = leak
        end
      end
      assert.same({}, found)
    end)
  end
end)

-- ---------------------------------------------------------------------
describe("an outbound proxy that refuses CONNECT", function()
  local WRITES = {
    add_accounts = function(api) return api:add_accounts { "u1:p1" } end,
    delete_accounts = function(api) return api:delete_accounts { "u1" } end,
    extract_ips = function(api) return api:extract_ips { num = 1 } end,
  }
  -- deny: 403; auth: 407; hangup: closed without a reply; tunnel: the
  -- tunnel opens and closes before the TLS handshake
  for _, mode in ipairs { "deny", "auth", "hangup", "tunnel" } do
    it(mode .. ": at-most-once writes are retried as could-not-connect, never maybe_applied", function()
      for name, call in pairs(WRITES) do
        local api, segment = server:proxied(mode)
        local result, err = call(api)
        assert.is_nil(result, name)
        assert_error(err, "network", name)
        assert.is_nil(err.maybe_applied, name .. ": " .. tostring(err))
        assert.equal(3, err.attempts, name .. ": " .. tostring(err))
        assert.equal(3, server:count(segment), name)
      end
    end)

    it(mode .. ": reads are retried", function()
      local api, segment = server:proxied(mode)
      local list, err = api:list_accounts()
      assert.is_nil(list)
      assert_error(err, "network")
      assert.equal(3, err.attempts)
      assert.equal(3, server:count(segment))
    end)
  end

  it("https to a server that does not speak TLS: add_accounts is retried, not maybe_applied", function()
    local api = require("proxyapi").new(server:options("ok~tls", { base_url = "https://127.0.0.1:" .. server.port }))
    local ok, err = api:add_accounts { "u1:p1" }
    api:close()
    assert.is_nil(ok)
    assert_error(err, "network")
    assert.is_nil(err.maybe_applied)
    assert.equal(3, err.attempts)
  end)
end)

-- ---------------------------------------------------------------------
describe("Retry-After", function()
  -- retried: whether the client tries again (the value is invalid, or
  -- within retry_max_wait = 0.2); otherwise err.retry_after is `value`
  -- (or within `range`); "either": both are fine
  local CASES = {
    { "hex", "0x3", retried = true, defect = true },
    { "inf", "1e999", retried = true, defect = true },
    { "neg", "-1", retried = true },
    { "frac", "3.5", retried = "either", value = 3.5 },
    { "spaced", "  7  ", retried = false, value = 7 },
    { "seven", "7", retried = false, value = 7 },
    { "huge", "400 nines", retried = false, range = { 0.2, math.huge }, defect = true },
    { "big", "20 nines", retried = false, range = { 0.2, math.huge } },
    { "garbage", "soon", retried = true },
    { "plus", "+3", retried = true },
    { "sci", "1e2", retried = true, defect = true },
    { "zero", "0", retried = true },
    { "empty", "", retried = true },
    { "hexfloat", "0x1p4", retried = true, defect = true },
    { "past", "an HTTP-date an hour ago", retried = true },
    { "future", "an HTTP-date in an hour", retried = false, range = { 3500, 3700 } },
    { "far", "an HTTP-date in 9999", retried = false, range = { 0.2, math.huge } },
  }

  local function check(case, status)
    local api, segment = server:client("ra=" .. status .. "," .. case[1])
    local list, err = api:list_accounts()
    assert.is_nil(list)
    assert_error(err, "http")
    assert.equal(status, err.status)
    local ra = err.retry_after
    if ra ~= nil then
      assert.is_number(ra)
      assert.is_true(ra == ra and ra >= 0 and ra < math.huge, "retry_after = " .. tostring(ra))
    end
    local retried = case.retried
    if retried == "either" then
      retried = ra == nil
    end
    if retried then
      assert.is_nil(ra, "retry_after = " .. tostring(ra))
      assert.equal(3, err.attempts)
      assert.equal(3, server:count(segment))
    else
      assert.equal(1, err.attempts)
      assert.equal(1, server:count(segment))
      if case.value then
        assert.equal(case.value, ra)
      else
        assert.is_true(ra > case.range[1] and ra < case.range[2], "retry_after = " .. tostring(ra))
      end
    end
  end

  for _, case in ipairs(CASES) do
    it(tagged("429 with Retry-After: " .. case[2], case.defect), function()
      check(case, 429)
    end)
  end
  for _, case in ipairs(CASES) do
    if case[1] == "hex" or case[1] == "inf" or case[1] == "huge" or case[1] == "future" then
      it(tagged("503 with Retry-After: " .. case[2], case.defect), function()
        check(case, 503)
      end)
    end
  end
end)

-- ---------------------------------------------------------------------
describe("a huge array of numbers", function()
  local N = 1500000 -- "0," each: 3 MB

  it("decodes to integers within max_response_bytes", function()
    local data = assert(server:client("numbers=" .. N):call("GET", "/x"))
    local list = data.list
    assert.equal(N, #list)
    for _, i in ipairs { 1, 2, N // 2, N - 1, N } do
      assert.equal("integer", math.type(list[i]))
      assert.equal(0, list[i])
    end
  end)

  it("is a protocol error beyond max_response_bytes", function()
    local api, segment = server:client("numbers=" .. N, { max_response_bytes = 1000 * 1000 })
    local data, err = api:call("GET", "/x")
    assert.is_nil(data)
    assert_error(err, "protocol")
    assert.equal(1, server:count(segment))
  end)
end)

-- ---------------------------------------------------------------------
-- Misuse of api:map and its scheduler: each in a child process under a
-- watchdog (support.WATCHDOG seconds), so a hang fails instead of hanging.

--- Runs a child script that prints "returned" once its map came back,
-- then one line per item ("<i>\t<result>\t<error>"); returns the exit
-- code, the output, and the item lines.
local function run_child(code, shell)
  local status, out, err = server:script(code, shell)
  return status, out .. err, helper.lines(out)
end

--- What no misuse may ever show: a hang (the watchdog's 124), or an
-- internal error of the library.
local function assert_clean(status, output)
  assert.are_not.equal(124, status, "hung (killed by the watchdog): " .. output)
  assert.not_matches("bad argument #1 to 'resume'", output)
  assert.not_matches("scheduler%.lua", output)
  assert.not_matches("transport%.lua", output)
  assert.not_matches("client%.lua", output)
end

--- The item lines of a map that came back: each has a result or an error.
local function assert_items(output, lines, n)
  assert.matches("returned", output)
  local items = 0
  for _, line in ipairs(lines) do
    local i, result, err = line:match("^(%d+)\t([^\t]*)\t(.*)$")
    if i then
      items = items + 1
      assert.is_true(result ~= "nil" or err ~= "nil", "item " .. i .. " lost: " .. line)
    end
  end
  assert.equal(n, items, output)
end

local REPORT = [[
print("returned")
for i = 1, results.n do print(i, tostring(results[i]), tostring(errs[i])) end
]]

describe("api:map misuse", function()
  it("error(nil) in the function still records the item in errs", function()
    local api = server:client("ok")
    local results, errs = api:map({ 1, 2 }, function(_, i)
      if i == 1 then
        error(nil)
      end
      return i
    end)
    assert.equal(2, results.n)
    assert.is_nil(results[1])
    assert.equal(2, results[2])
    assert.is_not_nil(errs[1])
    assert.is_nil(errs[2])
  end)

  it("api:close() inside the function gives per-item errors, not an internal error", function()
    local status, output, lines = run_child([[
local api = client("ok=0.1~close")
local ok, results, errs = pcall(api.map, api, { 1, 2, 3 }, function(a, i)
  if i == 2 then a:close() return "closed" end
  return a:list_accounts()
end)
if not ok then print("raised", results) os.exit(1) end
]] .. REPORT)
    assert_clean(status, output)
    assert.equal(0, status, output)
    assert_items(output, lines, 3)
  end)

  it("running out of file descriptors says so, not 'Couldn't connect to server'", function()
    local status, output, lines = run_child([[
local api = client("slow=0.5~fd", { retries = 0 })
local items = {}
for i = 1, 30 do items[i] = i end
local results, errs = api:map(items, function(a) return a:list_accounts() end, { concurrency = 30 })
]] .. REPORT, "ulimit -n 16;")
    assert_clean(status, output)
    assert_items(output, lines, 30)
    local said = output:lower()
    assert.is_true(said:find("too many open files", 1, true) ~= nil or said:find("file descriptor", 1, true) ~= nil,
      output)
    assert.not_matches("Couldn't connect to server", output)
  end)
end)

describe("schedulers started inside a scheduler", function()
  -- racy: it hangs when item 2's transfer ends while item 1 runs its
  -- batch, so it is tried 50 times (today it hangs in nearly every run)
  it("a split batch in a coroutine inside a map function (the literal case)", function()
    local status, output, lines = run_child([[
local api = client("ok~literal", { batch_size = 2 })
local results, errs
for _ = 1, 50 do
  results, errs = api:map({ 1, 2 }, function(a)
    assert(a:list_accounts())
    return pcall(coroutine.wrap(function() return a:disable_accounts { "a", "b", "c" } end))
  end)
  for i = 1, 2 do
    if results[i] == nil and errs[i] == nil then print("lost", i) end
  end
end
]] .. REPORT)
    assert.not_matches("lost", output)
    assert_clean(status, output)
    assert_items(output, lines, 2)
  end)

  it("a split batch in a coroutine while another item's transfer is in flight", function()
    local status, output, lines = run_child([[
local api = client("ok=0.2~inflight", { batch_size = 2 })
local results, errs = api:map({ 1, 2 }, function(a, i)
  if i == 2 then return a:call("GET", "/x", { delay = 0.3 }) end
  assert(a:list_accounts())
  return pcall(coroutine.wrap(function() return a:disable_accounts { "a", "b", "c" } end))
end)
]] .. REPORT)
    assert_clean(status, output)
    assert_items(output, lines, 2)
  end)

  it("a map started from a progress callback", function()
    local status, output, lines = run_child([[
local api = client("ok~progress_map")
local results, errs = api:map({ 1, 2, 3 }, function(a, i) return a:call("GET", "/x", { delay = 0.1 * i }) end, {
  progress = function()
    local r, e = api:map({ 1 }, function(b) return b:call("GET", "/y", { delay = 0.15 }) end)
    assert(r[1] or e[1])
  end })
]] .. REPORT)
    assert_clean(status, output)
    assert_items(output, lines, 3)
  end)

  it("a split batch started from a progress callback", function()
    local status, output, lines = run_child([[
local api = client("ok=0.15~progress_batch", { batch_size = 2 })
local results, errs = api:map({ 1, 2, 3 }, function(a, i) return a:call("GET", "/x", { delay = 0.1 * i }) end, {
  progress = function() api:disable_accounts { "a", "b", "c" } end })
]] .. REPORT)
    assert_clean(status, output)
    assert_items(output, lines, 3)
  end)

  it("a call in a coroutine of the map function's own works", function()
    local status, output, lines = run_child([[
local api = client("ok=0.05~own")
local results, errs = api:map({ 1, 2, 3 }, function(a)
  return coroutine.wrap(function() return a:list_accounts() end)()
end)
for i = 1, 3 do assert(results[i], errs[i]) end
]] .. REPORT)
    assert_clean(status, output)
    assert.equal(0, status, output)
    assert_items(output, lines, 3)
  end)

  it("a map or a split batch inside a map function works", function()
    local status, output, lines = run_child([[
local api = client("ok=0.05~inner", { batch_size = 2 })
local results, errs = api:map({ 1, 2 }, function(a, i)
  if i == 1 then
    local r, e = a:map({ 1, 2 }, function(b) return b:list_accounts() end)
    return r[1] and r[2] and true, e[1] or e[2]
  end
  return a:disable_accounts { "a", "b", "c" }
end)
for i = 1, 2 do assert(results[i] == true, errs[i]) end
]] .. REPORT)
    assert_clean(status, output)
    assert.equal(0, status, output)
    assert_items(output, lines, 2)
  end)

  it("a call that yields across a C boundary leaves no orphaned transfer behind", function()
    local status, output = run_child([[
local api = client("ok=0.05~sort")
local _, errs = api:map({ 1 }, function(a)
  table.sort({ 2, 1 }, function(x, y) a:list_accounts() return x < y end)
end)
print("first", errs[1])
local results
results, errs = api:map({ 1, 2 }, function(a) return a:list_accounts() end)
for i = 1, 2 do assert(results[i], errs[i]) end
assert(api:list_accounts())
print("returned")
]])
    assert_clean(status, output)
    -- the call either works (it blocks where it cannot yield) or errs clearly
    assert.is_truthy(output:find("first\tnil\n", 1, true) or output:find("first\t[^\n]*yield across"), output)
    assert.equal(0, status, output)
    assert.matches("returned", output)
  end)
end)

-- ---------------------------------------------------------------------
describe("more of HTTP", function()
  local function add(api)
    return api:add_accounts { "u1:p1" }
  end

  for _, mode in ipairs { "not_http", "bad_status", "http10=cut", "bad_chunk" } do
    it(mode .. ": an error, and add_accounts is sent once and may be applied", function()
      local api, segment = server:client(mode)
      local list, err = api:list_accounts()
      assert.is_nil(list)
      assert_error(err)
      assert.is_true(err.kind == "protocol" or err.kind == "network", tostring(err))
      local before = server:count(segment)
      local ok, err2 = add(api)
      assert.is_nil(ok)
      assert_error(err2)
      assert.is_true(err2.maybe_applied)
      assert.equal(before + 1, server:count(segment))
    end)
  end

  it("HTTP/1.0 without a length: the body ends at the close", function()
    local api = server:client("http10")
    assert.same({}, assert(api:list_accounts()))
    assert.is_true(assert(add(api)))
  end)

  it("two Content-Length headers that disagree are a protocol error", function()
    local api, segment = server:client("two_lengths")
    local list, err = api:list_accounts()
    assert.is_nil(list)
    assert_error(err, "protocol")
    local ok, err2 = add(api)
    assert.is_nil(ok)
    assert_error(err2, "protocol")
    assert.is_true(err2.maybe_applied)
    assert.equal(2, server:count(segment))
  end)

  it("a Content-Length that is not a length, or beyond max_response_bytes, is a protocol error", function()
    for _, value in ipairs { "-1", "abc", "99999999999999999999", "100000000" } do
      local api, segment = server:client("length=" .. value, { max_response_bytes = 1000 * 1000 })
      local list, err = api:list_accounts()
      assert.is_nil(list, value)
      assert_error(err, "protocol")
      assert.equal(1, server:count(segment), value)
    end
  end)

  it("a Content-Length larger than the body, then a close: network; reads retried, writes not", function()
    local api, segment = server:client("short_body")
    local list, err = api:list_accounts()
    assert.is_nil(list)
    assert_error(err, "network")
    assert.equal(3, server:count(segment))
    local ok, err2 = add(api)
    assert.is_nil(ok)
    assert_error(err2, "network")
    assert.is_true(err2.maybe_applied)
    assert.equal(4, server:count(segment))
  end)

  it("a reset: network; reads retried, add_accounts sent once", function()
    local api, segment = server:client("reset")
    local _, err = api:list_accounts()
    assert_error(err, "network")
    assert.equal(3, err.attempts)
    local _, err2 = add(api)
    assert_error(err2, "network")
    assert.is_true(err2.maybe_applied)
    assert.equal(4, server:count(segment))
  end)

  it("a reply to a POST sent before its body was read is taken", function()
    local api, segment = server:client("early")
    assert.is_true(assert(add(api)))
    assert.equal(1, server:count(segment))
  end)

  it("a refusal sent before the body was read, then a close: add_accounts is not re-sent", function()
    local api, segment = server:client("early_close")
    local ok, err = add(api)
    assert.is_nil(ok)
    assert_error(err)
    assert.is_true(err.status == 413 or err.maybe_applied == true, tostring(err))
    assert.equal(1, server:count(segment))
  end)

  it("redirects are never followed, and the Location (with the key) is not shown", function()
    local api = server:client("redirect")
    local list, err = api:list_accounts()
    assert.is_nil(list)
    assert_error(err, "http")
    assert.equal(302, err.status)
    for _, text in ipairs(support.texts_of(err)) do
      assert.is_false(support.leaks(text, KEY), text)
    end
    local post = server:client("redirect=307")
    local ok, err2 = add(post)
    assert.is_nil(ok)
    assert_error(err2, "http")
    assert.equal(307, err2.status)
    assert.equal(0, server:count("ok~redirected"))
  end)

  it("a server that closes after every reply: each add_accounts is sent exactly once", function()
    local api, segment = server:client("close_after")
    for _ = 1, 3 do
      assert(api:list_accounts())
      assert(add(api))
    end
    assert.equal(3, #requests(segment, "POST", "/add"))
    assert.equal(3, #requests(segment, "GET", "/list"))
  end)

  it("keep-alive connections that die under the client: add_accounts is never re-sent", function()
    local api, segment = server:client("close_second")
    for _ = 1, 3 do
      assert(api:list_accounts())
    end
    for _ = 1, 4 do
      assert(add(api))
    end
    assert(api:delete_accounts { "u1" })
    assert(api:delete_accounts { "u2" })
    local results, errs = api:map({ 1, 2, 3, 4, 5, 6 }, function(a) return add(a) end, { concurrency = 3 })
    assert.same({}, errs)
    assert.equal(6, results.n)
    assert.equal(10, #requests(segment, "POST", "/add"))
    assert.equal(2, #requests(segment, "POST", "/delete"))
  end)

  it("a second response smuggled after the first is never taken as the next reply", function()
    local api = server:client("smuggle")
    for _ = 1, 4 do
      assert.same({}, assert(api:list_accounts()))
    end
  end)
end)
