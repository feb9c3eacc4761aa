-- Bad input at every door: every method of the client in every argument
-- position, the options of proxyapi.new, the environment, and pxlua's flags
-- and script paths, each fed the same list of wrong values. A refused value
-- raises `bad argument #n to 'method' (...)` naming what is wrong, before
-- anything is sent (the fake's log stays empty and its state unchanged).
-- Values that the contract allows in a position are listed as accepted,
-- with what they do. The rules one by one are in args_spec.lua; this is the
-- sweep.
local helper = require "helper"
local proxyapi = require "proxyapi"
local socket = require "socket"

local format, rep, quote = string.format, string.rep, helper.quote

local HUGE = rep("a", 1024 * 1024) -- 1 MB, letters only

--- A table that pretends to be an array through __index and __len.
local function array_proxy(items)
  return setmetatable({}, {
    __index = function(_, i)
      return items[i]
    end,
    __len = function()
      return #items
    end,
  })
end

--- The values tried everywhere, as {label, value}; a slot may add values
-- of its own (out-of-range numbers, door-specific strings) and give the
-- items its array-like proxy pretends to hold.
local function values_for(slot)
  local list = {
    { "true", true },
    { "false", false },
    { "a function", function() end },
    { "userdata (io.stdout)", io.stdout },
    { "a coroutine", coroutine.create(function() end) },
    { "a number (42)", 42 },
    { "an empty table", {} },
    { "NaN", 0 / 0 },
    { "math.huge", math.huge },
    { "-math.huge", -math.huge },
    { "math.mininteger", math.mininteger },
    { "math.maxinteger", math.maxinteger },
    { "invalid UTF-8", "\255\254" },
    { "a 1 MB string", HUGE },
    { "an embedded NUL", "ab\0cd" },
    { "a nested table", { { "x" } } },
    { "an array-like proxy", array_proxy(slot.proxy or { "seoteam", "crawler" }) },
  }
  for _, v in ipairs(slot.range or {}) do
    list[#list + 1] = { "out of range " .. tostring(v), v }
  end
  for _, v in ipairs(slot.extra or {}) do
    list[#list + 1] = v
  end
  return list
end

--- The text of a value for the README table.
local function show(v)
  if type(v) == "string" then
    if #v > 40 then
      return format("%d-byte string", #v)
    end
    return (format("%q", v):gsub("\\\n", "\\n"))
  end
  return tostring(v)
end

describe("bad input", function()
  local fake, api, initial
  local port = helper.refused_port()
  local REFUSED_PROXY = "127.0.0.1:" .. port
  local REFUSED_URL = "http://127.0.0.1:" .. port .. "/"

  lazy_setup(function()
    fake = helper.start_fake()
    api = fake:client { retries = 0 }
    initial = fake:accounts()
  end)

  lazy_teardown(function()
    api:close()
    fake:stop()
  end)

  --- Asserts that fn raises `bad argument #n to 'fname' (...)`, naming
  -- one of `mentions`, short and printable, with nothing sent or changed.
  local function refuses(fname, n, mentions, fn)
    fake:clear_log()
    local ok, msg = pcall(fn)
    if ok then
      fake:reset() -- what it changed must not spill into the next test
    end
    assert.is_false(ok, "accepted")
    assert.is_string(msg, "raised a " .. type(msg))
    -- what a failure shows of the message: short, control characters escaped
    local shown = (#msg > 200 and msg:sub(1, 200) .. "..." or msg):gsub("%c", function(c)
      return format("\\%d", c:byte())
    end)
    local prefix = format("bad argument #%d to '%s' (", n, fname)
    assert.equal(prefix, msg:sub(1, #prefix), shown)
    assert.equal(")", msg:sub(-1), shown)
    local named = false
    for _, word in ipairs(type(mentions) == "table" and mentions or { mentions }) do
      named = named or msg:find(word, 1, true) ~= nil
    end
    assert.is_true(named, format("does not name %s: %s", table.concat(
      type(mentions) == "table" and mentions or { mentions }, " or "), shown))
    assert.is_true(#msg < 300, "a message of " .. #msg .. " bytes: " .. shown)
    assert.is_nil(msg:find("[%z\n\r]"), "a control character in the message: " .. shown)
    assert.same({}, fake:log())
    assert.same(initial, fake:accounts())
    return msg
  end

  -- -------------------------------------------------------------------
  -- Every method, every argument position

  -- A slot: one argument position (or one option field) of one method.
  -- call(v) makes the call with v there; mention: what the message must
  -- name; accept: label -> function(ok, a, b) for the values the contract
  -- allows there (checking what they did). Anything not accepted must be
  -- refused.

  --- The one request the fake got, with a check that nothing else went.
  local function one_request()
    local log = fake:log()
    assert.equal(1, #log)
    return log[1]
  end

  local function sent(field, expected)
    return function()
      local req = one_request()
      assert.equal(expected, req.params[field])
    end
  end

  local function sent_huge(field)
    return function()
      local req = one_request()
      assert.equal(#HUGE, #req.params[field])
    end
  end

  --- For an empty options table or a proxy without keys: sent with no
  -- optional parameter.
  local function sent_without_options()
    local req = one_request()
    for k in pairs(req.params) do
      assert.is_true(k == "accounts" or k == "page", "sent " .. k)
    end
  end

  --- A GET with a 1 MB parameter: the fake refuses the request head
  -- (64 KB at most) before logging it; the caller gets nil, err.
  local function huge_query(_, a, b)
    assert.is_nil(a)
    assert.is_true(proxyapi.is_error(b))
    assert.same({}, fake:log())
  end

  local function returns_iterator(ok, a)
    assert.is_true(ok)
    assert.is_function(a)
    assert.same({}, fake:log()) -- an iterator asks for nothing before it is called
  end

  local function no_request()
    assert.same({}, fake:log())
  end

  local SLOTS = {}

  local function slot(s)
    SLOTS[#SLOTS + 1] = s
  end

  --- The slots of an options table at argument n of fname: the table
  -- itself and each field.
  local function options(fname, n, call, fields, accept_empty, base)
    slot { fname = fname, n = n, what = "options table", mention = "option", call = call,
           extra = { { "an unknown field", { bogus = 1 } } },
           accept = { ["an empty table"] = accept_empty, ["an array-like proxy"] = accept_empty } }
    for _, f in ipairs(fields) do
      local field = f[1]
      local s = f[2] or {}
      s.fname, s.n, s.what = fname, n, "option " .. field
      s.mention = s.mention or field
      local field_base = s.base
      s.call = function(v)
        local o = {}
        for k, bv in pairs(base or {}) do
          o[k] = bv
        end
        for k, bv in pairs(field_base or {}) do
          o[k] = bv
        end
        o[field] = v
        return call(o)
      end
      slot(s)
    end
  end

  -- account names, and the lists of them
  local NAME = "seoteam"
  local NAME_ACCEPTS = { ["a 1 MB string"] = sent_huge("account") }
  --- A slot of free text (codes, names, order numbers): at most 256 bytes.
  local function text(s)
    s = s or {}
    s.extra = { { "a 300-byte string", rep("x", 300) }, { "an empty string", "" } }
    return s
  end

  -- add_accounts
  slot { fname = "add_accounts", n = 1, what = "accounts", mention = "account",
         call = function(v) return api:add_accounts(v) end,
         proxy = { "px1:pw1", "px2:pw2" },
         accept = { ["an array-like proxy"] = sent("accounts", "px1:pw1,px2:pw2") } }
  slot { fname = "add_accounts", n = 1, what = "accounts[1]", mention = "account",
         call = function(v) return api:add_accounts { v } end }
  slot { fname = "add_accounts", n = 1, what = "accounts[1].username", mention = "account",
         call = function(v) return api:add_accounts { { username = v, password = "pw1" } } end,
         accept = { ["a 1 MB string"] = function()
           assert.equal(#HUGE + 4, #one_request().params.accounts)
         end } }
  slot { fname = "add_accounts", n = 1, what = "accounts[1].password", mention = "password",
         call = function(v) return api:add_accounts { { username = "badin1", password = v } } end,
         accept = { ["a 1 MB string"] = function()
           assert.equal(#HUGE + 7, #one_request().params.accounts)
         end } }
  local function add_with(o)
    return api:add_accounts({ "badin2:pw2" }, o)
  end
  options("add_accounts", 2, add_with, {
    { "remark" },
    { "product_type", { range = { 0, 10, 9.5 } } },
  }, sent_without_options)

  -- delete, disable, enable
  for _, fname in ipairs { "delete_accounts", "disable_accounts", "enable_accounts" } do
    slot { fname = fname, n = 1, what = "names", mention = "account",
           call = function(v) return api[fname](api, v) end,
           accept = { ["a 1 MB string"] = sent_huge("accounts"),
                      ["an array-like proxy"] = sent("accounts", "seoteam,crawler") } }
    slot { fname = fname, n = 1, what = "names[2]", mention = "account",
           call = function(v) return api[fname](api, { NAME, v }) end,
           accept = { ["a 1 MB string"] = function()
             assert.equal(#HUGE + #NAME + 1, #one_request().params.accounts)
           end } }
  end

  -- change_*
  for _, case in ipairs {
    { "change_password", "password", "pw9", { "password" }, { ["a 1 MB string"] = sent_huge("password") } },
    { "change_remark", "remark", "note", { "remark" }, {} },
    { "change_limit", "gb", 5, { "limit" }, { ["a number (42)"] = sent("limit", 42) }, { -1, 102401, 1.5 } },
  } do
    local fname, what, good, mention, accept, range = case[1], case[2], case[3], case[4], case[5], case[6]
    slot { fname = fname, n = 1, what = "name", mention = "account",
           call = function(v) return api[fname](api, v, good) end, accept = NAME_ACCEPTS }
    slot { fname = fname, n = 2, what = what, mention = mention,
           call = function(v) return api[fname](api, NAME, v) end, accept = accept, range = range }
  end

  -- usage_flow
  options("usage_flow", 1, function(o) return api:usage_flow(o) end, {
    -- an integer is an epoch: 42 is 1970-01-01, in the process's time zone
    { "start_time", { accept = { ["a number (42)"] = function() assert.is_string(one_request().params.start_time) end },
                      extra = { { "a date that does not exist", "2023-02-29 00:00:00" } } } },
    { "end_time", { accept = { ["a number (42)"] = function() assert.is_string(one_request().params.end_time) end } } },
    -- check.name's messages say "account", not the option's name
    { "username", { mention = "account", accept = { ["a 1 MB string"] = huge_query } } },
    { "product_type", { range = { 0, 10 } } },
  }, sent_without_options)

  -- list_products, each_product
  local PAGE_ACCEPTS = { ["math.maxinteger"] = sent("page", tostring(math.maxinteger)),
                         ["a number (42)"] = sent("page", "42") }
  local SIZE_ACCEPTS = { ["math.maxinteger"] = sent("size", tostring(math.maxinteger)),
                         ["a number (42)"] = sent("size", "42") }
  local ITERATOR_ACCEPTS = { ["math.maxinteger"] = returns_iterator, ["a number (42)"] = returns_iterator }
  options("list_products", 1, function(o) return api:list_products(o) end, {
    { "trade_no", text() },
    { "page", { range = { 0, -1, 1.5 }, accept = PAGE_ACCEPTS } },
    { "size", { range = { 0, -1, 1.5 }, accept = SIZE_ACCEPTS } },
    { "product_type", { range = { 0, 10 } } },
  }, sent_without_options)
  options("each_product", 1, function(o) return api:each_product(o) end, {
    { "trade_no", text() },
    { "page", { range = { 0, -1, 1.5 }, accept = ITERATOR_ACCEPTS } },
    { "size", { range = { 0, -1, 1.5 }, accept = ITERATOR_ACCEPTS } },
    { "product_type", { range = { 0, 10 } } },
  }, returns_iterator)

  -- extract_ips
  options("extract_ips", 1, function(o) return api:extract_ips(o) end, {
    { "cc", text() }, { "state", text() }, { "city", text() },
    { "num", { range = { 0, -1, 1.5 }, accept = { ["math.maxinteger"] = sent("num", tostring(math.maxinteger)),
                                               ["a number (42)"] = sent("num", "42") } } },
    { "life", { range = { 0, -1, 1.5 }, accept = { ["math.maxinteger"] = sent("life", tostring(math.maxinteger)),
                                                ["a number (42)"] = sent("life", "42") } } },
    { "ep", text() }, { "format", text() },
    -- lb is a literal separator of 1..16 bytes: any bytes but NUL
    { "lb", { extra = { { "an empty string", "" }, { "a 17-byte string", rep(",", 17) } },
              accept = { ["invalid UTF-8"] = sent("lb", "\255\254") } } },
  }, sent_without_options)

  -- search_cities, search_states
  slot(text { fname = "search_cities", n = 1, what = "country_code", mention = "country_code",
              call = function(v) return api:search_cities(v, "CA") end })
  slot(text { fname = "search_cities", n = 2, what = "state", mention = "state",
              call = function(v) return api:search_cities("US", v) end })
  slot(text { fname = "search_states", n = 1, what = "country_code", mention = "country_code",
              call = function(v) return api:search_states(v) end })

  -- list_static_ips, each_static_ip
  for _, fname in ipairs { "list_static_ips", "each_static_ip" } do
    local iterator = fname == "each_static_ip"
    options(fname, 1, function(o) return api[fname](api, o) end, {
      { "country_code", text() },
      { "product_type", { range = { 9, 11, 0 } } },
      { "trade_no", text() },
      { "page", { range = { 0, -1, 1.5 }, accept = iterator and ITERATOR_ACCEPTS or PAGE_ACCEPTS } },
      { "size", { range = { 0, -1, 1.5 }, accept = iterator and ITERATOR_ACCEPTS or SIZE_ACCEPTS } },
      { "status", { range = { 0, 5 } } },
    }, iterator and returns_iterator or sent_without_options)
  end

  -- call: the escape hatch sends parameter values as given
  local STATES = "/openapi/ip/dynamic-states"
  slot { fname = "call", n = 1, what = "method", mention = "GET",
         extra = { { "\"DELETE\"", "DELETE" }, { "\"GET \"", "GET " } },
         call = function(v) return api:call(v, STATES) end }
  slot { fname = "call", n = 2, what = "path", mention = "path",
         extra = { { "a path with a NUL", STATES .. "\0x" }, { "a path with invalid UTF-8", "/\255\254" },
                   { "a path with a newline", STATES .. "\n" } },
         call = function(v) return api:call("GET", v) end,
         -- libcurl percent-encodes the bytes; the fake answers 404
         accept = { ["a path with invalid UTF-8"] = function(_, a, b)
           assert.is_nil(a)
           assert.equal(404, b.status)
           assert.equal("/%ff%fe", one_request().path)
         end } }
  slot { fname = "call", n = 3, what = "params", mention = "param",
         call = function(v) return api:call("GET", STATES, v) end,
         accept = { ["an empty table"] = sent_without_options, ["an array-like proxy"] = sent_without_options } }
  local function call_value(method, path, v)
    local params = { x = v }
    if method == "POST" then
      params.account, params.remark = NAME, "note"
    end
    return api:call(method, path, params)
  end
  local GET_VALUES = {
    ["true"] = sent("x", "true"), ["false"] = sent("x", "false"), ["a number (42)"] = sent("x", "42"),
    ["math.mininteger"] = sent("x", tostring(math.mininteger)),
    ["math.maxinteger"] = sent("x", tostring(math.maxinteger)),
    ["invalid UTF-8"] = sent("x", "\255\254"), ["an embedded NUL"] = sent("x", "ab\0cd"),
    ["a 1 MB string"] = huge_query,
  }
  slot { fname = "call", n = 3, what = "params.x (GET)", mention = "params.x", accept = GET_VALUES,
         call = function(v) return call_value("GET", STATES, v) end }
  local POST_VALUES = {}
  for k, v in pairs(GET_VALUES) do
    POST_VALUES[k] = v
  end
  POST_VALUES["true"], POST_VALUES["false"], POST_VALUES["a number (42)"] = sent("x", true), sent("x", false),
    sent("x", 42)
  --- The JSON body holds "x":<json>, exactly.
  local function body_has(json)
    return function()
      local wire = one_request().wire
      local pattern = ('"x":' .. json):gsub("%p", "%%%0") .. "[,}]"
      assert.is_truthy(wire:find(pattern), "sent " .. wire:sub(1, 200))
    end
  end
  -- the contract (README): numbers go on the wire as integers, in JSON bodies too, exactly
  POST_VALUES["math.mininteger"] = body_has(tostring(math.mininteger))
  POST_VALUES["math.maxinteger"] = body_has(tostring(math.maxinteger))
  POST_VALUES["a 15-digit integer"] = body_has("123456789012345")
  POST_VALUES["a 14-digit integer"] = body_has("12345678901234")
  POST_VALUES["a 1 MB string"] = sent_huge("x")
  -- plain tables go into the JSON body as they are; cjson reads tables raw,
  -- so one with a metatable (the array-like proxy) is refused
  POST_VALUES["an empty table"] = body_has("{}")
  POST_VALUES["a nested table"] = body_has('[["x"]]')
  slot { fname = "call", n = 3, what = "params.x (POST)", mention = "params.x", accept = POST_VALUES,
         extra = { { "a 15-digit integer", 123456789012345 }, { "a 14-digit integer", 12345678901234 } },
         call = function(v) return call_value("POST", "/openapi/whitelist-account/change-remark", v) end }

  -- map
  local function mapped(ok, results, errs)
    assert.is_true(ok)
    assert.is_table(results)
    assert.is_table(errs)
    no_request()
  end
  slot { fname = "map", n = 1, what = "items", mention = "array",
         call = function(v) return api:map(v, function() return true end) end,
         accept = { ["an empty table"] = mapped, ["a nested table"] = mapped, ["an array-like proxy"] = mapped } }
  slot { fname = "map", n = 2, what = "fn", mention = "function",
         extra = { { "a callable table", setmetatable({}, { __call = function() return true end }) } },
         call = function(v) return api:map({ 1 }, v) end, accept = { ["a function"] = mapped } }
  options("map", 3, function(o) return api:map({ 1 }, function() return true end, o) end, {
    { "concurrency", { range = { 0, -1, 1.5 },
                       accept = { ["math.maxinteger"] = mapped, ["a number (42)"] = mapped } } },
    { "progress", { accept = { ["a function"] = mapped } } },
  }, mapped)

  -- check_proxies: through a proxy port nobody listens on, so that an
  -- accepted value never reaches the network
  local function checked(ok, results)
    assert.is_true(ok)
    assert.is_table(results)
    no_request()
  end
  slot { fname = "check_proxies", n = 1, what = "addrs", mention = "prox",
         call = function(v) return api:check_proxies(v, { url = REFUSED_URL, timeout = 1 }) end,
         accept = { ["an empty table"] = checked } }
  slot { fname = "check_proxies", n = 1, what = "addrs[1]", mention = "proxy #1",
         call = function(v) return api:check_proxies({ v }, { url = REFUSED_URL, timeout = 1 }) end }
  local CREDENTIALS = { ["a 1 MB string"] = checked, ["invalid UTF-8"] = checked }
  options("check_proxies", 2, function(o) return api:check_proxies({ REFUSED_PROXY }, o) end, {
    { "url", { extra = { { "ftp://x", "ftp://x" }, { "a URL with a space", "http://a b/" } } } },
    { "timeout", { range = { 0, -1, 1e6 }, accept = { ["a number (42)"] = checked } } },
    { "username", { accept = CREDENTIALS } },
    { "password", { accept = CREDENTIALS, base = { username = "u" } } },
    { "scheme", { extra = { { "ftp", "ftp" } } } },
    { "concurrency", { range = { 0, 1.5 }, accept = { ["math.maxinteger"] = checked, ["a number (42)"] = checked } } },
  }, checked, { url = REFUSED_URL, timeout = 1 })

  for _, s in ipairs(SLOTS) do
    describe(format("%s #%d (%s)", s.fname, s.n, s.what), function()
      for _, case in ipairs(values_for(s)) do
        local label, value = case[1], case[2]
        local accept = s.accept and s.accept[label]
        if accept then
          it("accepts " .. label, function()
            finally(function() fake:reset() end) -- what it changed must not spill over
            fake:clear_log()
            local ok, a, b = pcall(s.call, value)
            assert.is_true(ok, tostring(a))
            accept(ok, a, b)
          end)
        else
          it("refuses " .. label, function()
            refuses(s.fname, s.n, s.mention, function() return s.call(value) end)
          end)
        end
      end
    end)
  end

  describe("methods without arguments", function()
    -- they ignore extra arguments, and send the plain request
    for _, case in ipairs {
      { "list_accounts", "/openapi/whitelist-account/list" },
      { "list_cities", "/openapi/ip/dynamic-citys" },
      { "list_states", "/openapi/ip/dynamic-states" },
    } do
      local fname, path = case[1], case[2]
      it(fname .. " ignores extra arguments and sends no parameter", function()
        for _, extra in ipairs { true, "x", 42, 0 / 0, { bogus = 1 }, io.stdout, "ab\0cd" } do
          fake:clear_log()
          local result, err = api[fname](api, extra, extra)
          assert.is_table(result, tostring(err))
          local req = one_request()
          assert.equal(path, req.path)
          assert.equal("GET", req.method)
          assert.same({}, req.params)
          assert.equal("app_key=***", req.wire)
        end
      end)
    end

    it("every method ignores arguments after the last it takes", function()
      fake:clear_log()
      assert.is_true(api:change_limit(NAME, 5, "extra", true))
      assert.same({ account = NAME, limit = 5 }, one_request().params)
      fake:reset()
      assert.is_table(api:search_states("US", { bogus = 1 }))
      assert.same({ country_code = "US" }, one_request().params)
    end)
  end)

  describe("a bad self", function()
    local Client = getmetatable(api).__index
    for _, fname in ipairs { "list_accounts", "add_accounts", "delete_accounts", "disable_accounts",
      "enable_accounts", "change_password", "change_remark", "change_limit", "usage_flow", "list_products",
      "each_product", "extract_ips", "list_cities", "search_cities", "list_states", "search_states",
      "list_static_ips", "each_static_ip", "call", "map", "check_proxies" } do
      it(fname .. " called with a dot or on another value names the method", function()
        for _, self in ipairs { false, "x", {}, io.stdout } do
          fake:clear_log()
          local ok, msg = pcall(Client[fname], self)
          assert.is_false(ok)
          assert.matches("calling '" .. fname .. "' on bad self", msg, 1, true)
          assert.same({}, fake:log())
        end
      end)
    end
  end)

  -- -------------------------------------------------------------------
  -- proxyapi.new

  describe("proxyapi.new", function()
    local function settings(name, v)
      local o = { app_key = fake.app_key, base_url = fake.base_url, proxy = false }
      o[name] = v
      return o
    end

    local function made(ok, c)
      assert.is_true(ok)
      assert.equal("proxyapi.Client", getmetatable(c).__name)
      c:close()
    end

    --- A client made with the value, which must then work.
    local function works(ok, c)
      assert.is_true(ok)
      local list, err = c:list_accounts()
      c:close()
      assert.is_table(list, tostring(err))
    end

    local SECONDS = { range = { 0, -1 }, accept = { ["a number (42)"] = works, ["math.maxinteger"] = works } }
    local DELAY = { range = { -1, -0.5 }, accept = { ["a number (42)"] = works, ["math.maxinteger"] = works } }
    local COUNT0 = { range = { -1, 1.5 }, accept = { ["a number (42)"] = works, ["math.maxinteger"] = works } }
    local COUNT1 = { range = { 0, -1, 1.5 }, accept = { ["a number (42)"] = works, ["math.maxinteger"] = works } }
    local FUNCTION = { accept = { ["a function"] = works } }
    local OPTIONS = {
      { "app_key", { extra = { { "an empty string", "" }, { "\"a b\"", "a b" }, { "\"k\\n\"", "k\n" },
                               { "\"k\\0k\"", "k\0k" }, { "a 1 MB key", rep("k", 1024 * 1024) } } } },
      { "base_url", { extra = {
        { "an empty string", "" }, { "ftp://x", "ftp://x" }, { "http://", "http://" },
        { "http://user:pw@127.0.0.1", "http://user:pw@127.0.0.1" },
        { "http://127.0.0.1/a?b=c", "http://127.0.0.1/a?b=c" },
        { "http://127.0.0.1 /x", "http://127.0.0.1 /x" },
        { "http://example.com (plain http to a public host)", "http://example.com" },
        { "a NUL in the host", "http://127.0.0.1\0x" },
      } } },
      { "prefix", {} },
      { "paths", { accept = { ["an empty table"] = works, ["an array-like proxy"] = works } } },
      { "timeout", SECONDS }, { "connect_timeout", SECONDS },
      { "retries", COUNT0 }, { "retry_backoff", DELAY }, { "retry_max_wait", DELAY },
      { "concurrency", COUNT1 }, { "batch_size", COUNT1 },
      -- 42 bytes is too few for any reply, but a valid setting
      { "max_response_bytes", { range = COUNT1.range,
                                accept = { ["a number (42)"] = made, ["math.maxinteger"] = works } } },
      { "proxy", { accept = { ["false"] = works },
                   extra = { { "no port", "http://127.0.0.1" }, { "ftp://h:1", "ftp://h:1" } } } },
      { "dry_run", { accept = { ["true"] = made, ["false"] = works, ["a function"] = made } } },
      { "ca_file", { extra = { { "a missing file", "/nonexistent/ca.pem" } } } },
      { "insecure", { accept = { ["true"] = made, ["false"] = works } } },
      { "on_request", FUNCTION }, { "progress", FUNCTION },
    }
    for _, option in ipairs(OPTIONS) do
      local name, s = option[1], option[2]
      describe(name, function()
        for _, case in ipairs(values_for(s)) do
          local label, value = case[1], case[2]
          local accept = s.accept and s.accept[label]
          if accept then
            it("accepts " .. label, function()
              local ok, c = pcall(proxyapi.new, settings(name, value))
              accept(ok, c)
            end)
          else
            it("refuses " .. label, function()
              refuses("new", 1, name, function() return proxyapi.new(settings(name, value)) end)
            end)
          end
        end
      end)
    end

    describe("the options table", function()
      local no_env = os.getenv("PROXYAPI_APP_KEY") == nil
      for _, case in ipairs(values_for {}) do
        local label, value = case[1], case[2]
        it("refuses " .. label .. " in place of the options table", function()
          if not no_env and type(value) == "table" then
            pending("PROXYAPI_APP_KEY is set in this environment")
          end
          refuses("new", 1, { "option", "app_key" }, function() return proxyapi.new(value) end)
        end)
      end
      it("refuses an unknown field, naming it", function()
        local msg = refuses("new", 1, "bogus", function()
          return proxyapi.new { app_key = "k", base_url = fake.base_url, bogus = 1 }
        end)
        assert.equal("bad argument #1 to 'new' (unknown option 'bogus')", msg)
      end)
    end)

    -- the values where the contract (README) says "raise at new" and the code waits, or
    -- sends something else than it was given
    describe("values that look right but are not", function()
      it("base_url https://[::1]:99999 (a port out of range) raises at new", function()
        refuses("new", 1, "base_url", function() return proxyapi.new(settings("base_url", "https://[::1]:99999")) end)
      end)

      it("base_url with a port that is not a number raises at new", function()
        refuses("new", 1, "base_url", function() return proxyapi.new(settings("base_url", "http://127.0.0.1:abc")) end)
      end)

      it("base_url with a NUL in its path raises at new (libcurl would cut the URL there)", function()
        refuses("new", 1, "base_url", function()
          return proxyapi.new(settings("base_url", fake.base_url .. "/a\0b"))
        end)
      end)

      it("a path override with a NUL raises at new (libcurl would cut the URL there)", function()
        refuses("new", 1, "paths", function()
          return proxyapi.new(settings("paths", { list_accounts = "/openapi/whitelist-account/list\0x" }))
        end)
      end)

      it("a 1 MB base_url: new accepts it (no limit in the contract (README)); a call fails with nil, err", function()
        local c = proxyapi.new(settings("base_url", fake.base_url .. "/" .. HUGE))
        fake:clear_log()
        local ok, err = c:list_accounts()
        c:close()
        assert.is_nil(ok)
        assert.is_true(proxyapi.is_error(err))
        assert.same({}, fake:log()) -- the fake refuses a 1 MB request head unread
      end)

      it("ca_file that is a directory raises at new", function()
        refuses("new", 1, "ca_file", function() return proxyapi.new(settings("ca_file", "/tmp")) end)
      end)

      it("ca_file with a NUL raises at new (the C side would open another file)", function()
        local file = helper.tempfile("not a certificate\n")
        local ok, msg = pcall(proxyapi.new, settings("ca_file", file .. "\0.pem"))
        os.remove(file)
        assert.is_false(ok, "accepted")
        assert.matches("ca_file", msg, 1, true)
      end)

      it("a non-string app_key or base_url is reported as the wrong type, not as missing", function()
        for _, name in ipairs { "app_key", "base_url" } do
          for _, v in ipairs { 42, true, {} } do
            local msg = refuses("new", 1, name, function() return proxyapi.new(settings(name, v)) end)
            assert.not_matches("is required", msg, 1, true)
          end
        end
      end)

      it("timeout = 0.0001 (positive, as the contract (README) asks) still bounds an attempt", function()
        local ok, c = pcall(proxyapi.new, settings("timeout", 0.0001))
        if not ok then
          assert.matches("timeout", c, 1, true) -- refusing it is fine too
          return
        end
        fake:fault { path = "/openapi/whitelist-account/list", delay = 1, times = -1 }
        local started = socket.gettime()
        local list, err = c:list_accounts()
        local took = socket.gettime() - started
        c:close()
        fake:clear_faults()
        assert.is_nil(list, "no timeout: the call waited for the slow reply")
        assert.equal("timeout", err.kind)
        assert.is_true(took < 0.9, format("took %.2f s", took))
      end)
    end)
  end)

  -- -------------------------------------------------------------------
  -- The environment

  describe("environment", function()
    local LUA = "env -u PROXYAPI_APP_KEY -u PROXYAPI_BASE_URL -u LUA_INIT -u LUA_INIT_5_4"
      .. " LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='build/?.so;;'"
    local CODE = "local api = require('proxyapi').new { proxy = false } print('made') print(api:list_accounts())"

    --- Runs CODE in a child with the given variables; returns code, out, err.
    local function child(vars)
      local words = {}
      for _, pair in ipairs(vars) do
        words[#words + 1] = pair[1] .. "=" .. quote(pair[2])
      end
      return helper.run(LUA .. " " .. table.concat(words, " ") .. " lua5.4 -e " .. quote(CODE))
    end

    local CASES = {
      { "PROXYAPI_APP_KEY empty", "PROXYAPI_APP_KEY", "", "app_key is required", "PROXYAPI_APP_KEY" },
      { "PROXYAPI_APP_KEY with a newline", "PROXYAPI_APP_KEY", "key\nkey", "PROXYAPI_APP_KEY: printable" },
      { "PROXYAPI_APP_KEY with a trailing newline", "PROXYAPI_APP_KEY", "key1\n", "PROXYAPI_APP_KEY: printable" },
      { "PROXYAPI_BASE_URL malformed", "PROXYAPI_BASE_URL", "htp:/127.0.0.1",
        "PROXYAPI_BASE_URL: http:// or https://" },
      { "PROXYAPI_BASE_URL empty", "PROXYAPI_BASE_URL", "", "base_url is required", "PROXYAPI_BASE_URL" },
      { "PROXYAPI_BASE_URL plain http to a public host", "PROXYAPI_BASE_URL", "http://example.com",
        "plain http" },
    }
    for _, case in ipairs(CASES) do
      it(case[1] .. ": new raises, exit 1, nothing sent", function()
        local vars = { { "PROXYAPI_APP_KEY", fake.app_key }, { "PROXYAPI_BASE_URL", fake.base_url } }
        for _, pair in ipairs(vars) do
          if pair[1] == case[2] then
            pair[2] = case[3]
          end
        end
        fake:clear_log()
        local code, out, err = child(vars)
        assert.equal(1, code)
        assert.equal("", out)
        assert.matches("bad argument #1 to 'new' (", err, 1, true)
        assert.matches(case[4], err, 1, true)
        if case[5] then
          assert.matches(case[5], err, 1, true)
        end
        assert.same({}, fake:log())
      end)
    end

    it("a well-formed environment works (the harness itself)", function()
      local code, out, err = child { { "PROXYAPI_APP_KEY", fake.app_key }, { "PROXYAPI_BASE_URL", fake.base_url } }
      assert.equal(0, code, err)
      assert.matches("^made\ntable", out)
    end)

    it("a malformed value from the environment is reported with the variable's name", function()
      for _, case in ipairs { { "PROXYAPI_APP_KEY", "key\nkey" }, { "PROXYAPI_BASE_URL", "htp:/127.0.0.1" } } do
        local vars = { { "PROXYAPI_APP_KEY", fake.app_key }, { "PROXYAPI_BASE_URL", fake.base_url } }
        for _, pair in ipairs(vars) do
          if pair[1] == case[1] then
            pair[2] = case[2]
          end
        end
        local code, _, err = child(vars)
        assert.equal(1, code)
        assert.matches(case[1], err, 1, true)
      end
    end)

    it("pxlua: PROXYAPI_APP_KEY with a newline fails on first use of api, exit 2", function()
      fake:clear_log()
      local code, out, err = helper.pxlua("-e " .. quote("print('before') local _ = api print('after')"), "",
        LUA .. " PROXYAPI_APP_KEY=" .. quote("key\nkey") .. " PROXYAPI_BASE_URL=" .. fake.base_url)
      assert.equal(2, code) -- a configuration error
      assert.equal("before\n", out)
      assert.matches("app_key: printable", err, 1, true)
      assert.same({}, fake:log())
    end)
  end)

  -- -------------------------------------------------------------------
  -- pxlua's flags and script paths

  describe("pxlua", function()
    local CLEAN = "env -u PROXYAPI_APP_KEY -u PROXYAPI_BASE_URL -u LUA_INIT -u LUA_INIT_5_4"
    local RUN = " -e " .. quote("print('ran')")
    local dir

    lazy_setup(function()
      dir = os.tmpname()
      os.remove(dir)
      assert(os.execute("mkdir -m 700 " .. quote(dir)))
    end)

    lazy_teardown(function()
      os.execute("chmod -R u+rwx " .. quote(dir) .. " && rm -rf " .. quote(dir))
    end)

    local function px(args, env, stdin)
      return helper.pxlua(args, stdin or "", CLEAN .. " " .. (env or ""))
    end

    local function file(name, contents, mode)
      local path = dir .. "/" .. name
      local f = assert(io.open(path, "w"))
      f:write(contents)
      f:close()
      if mode then
        assert(os.execute("chmod " .. mode .. " " .. quote(path)))
      end
      return path
    end

    local function usage_error(args, expected)
      local code, out, err = px(args)
      assert.equal(2, code)
      assert.equal("", out) -- nothing ran
      assert.matches(expected, err, 1, true)
      assert.matches("usage:", err, 1, true)
    end

    it("an unknown flag: usage error, exit 2", function()
      usage_error("--bogus" .. RUN, "unrecognized option '--bogus'")
      usage_error("--timeout=5" .. RUN, "unrecognized option '--timeout=5'")
    end)

    for _, flag in ipairs { "--timeout", "--base-url", "--app-key-file", "-e", "-l" } do
      it(flag .. " without its operand: usage error, exit 2", function()
        usage_error(flag, "missing operand for '" .. flag .. "'")
      end)
    end

    for _, value in ipairs { "abc", "-1", "0", "1e400", "", "nan", "inf", "5s" } do
      it("--timeout " .. show(value) .. ": usage error naming the value, exit 2", function()
        usage_error("--timeout " .. quote(value) .. RUN, "bad number of seconds for --timeout: '" .. value .. "'")
      end)
    end

    it("--base-url ftp://x: the error comes on first use of api, exit 2", function()
      local code, out, err = px("--base-url ftp://x -e " .. quote("print('before') local _ = api print('after')"),
        "PROXYAPI_APP_KEY=k")
      assert.equal(2, code)
      assert.equal("before\n", out)
      assert.matches("cannot make the global 'api' from the command line and the environment: "
        .. "base_url: http:// or https:// URL expected", err, 1, true)
    end)

    it("--app-key-file with a missing file: exit 2 before the script runs", function()
      local code, out, err = px("--app-key-file " .. quote(dir .. "/none") .. RUN)
      assert.equal(2, code)
      assert.equal("", out)
      assert.matches("cannot open app_key file " .. dir .. "/none: No such file or directory", err, 1, true)
    end)

    it("--app-key-file with a directory says it is a directory", function()
      for _, mode in ipairs { "700", "755" } do
        local sub = dir .. "/keydir" .. mode
        assert(os.execute("mkdir -p -m " .. mode .. " " .. quote(sub)))
        local code, out, err = px("--app-key-file " .. quote(sub) .. RUN)
        assert.equal(2, code)
        assert.equal("", out)
        assert.matches("directory", err, 1, true)
      end
    end)

    it("--app-key-file with an empty file: exit 2, says it is empty", function()
      local path = file("empty.key", "", "600")
      local code, out, err = px("--app-key-file " .. quote(path) .. RUN)
      assert.equal(2, code)
      assert.equal("", out)
      assert.matches("app_key file " .. path .. " is empty", err, 1, true)
    end)

    it("--app-key-file with a 0644 file: exit 2, names chmod 600", function()
      local path = file("open.key", "key1\n", "644")
      local code, out, err = px("--app-key-file " .. quote(path) .. RUN)
      assert.equal(2, code)
      assert.equal("", out)
      assert.matches("can be read by group or others (mode 644)", err, 1, true)
      assert.matches("chmod 600 " .. path, err, 1, true)
    end)

    it("a script that does not exist: exit 1, names it", function()
      local code, out, err = px(quote(dir .. "/none.lua"))
      assert.equal(1, code)
      assert.equal("", out)
      assert.matches("cannot open " .. dir .. "/none.lua", err, 1, true)
    end)

    it("a directory as the script: exit 1, says so", function()
      local code, out, err = px(quote(dir))
      assert.equal(1, code)
      assert.equal("", out)
      assert.matches("cannot read " .. dir, err, 1, true)
      assert.matches("directory", err, 1, true)
    end)

    it("an unreadable script: exit 1, names it", function()
      local path = file("unreadable.lua", "print('ran')\n", "000")
      local f = io.open(path, "r")
      if f then
        f:close()
        pending("running as root: a mode 000 file is still readable")
        return
      end
      local code, out, err = px(quote(path))
      assert.equal(1, code)
      assert.equal("", out)
      assert.matches("cannot open " .. path, err, 1, true)
    end)

    it("a script with a syntax error: exit 1, file and line named", function()
      local path = file("syntax.lua", "print('ran')\nlocal x = = 1\n")
      local code, out, err = px(quote(path))
      assert.equal(1, code)
      assert.equal("", out)
      assert.matches(path .. ":2:", err, 1, true)
      assert.matches("near '='", err, 1, true)
    end)

    it("a script path with spaces and unicode runs", function()
      local sub = dir .. "/a dir é"
      assert(os.execute("mkdir -p " .. quote(sub)))
      local path = sub .. "/script ü 名.lua"
      local f = assert(io.open(path, "w"))
      f:write("print(arg[0], ...)\n")
      f:close()
      local code, out, err = px(quote(path) .. " 'x y' z")
      assert.equal(0, code, err)
      assert.equal(path .. "\tx y\tz\n", out)
    end)

    it("- with empty standard input runs nothing and exits 0", function()
      local code, out, err = px("-", nil, "")
      assert.equal(0, code)
      assert.equal("", out)
      assert.equal("", err)
    end)
  end)
end)
