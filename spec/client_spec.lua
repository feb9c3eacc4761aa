-- The module's fields and functions, and the client object: options of
-- proxyapi.new, the environment, tostring, close, collection, headers,
-- connection reuse, on_request and dry_run.
local helper = require "helper"
local proxyapi = require "proxyapi"

local format = string.format

-- A child lua5.4 that sees the module from this tree and none of the
-- PROXYAPI_* variables of this process; `env` adds variables.
local function child(code, env)
  return helper.run("env -u PROXYAPI_APP_KEY -u PROXYAPI_BASE_URL LUA_PATH='lua/?.lua;lua/?/init.lua;;' "
    .. "LUA_CPATH='build/?.so;;' " .. (env or "") .. " lua5.4 -e " .. helper.quote(code))
end

--- A value as a test name shows it.
local function show(v)
  if type(v) == "string" then
    return '"' .. v:gsub("%c", function(c) return format("\\%d", c:byte()) end) .. '"'
  elseif type(v) == "table" or type(v) == "function" then
    return "a " .. type(v)
  end
  return tostring(v)
end

local lines_of = helper.lines

describe("the module", function()
  it("has a VERSION of the form x.y.z", function()
    assert.is_string(proxyapi.VERSION)
    assert.matches("^%d+%.%d+%.%d+$", proxyapi.VERSION)
  end)

  it("has the constant tables of the contract (README)", function()
    assert.same({ DYNAMIC_RESIDENTIAL_TRAFFIC = 9, DYNAMIC_RESIDENTIAL_IP = 11,
                  STATIC_DATACENTER_IP = 14, STATIC_RESIDENTIAL_IP = 25 }, proxyapi.product)
    assert.same({ VALID = 1, INVALID = 2, EXPIRING = 3, MAINTENANCE = 4 }, proxyapi.static_status)
    assert.same({ OK = 200, INVALID_APP_KEY = 3, NOT_VERIFIED = 156 }, proxyapi.code)
    assert.same({ DISABLED = 0, ENABLED = 1 }, proxyapi.account_status)
    for _, t in ipairs { proxyapi.product, proxyapi.static_status, proxyapi.code, proxyapi.account_status } do
      for _, v in pairs(t) do
        assert.equal("integer", math.type(v))
      end
    end
  end)

  describe("product_name", function()
    it("names the four products", function()
      assert.equal("Dynamic Residential Traffic Package", proxyapi.product_name(9))
      assert.equal("Dynamic Residential IP", proxyapi.product_name(11))
      assert.equal("Static Datacenter IP", proxyapi.product_name(14))
      assert.equal("Static Residential IP", proxyapi.product_name(25))
      assert.equal("Static Residential IP", proxyapi.product_name(proxyapi.product.STATIC_RESIDENTIAL_IP))
    end)

    it("returns nil for an unknown product", function()
      for _, v in ipairs { 0, 10, 12, 26, -9, 9.5, {} } do
        assert.is_nil(proxyapi.product_name(v))
      end
      assert.is_nil(proxyapi.product_name(nil))
    end)
  end)

  describe("is_error", function()
    local fake

    lazy_setup(function()
      fake = helper.start_fake()
    end)

    lazy_teardown(function()
      fake:stop()
    end)

    it("is true for the error of a failed call (api, http and network kinds)", function()
      local bad = fake:client { app_key = "wrongkey" }
      local ok, err = bad:list_accounts()
      assert.is_nil(ok)
      assert.equal("api", err.kind)
      assert.is_true(proxyapi.is_error(err))
      bad:close()

      local other = fake:client { prefix = "/nowhere" }
      ok, err = other:list_accounts()
      assert.is_nil(ok)
      assert.equal("http", err.kind)
      assert.is_true(proxyapi.is_error(err))
      other:close()

      local refused = proxyapi.new { app_key = "k", base_url = "http://127.0.0.1:" .. helper.refused_port(),
                                     proxy = false, retries = 0 }
      ok, err = refused:list_cities()
      assert.is_nil(ok)
      assert.equal("network", err.kind)
      assert.is_true(proxyapi.is_error(err))
      refused:close()
    end)

    it("is false for strings, plain tables, nil and look-alikes", function()
      local bad = fake:client { app_key = "wrongkey" }
      local _, err = bad:list_accounts()
      bad:close()
      assert.is_false(proxyapi.is_error(tostring(err)))
      assert.is_false(proxyapi.is_error("proxyapi: error"))
      assert.is_false(proxyapi.is_error({}))
      assert.is_false(proxyapi.is_error({ kind = "api", code = 3, msg = "invalid app_key" }))
      assert.is_false(proxyapi.is_error(setmetatable({ kind = "api" }, { __tostring = function() return "x" end })))
      assert.is_false(proxyapi.is_error(nil))
      assert.is_false(proxyapi.is_error())
      assert.is_false(proxyapi.is_error(false))
      assert.is_false(proxyapi.is_error(3))
      local ok, raised = pcall(function() return bad:list_accounts() end)
      assert.is_false(ok)
      assert.is_false(proxyapi.is_error(raised))
    end)
  end)

  describe("proxy_url", function()
    it("builds a URL with and without credentials; the scheme defaults to http", function()
      assert.equal("http://1.2.3.4:1140", proxyapi.proxy_url("1.2.3.4:1140"))
      assert.equal("http://1.2.3.4:1140", proxyapi.proxy_url("1.2.3.4:1140", {}))
      assert.equal("http://u:p@1.2.3.4:1140",
        proxyapi.proxy_url("1.2.3.4:1140", { scheme = "http", username = "u", password = "p" }))
      assert.equal("http://u:p@1.2.3.4:1140", proxyapi.proxy_url("1.2.3.4:1140", { username = "u", password = "p" }))
      assert.equal("http://u@1.2.3.4:1140", proxyapi.proxy_url("1.2.3.4:1140", { username = "u" }))
    end)

    it("takes the other schemes", function()
      for _, scheme in ipairs { "http", "https", "socks4", "socks4a", "socks5", "socks5h" } do
        assert.equal(scheme .. "://u:p@gw.example.net:8000",
          proxyapi.proxy_url("gw.example.net:8000", { scheme = scheme, username = "u", password = "p" }))
      end
    end)

    it("accepts ports 1 and 65535 and a bracketed IPv6 host", function()
      assert.equal("http://1.2.3.4:1", proxyapi.proxy_url("1.2.3.4:1"))
      assert.equal("http://1.2.3.4:65535", proxyapi.proxy_url("1.2.3.4:65535"))
      assert.equal("socks5://[::1]:1080", proxyapi.proxy_url("[::1]:1080", { scheme = "socks5" }))
    end)

    it("percent-encodes the credentials", function()
      assert.equal("http://us%40er%3Ax:p%3Aw%2Fd%25%20%23@1.2.3.4:1140",
        proxyapi.proxy_url("1.2.3.4:1140", { username = "us@er:x", password = "p:w/d% #" }))
      assert.equal("socks5h://%C3%A9:p@h:1",
        proxyapi.proxy_url("h:1", { scheme = "socks5h", username = "é", password = "p" }))
    end)

    for _, case in ipairs {
      { "no port", "1.2.3.4" },
      { "an empty port", "1.2.3.4:" },
      { "no host", ":1140" },
      { "a named port", "1.2.3.4:http" },
      { "a space", "a b:80" },
      { "a scheme", "http://1.2.3.4:80" },
      { "credentials", "u:p@1.2.3.4:80" },
      { "port 0", "1.2.3.4:0" },
      { "port 65536", "1.2.3.4:65536" },
      { "port 99999999999999999999", "1.2.3.4:99999999999999999999" },
      { "a number", 1140 },
      { "nil", nil },
    } do
      it("refuses an address with " .. case[1], function()
        local ok, msg = pcall(proxyapi.proxy_url, case[2])
        assert.is_false(ok)
        assert.matches("^bad argument #1 to 'proxy_url' %(", msg)
      end)
    end

    it("refuses a password without a username, an unknown scheme and bad options", function()
      assert.has_error(function() proxyapi.proxy_url("1.2.3.4:1140", { password = "p" }) end,
        "bad argument #2 to 'proxy_url' (a password needs a username)")
      for _, opts in ipairs {
        { scheme = "ftp" }, { scheme = 5 }, { username = 5 }, { username = "u", password = {} }, "http",
      } do
        local ok, msg = pcall(proxyapi.proxy_url, "1.2.3.4:1140", opts)
        assert.is_false(ok)
        assert.matches("^bad argument #2 to 'proxy_url' %(", msg)
      end
    end)
  end)
end)

describe("proxyapi.new", function()
  local fake

  lazy_setup(function()
    fake = helper.start_fake()
  end)

  lazy_teardown(function()
    fake:stop()
  end)

  before_each(function()
    fake:reset()
  end)

  local function base()
    return { app_key = "testkey", base_url = "http://127.0.0.1:1", proxy = false }
  end

  local function with(name, value)
    local opts = base()
    opts[name] = value
    return opts
  end

  --- new(opts) raises `bad argument #1 to 'new' (...)` mentioning `mention`.
  local function refuses(opts, mention)
    local ok, msg = pcall(proxyapi.new, opts)
    assert.is_false(ok, "no error was raised")
    assert.is_string(msg)
    assert.matches("^bad argument #1 to 'new' %(", msg)
    if mention then
      assert.is_truthy(msg:find(mention, 1, true), format("%q does not mention %q", msg, mention))
    end
    assert.is_nil(msg:find("testkey", 1, true))
  end

  local ca_file = helper.tempfile("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n")

  lazy_teardown(function()
    os.remove(ca_file)
  end)

  local GOOD = {
    { "app_key", "abcDEF0123456789" },
    { "base_url", "http://127.0.0.1:8080" },
    { "base_url", "https://api.example.com" },
    { "base_url", "https://api.example.com/base/" },
    { "prefix", "/pub" },
    { "prefix", "/end-point" },
    { "prefix", "" },
    { "paths", { list_static_ips = "/x/y", list_accounts = "/a/b/list" } },
    { "paths", {} },
    { "timeout", 30 },
    { "timeout", 0.5 },
    { "connect_timeout", 10 },
    { "connect_timeout", 0.25 },
    { "retries", 0 },
    { "retries", 5 },
    { "retries", 2.0 },
    { "retry_backoff", 0 },
    { "retry_backoff", 0.25 },
    { "retry_max_wait", 30 },
    { "retry_max_wait", 0.5 },
    { "concurrency", 1 },
    { "concurrency", 16 },
    { "batch_size", 1 },
    { "batch_size", 500 },
    { "proxy", false },
    { "proxy", "http://127.0.0.1:3128" },
    { "proxy", "socks5h://proxy.example.net:1080" },
    { "dry_run", true },
    { "dry_run", false },
    { "dry_run", function() end },
    { "ca_file", ca_file },
    { "insecure", false },
    { "max_response_bytes", 1024 },
    { "max_response_bytes", 1 },
    { "on_request", function() end },
  }

  for _, case in ipairs(GOOD) do
    it(format("accepts %s = %s", case[1], show(case[2])), function()
      local api = proxyapi.new(with(case[1], case[2]))
      assert.matches("^proxyapi%.Client %(0x%x+%)$", tostring(api))
      api:close()
    end)
  end

  it("accepts proxy = nil (libcurl's environment variables)", function()
    local opts = base()
    opts.proxy = nil
    local api = proxyapi.new(opts)
    api:close()
  end)

  local BAD = {
    { "app_key", 5 },
    { "app_key", "" },
    { "app_key", "a key" },
    { "app_key", "key\n" },
    { "base_url", 5 },
    { "base_url", "" },
    { "base_url", "127.0.0.1:8080" },
    { "base_url", "ftp://127.0.0.1" },
    { "base_url", "http://" },
    { "base_url", "https://user:pw@api.example.com" },
    { "base_url", "https://api.example.com/?x=1" },
    { "base_url", "https://api.example.com/#x" },
    { "prefix", "pub" },
    { "prefix", "/pub?x" },
    { "prefix", 5 },
    { "paths", "x" },
    { "paths", { nope = "/x" } },
    { "paths", { each_product = "/x" } },
    { "paths", { list_accounts = "x/y" } },
    { "paths", { list_accounts = "" } },
    { "paths", { list_accounts = 5 } },
    { "paths", { "/x" } },
    { "timeout", 0 },
    { "timeout", -1 },
    { "timeout", 0 / 0 },
    { "timeout", math.huge },
    { "timeout", "30" },
    { "timeout", true },
    { "connect_timeout", 0 },
    { "connect_timeout", -0.5 },
    { "connect_timeout", 0 / 0 },
    { "connect_timeout", "10" },
    { "retries", -1 },
    { "retries", 1.5 },
    { "retries", 0 / 0 },
    { "retries", math.huge },
    { "retries", "2" },
    { "retry_backoff", -0.1 },
    { "retry_backoff", 0 / 0 },
    { "retry_backoff", "0.25" },
    { "retry_max_wait", -1 },
    { "retry_max_wait", 0 / 0 },
    { "retry_max_wait", math.huge },
    { "concurrency", 0 },
    { "concurrency", -1 },
    { "concurrency", 2.5 },
    { "concurrency", "8" },
    { "batch_size", 0 },
    { "batch_size", 2.5 },
    { "batch_size", 0 / 0 },
    { "batch_size", {} },
    { "proxy", true },
    { "proxy", 5 },
    { "proxy", "127.0.0.1:3128" },
    { "proxy", "ftp://127.0.0.1:21" },
    { "proxy", "http://127.0.0.1" },
    { "proxy", "http://127.0.0.1:port" },
    { "dry_run", "yes" },
    { "dry_run", 1 },
    { "dry_run", {} },
    { "ca_file", "/nonexistent/proxyapi/ca.pem" },
    { "ca_file", 5 },
    { "insecure", "yes" },
    { "insecure", 1 },
    { "max_response_bytes", 0 },
    { "max_response_bytes", -1 },
    { "max_response_bytes", 1.5 },
    { "max_response_bytes", "1024" },
    { "on_request", "print" },
    { "on_request", true },
    { "on_request", {} },
  }

  for _, case in ipairs(BAD) do
    it(format("refuses %s = %s", case[1], show(case[2])), function()
      refuses(with(case[1], case[2]), case[1])
    end)
  end

  it("refuses an unknown option name", function()
    assert.has_error(function() proxyapi.new(with("colour", "red")) end,
      "bad argument #1 to 'new' (unknown option 'colour')")
    refuses(with("app_Key", "x"), "app_Key")
    refuses(with(1, "x"))
  end)

  it("refuses a non-table", function()
    refuses("http://127.0.0.1:1")
    refuses(5)
  end)

  describe("plain http", function()
    for _, url in ipairs {
      "http://127.0.0.1", "http://127.0.0.1:8080", "http://127.1.2.3:9", "http://localhost",
      "http://localhost:9/base", "http://[::1]", "http://[::1]:9",
    } do
      it("is allowed for the loopback host of " .. url, function()
        local api = proxyapi.new(with("base_url", url))
        api:close()
      end)
    end

    for _, url in ipairs {
      "http://example.com", "http://example.com:80", "http://10.0.0.1", "http://192.168.1.1:8080",
      "http://[::2]", "http://127.0.0.1.example.com", "http://localhost.example.com",
      "http://128.0.0.1",
    } do
      it("is refused for " .. url, function()
        refuses(with("base_url", url), "http")
      end)
    end

    it("https is accepted for any host, and new makes no request", function()
      for _, url in ipairs { "https://example.com", "https://10.0.0.1:8443", "https://127.0.0.1:1" } do
        local api = proxyapi.new(with("base_url", url))
        api:close()
      end
      fake:clear_log()
      local api = proxyapi.new { app_key = fake.app_key, base_url = fake.base_url, proxy = false }
      api:close()
      assert.same({}, fake:log())
    end)

    it("insecure = true allows plain http to any host, with one warning line on stderr", function()
      local code, out, err = child([[
        local proxyapi = require "proxyapi"
        local api = proxyapi.new { app_key = "Sekr1tKey", base_url = "http://example.com", insecure = true }
        io.write(tostring(api))
        api:close()
      ]])
      assert.equal(0, code)
      assert.matches("^proxyapi%.Client %(0x%x+%)$", out)
      assert.equal(1, #lines_of(err))
      assert.matches("^[^\n]+\n$", err)
      assert.is_nil(err:find("Sekr1tKey", 1, true))
    end)

    it("insecure = true warns once for https too; no warning without it", function()
      local code, _, err = child([[
        local proxyapi = require "proxyapi"
        proxyapi.new({ app_key = "k", base_url = "https://example.com", insecure = true }):close()
      ]])
      assert.equal(0, code)
      assert.equal(1, #lines_of(err))
      code, _, err = child([[
        local proxyapi = require "proxyapi"
        proxyapi.new({ app_key = "k", base_url = "https://example.com" }):close()
        proxyapi.new({ app_key = "k", base_url = "http://127.0.0.1:1", insecure = false }):close()
      ]])
      assert.equal(0, code)
      assert.equal("", err)
    end)
  end)

  describe("the environment", function()
    it("gives app_key and base_url when they are absent", function()
      fake:clear_log()
      local code, out, err = child([[
        local api = require("proxyapi").new { proxy = false }
        local accounts = assert(api:list_accounts())
        io.write("accounts: ", #accounts)
        api:close()
      ]], "PROXYAPI_APP_KEY=" .. helper.quote(fake.app_key) .. " PROXYAPI_BASE_URL=" .. helper.quote(fake.base_url))
      assert.equal("", err)
      assert.equal(0, code)
      local n = 0
      for _ in pairs(fake:accounts()) do n = n + 1 end
      assert.equal("accounts: " .. n, out)
      local log = fake:log()
      assert.equal(1, #log)
      assert.equal("/openapi/whitelist-account/list", log[1].path)
    end)

    it("is overridden by the options", function()
      local code, out, err = child(format([[
        local api = require("proxyapi").new { proxy = false, app_key = %q, base_url = %q }
        assert(api:list_accounts())
        io.write("ok")
        api:close()
      ]], fake.app_key, fake.base_url), "PROXYAPI_APP_KEY=wrong PROXYAPI_BASE_URL=http://127.0.0.1:1")
      assert.equal("", err)
      assert.equal(0, code)
      assert.equal("ok", out)
    end)

    it("keeps a key from the environment out of error messages", function()
      local code, out = child([[
        local api = require("proxyapi").new { proxy = false, retries = 0 }
        local ok, err = api:list_cities()
        io.write(tostring(ok), " ", err.kind, " ", tostring(err):find("k1k2k3", 1, true) and "leak" or "clean")
        api:close()
      ]], "PROXYAPI_APP_KEY=k1k2k3 PROXYAPI_BASE_URL=http://127.0.0.1:" .. helper.refused_port())
      assert.equal(0, code)
      assert.equal("nil network clean", out)
    end)

    it("a missing key raises naming PROXYAPI_APP_KEY", function()
      local code, _, err = child([[require("proxyapi").new { base_url = "http://127.0.0.1:1" }]])
      assert.equal(1, code)
      assert.is_truthy(err:find("PROXYAPI_APP_KEY", 1, true))
      code, _, err = child([[require("proxyapi").new { }]], "PROXYAPI_BASE_URL=http://127.0.0.1:1")
      assert.equal(1, code)
      assert.is_truthy(err:find("PROXYAPI_APP_KEY", 1, true))
    end)

    it("a missing base_url raises naming PROXYAPI_BASE_URL", function()
      local code, _, err = child([[require("proxyapi").new { app_key = "k" }]])
      assert.equal(1, code)
      assert.is_truthy(err:find("PROXYAPI_BASE_URL", 1, true))
      code, _, err = child([[require("proxyapi").new()]], "PROXYAPI_APP_KEY=k")
      assert.equal(1, code)
      assert.is_truthy(err:find("PROXYAPI_BASE_URL", 1, true))
    end)
  end)
end)

describe("the client object", function()
  local fake, api

  lazy_setup(function()
    fake = helper.start_fake()
  end)

  lazy_teardown(function()
    if api then api:close() end
    fake:stop()
  end)

  before_each(function()
    fake:reset()
    if api then api:close() end
    api = fake:client()
  end)

  describe("tostring", function()
    it("shows the type and an address, never the key", function()
      local text = tostring(api)
      assert.matches("^proxyapi%.Client %(0x%x+%)$", text)
      assert.is_nil(text:find(fake.app_key, 1, true))
      local other = fake:client()
      assert.are_not.equal(text, tostring(other))
      other:close()
    end)

    it("reads \"proxyapi.Client (closed)\" after close", function()
      api:close()
      assert.equal("proxyapi.Client (closed)", tostring(api))
    end)
  end)

  describe("close", function()
    it("is idempotent", function()
      assert.has_no.errors(function()
        api:close()
        api:close()
      end)
      assert.equal("proxyapi.Client (closed)", tostring(api))
    end)

    local CALLS = {
      list_accounts = function(c) return c:list_accounts() end,
      add_accounts = function(c) return c:add_accounts { "cl1:pw1" } end,
      delete_accounts = function(c) return c:delete_accounts "seoteam" end,
      disable_accounts = function(c) return c:disable_accounts { "seoteam" } end,
      enable_accounts = function(c) return c:enable_accounts "seoteam" end,
      change_password = function(c) return c:change_password("seoteam", "pw2") end,
      change_remark = function(c) return c:change_remark("seoteam", "r") end,
      change_limit = function(c) return c:change_limit("seoteam", 5) end,
      usage_flow = function(c) return c:usage_flow() end,
      list_products = function(c) return c:list_products() end,
      each_product = function(c) return c:each_product() end,
      extract_ips = function(c) return c:extract_ips { num = 1 } end,
      list_cities = function(c) return c:list_cities() end,
      search_cities = function(c) return c:search_cities("US", "Texas") end,
      list_states = function(c) return c:list_states() end,
      search_states = function(c) return c:search_states "US" end,
      list_static_ips = function(c) return c:list_static_ips() end,
      each_static_ip = function(c) return c:each_static_ip() end,
      call = function(c) return c:call("GET", "/openapi/ip/dynamic-states") end,
      map = function(c) return c:map({ 1 }, function() end) end,
      check_proxies = function(c) return c:check_proxies { "127.0.0.1:1" } end,
    }
    local names = {}
    for name in pairs(CALLS) do names[#names + 1] = name end
    table.sort(names)

    for _, name in ipairs(names) do
      it("makes " .. name .. " raise", function()
        api:close()
        fake:clear_log()
        local before = fake:accounts()
        assert.has_error(function() CALLS[name](api) end, "attempt to use a closed proxyapi client")
        assert.same({}, fake:log())
        assert.same(before, fake:accounts())
      end)
    end

    it("makes a dry-run client raise too, even for bad arguments", function()
      local lines = {}
      local dry = fake:client { dry_run = function(line) lines[#lines + 1] = line end }
      dry:close()
      assert.has_error(function() dry:add_accounts { "cl1:pw1" } end, "attempt to use a closed proxyapi client")
      assert.has_error(function() dry:delete_accounts { "a", "b" } end, "attempt to use a closed proxyapi client")
      assert.same({}, lines)
    end)

    it("happens at the end of a block for a <close> variable", function()
      local seen
      do
        local scoped <close> = fake:client()
        seen = scoped
        assert.matches("^proxyapi%.Client %(0x%x+%)$", tostring(scoped))
        assert(scoped:list_cities())
      end
      assert.equal("proxyapi.Client (closed)", tostring(seen))
      assert.has_error(function() seen:list_cities() end, "attempt to use a closed proxyapi client")
    end)

    it("happens when an error leaves the block of a <close> variable", function()
      local seen
      local ok = pcall(function()
        local scoped <close> = fake:client()
        seen = scoped
        error("boom")
      end)
      assert.is_false(ok)
      assert.equal("proxyapi.Client (closed)", tostring(seen))
    end)
  end)

  it("is collected once dropped", function()
    local weak = setmetatable({}, { __mode = "v" })
    local function make()
      local c = fake:client()
      assert(c:list_cities())
      weak[1] = c
    end
    make()
    assert.is_not_nil(weak[1])
    collectgarbage()
    collectgarbage()
    assert.is_nil(weak[1])
  end)

  describe("on the wire", function()
    it("sends User-Agent: proxyapi/<VERSION> on GET and POST", function()
      fake:clear_log()
      assert(api:list_cities())
      assert.is_true(api:add_accounts { "ua1:pw1" })
      local log = fake:log()
      assert.equal(2, #log)
      for _, req in ipairs(log) do
        assert.equal("proxyapi/" .. proxyapi.VERSION, req.user_agent)
      end
    end)

    it("asks for gzip on GETs only, sends no Accept of its own and no Expect: on any body", function()
      fake:clear_log()
      assert(api:list_cities())
      assert.is_true(api:change_remark("seoteam", "short"))
      -- from 1 MiB libcurl would add Expect: 100-continue by itself
      -- (the fake refuses so long a remark: the reply is the API's, so the request was read whole)
      local long = { account = "seoteam", remark = string.rep("r", 1100 * 1024) }
      local ok, err = api:call("POST", "/openapi/whitelist-account/change-remark", long)
      assert.is_nil(ok)
      assert.equal("api", err.kind)
      local log = fake:log()
      assert.equal(3, #log)
      assert.same({ "*/*", "gzip" }, { log[1].accept, log[1].accept_encoding })
      for i = 2, 3 do
        assert.same({ "*/*", "application/json" }, { log[i].accept, log[i].content_type })
        assert.is_nil(log[i].accept_encoding)
        assert.is_nil(log[i].expect)
      end
    end)

    it("sends POST parameters as JSON with Content-Type: application/json, app_key in the body", function()
      fake:clear_log()
      assert.is_true(api:change_limit("seoteam", 7))
      local req = fake:log()[1]
      assert.equal("POST", req.method)
      assert.equal("application/json", req.content_type)
      assert.is_truthy(req.wire:find('"app_key":"***"', 1, true))
      assert.is_truthy(req.wire:find('^{.*}$'))
      assert.same({ account = "seoteam", limit = 7 }, req.params)
    end)

    it("sends app_key in the query string of a GET", function()
      fake:clear_log()
      assert(api:search_states "US")
      local req = fake:log()[1]
      assert.equal("GET", req.method)
      assert.is_truthy(("&" .. req.wire .. "&"):find("&app_key=***&", 1, true))
      assert.same({ country_code = "US" }, req.params)
      fake:clear_log()
      assert(api:list_cities())
      assert.equal("app_key=***", fake:log()[1].wire)
    end)

    it("reuses the connection for calls in a row", function()
      fake:clear_log()
      assert(api:list_cities())
      assert(api:list_states())
      assert.is_true(api:change_remark("seoteam", "x"))
      local log = fake:log()
      assert.equal(3, #log)
      assert.equal(log[1].conn, log[2].conn)
      assert.equal(log[1].conn, log[3].conn)
    end)

    it("uses a fresh connection for add_accounts (at most once)", function()
      fake:clear_log()
      assert(api:list_cities())
      assert.is_true(api:add_accounts { "fresh1:pw1" })
      assert.is_true(api:add_accounts { "fresh2:pw2" })
      local log = fake:log()
      assert.equal(3, #log)
      assert.is_true(log[2].conn > log[1].conn)
      assert.is_true(log[3].conn > log[2].conn)
    end)
  end)

  describe("on_request", function()
    it("receives one info table per exchange, without the key", function()
      local infos = {}
      local watched = fake:client { on_request = function(info) infos[#infos + 1] = info end }
      assert(watched:list_accounts())
      assert.equal(1, #infos)
      local info = infos[1]
      assert.equal("GET", info.method)
      assert.equal("/openapi/whitelist-account/list", info.path)
      assert.equal(200, info.status)
      assert.equal("number", type(info.elapsed))
      assert.is_true(info.elapsed >= 0 and info.elapsed < 5)
      assert.equal(1, info.attempt)
      assert.is_true(watched:change_remark("seoteam", "y"))
      assert.equal(2, #infos)
      assert.equal("POST", infos[2].method)
      assert.equal("/openapi/whitelist-account/change-remark", infos[2].path)
      for _, inf in ipairs(infos) do
        for k, v in pairs(inf) do
          assert.is_nil(tostring(k):find(fake.app_key, 1, true))
          assert.is_nil(tostring(v):find(fake.app_key, 1, true))
        end
        assert.is_nil(inf.app_key)
        assert.is_nil(inf.url)
        assert.is_nil(inf.query)
        assert.is_nil(inf.body)
      end
      watched:close()
    end)

    it("is called once per chunk of a split batch", function()
      local infos = {}
      local watched = fake:client { batch_size = 2, on_request = function(info) infos[#infos + 1] = info end }
      assert.is_true(watched:add_accounts { "or1:pw", "or2:pw", "or3:pw", "or4:pw", "or5:pw" })
      assert.equal(3, #infos)
      for _, info in ipairs(infos) do
        assert.equal("/openapi/whitelist-account/add", info.path)
        assert.equal(1, info.attempt)
      end
      watched:close()
    end)
  end)

  describe("dry_run", function()
    it("= true: a POST is not sent, succeeds, and prints one line on stderr without the key", function()
      fake:clear_log()
      local before = fake:accounts()
      local code, out, err = child([[
        local api = require("proxyapi").new { proxy = false, dry_run = true }
        local ok = api:add_accounts { "dry1:pw1" }
        io.write(tostring(ok), " ", type(ok))
        api:close()
      ]], "PROXYAPI_APP_KEY=" .. helper.quote(fake.app_key) .. " PROXYAPI_BASE_URL=" .. helper.quote(fake.base_url))
      assert.equal(0, code)
      assert.equal("true boolean", out)
      local lines = lines_of(err)
      assert.equal(1, #lines)
      assert.equal(err, lines[1] .. "\n")
      assert.is_truthy(lines[1]:find("POST", 1, true))
      assert.is_truthy(lines[1]:find("/openapi/whitelist-account/add", 1, true))
      assert.is_nil(lines[1]:find(fake.app_key, 1, true))
      assert.same({}, fake:log())
      assert.same(before, fake:accounts())
    end)

    it("= function: receives the line; GETs still go through", function()
      local lines = {}
      local dry = fake:client { dry_run = function(line) lines[#lines + 1] = line end }
      fake:clear_log()
      local before = fake:accounts()
      assert.is_true(dry:change_password("seoteam", "newPw1"))
      assert.is_true(dry:delete_accounts "seoteam")
      assert.same({}, fake:log())
      assert.same(before, fake:accounts())
      assert.equal(2, #lines)
      assert.is_truthy(lines[1]:find("POST /openapi/whitelist-account/change-password", 1, true))
      assert.is_truthy(lines[2]:find("POST /openapi/whitelist-account/delete", 1, true))
      for _, line in ipairs(lines) do
        assert.is_nil(line:find(fake.app_key, 1, true))
        assert.is_nil(line:find("\n", 1, true))
      end
      local accounts = assert(dry:list_accounts())
      assert.is_true(#accounts > 0)
      local log = fake:log()
      assert.equal(1, #log)
      assert.equal("GET", log[1].method)
      assert.equal(2, #lines)
      dry:close()
    end)

    it("gives one line per chunk of a split batch", function()
      local lines = {}
      local dry = fake:client { batch_size = 2, dry_run = function(line) lines[#lines + 1] = line end }
      fake:clear_log()
      assert.is_true(dry:disable_accounts { "dr1", "dr2", "dr3", "dr4", "dr5" })
      assert.same({}, fake:log())
      assert.equal(3, #lines)
      local text = table.concat(lines, "\n")
      assert.is_truthy(text:find("dr1,dr2", 1, true))
      assert.is_truthy(text:find("dr3,dr4", 1, true))
      assert.is_truthy(text:find('"dr5"', 1, true))
      for _, line in ipairs(lines) do
        assert.is_truthy(line:find("POST /openapi/whitelist-account/disable", 1, true))
      end
      dry:close()
    end)

    it("uses the configured path in the line", function()
      local lines = {}
      local dry = fake:client { prefix = "/pub", dry_run = function(line) lines[#lines + 1] = line end }
      assert.is_true(dry:enable_accounts "x1")
      assert.equal(1, #lines)
      assert.is_truthy(lines[1]:find("POST /pub/whitelist-account/enable", 1, true))
      dry:close()
    end)
  end)
end)
