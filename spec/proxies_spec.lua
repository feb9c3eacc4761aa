-- api:check_proxies through real proxy servers from Debian on loopback:
-- tinyproxy (HTTP, Basic auth) and microsocks (SOCKS5, user/password),
-- with the fake API as the target the proxies fetch from.
local helper = require "helper"
local proxyapi = require "proxyapi"

local function start(cmd)
  local pid_file = os.tmpname()
  assert(os.execute(cmd .. " >/dev/null 2>&1 & echo $! > " .. pid_file))
  local f = assert(io.open(pid_file))
  local pid = f:read("n")
  f:close()
  os.remove(pid_file)
  return pid
end

local function wait_listening(port)
  local socket = require "socket"
  for _ = 1, 100 do
    local c = socket.tcp()
    c:settimeout(0.1)
    if c:connect("127.0.0.1", port) then
      c:close()
      return true
    end
    c:close()
    socket.sleep(0.05)
  end
  error("nothing listens on port " .. port)
end

describe("api:check_proxies", function()
  local fake, api, http_port, socks_port, pids, conf, target

  lazy_setup(function()
    fake = helper.start_fake()
    api = fake:client { concurrency = 4 }
    -- a provider path: the fake delays those when told to (control paths never)
    target = fake.base_url .. "/openapi/ip/dynamic-states/search?country_code=US"
    http_port, socks_port = helper.refused_port(), helper.refused_port()
    conf = helper.tempfile(table.concat({
      "Port " .. http_port, "Listen 127.0.0.1", "Timeout 10", "MaxClients 50",
      "LogLevel Critical", "BasicAuth puser ppass", "",
    }, "\n"))
    pids = {
      start("exec tinyproxy -d -c " .. conf),
      start("exec microsocks -i 127.0.0.1 -p " .. socks_port .. " -u suser -P spass"),
    }
    wait_listening(http_port)
    wait_listening(socks_port)
  end)

  lazy_teardown(function()
    for _, pid in ipairs(pids or {}) do os.execute("kill " .. pid .. " 2>/dev/null") end
    if conf then os.remove(conf) end
    api:close()
    fake:stop()
  end)

  before_each(function()
    fake:reset()
  end)

  it("fetches the URL through HTTP and SOCKS5 proxies with credentials", function()
    local http_addr = "127.0.0.1:" .. http_port
    local socks_addr = "socks5://suser:spass@127.0.0.1:" .. socks_port
    local results = api:check_proxies({ http_addr, socks_addr },
      { url = target, timeout = 3, username = "puser", password = "ppass" })
    assert.equal(2, #results)
    assert.equal(http_addr, results[1].addr)
    assert.equal(socks_addr, results[2].addr)
    for _, r in ipairs(results) do
      assert.is_true(r.ok, tostring(r.err))
      assert.equal(200, r.status)
      assert.is_number(r.latency_ms)
      assert.is_true(r.latency_ms > 0)
      assert.is_nil(r.err)
    end
  end)

  it("reports bad credentials, refused proxies and bad schemes per address, in order", function()
    local refused = "127.0.0.1:" .. helper.refused_port()
    local addrs = {
      "http://puser:wrong@127.0.0.1:" .. http_port,
      "socks5://suser:nope@127.0.0.1:" .. socks_port,
      refused,
      "socks5h://suser:spass@127.0.0.1:" .. socks_port,
    }
    local results = api:check_proxies(addrs, { url = target, timeout = 3 })
    assert.equal(4, #results)
    for i, r in ipairs(results) do assert.equal(addrs[i], r.addr) end
    assert.is_false(results[1].ok)
    assert.equal("http", results[1].err.kind)
    assert.is_false(results[2].ok)
    assert.equal("network", results[2].err.kind)
    assert.is_false(results[3].ok)
    assert.equal("network", results[3].err.kind)
    assert.is_nil(results[3].status)
    assert.is_true(results[4].ok, tostring(results[4].err))
    local endpoint = "GET " .. fake.base_url .. "/openapi/ip/dynamic-states/search:"
    assert.truthy(tostring(results[1].err):find(endpoint, 1, true))
  end)

  it("uses the options' credentials for addresses without their own", function()
    local results = api:check_proxies({ "127.0.0.1:" .. socks_port },
      { url = target, scheme = "socks5", username = "suser", password = "spass" })
    assert.is_true(results[1].ok, tostring(results[1].err))
    local denied = api:check_proxies({ "127.0.0.1:" .. http_port }, { url = target })
    assert.is_false(denied[1].ok)
  end)

  it("checks concurrently", function()
    fake:config { delay = 0.3 }
    local addrs = {}
    for i = 1, 4 do addrs[i] = "socks5://suser:spass@127.0.0.1:" .. socks_port end
    local results = api:check_proxies(addrs, { url = target, timeout = 5, concurrency = 4 })
    for _, r in ipairs(results) do assert.is_true(r.ok, tostring(r.err)) end
    -- the four fetches reached the target while each of the others was being served
    local log = fake:log()
    assert.equal(4, #log)
    for _, e in ipairs(log) do
      for _, other in ipairs(log) do
        assert.is_true(e.t_start < other.t_end and other.t_start < e.t_end, "two fetches did not overlap")
      end
    end
  end)

  it("times out a proxy that does not answer", function()
    fake:config { delay = 2 }
    local results = api:check_proxies({ "socks5://suser:spass@127.0.0.1:" .. socks_port },
      { url = target, timeout = 0.3 })
    assert.is_false(results[1].ok)
    assert.equal("timeout", results[1].err.kind)
  end)

  it("leaves the API client's own connections alone", function()
    api:check_proxies({ "127.0.0.1:" .. helper.refused_port() }, { url = target, timeout = 1 })
    assert(api:list_accounts())
    local log = fake:log()
    assert.equal("/openapi/whitelist-account/list", log[#log].path)
  end)

  it("checks its arguments", function()
    assert.has_error(function() api:check_proxies("x") end,
      "bad argument #1 to 'check_proxies' (array of proxy addresses expected, got string)")
    assert.has_error(function() api:check_proxies({ "nohost" }, { url = target }) end,
      "bad argument #1 to 'check_proxies' (proxy #1: 'nohost': host:port expected)")
    assert.has_error(function() api:check_proxies({ "ftp://1.2.3.4:21" }, { url = target }) end,
      "bad argument #1 to 'check_proxies' (proxy #1: 'ftp://1.2.3.4:21': "
        .. "unsupported proxy scheme 'ftp')")
    assert.has_error(function() api:check_proxies({}, { url = "ftp://x" }) end,
      "bad argument #2 to 'check_proxies' (url: http:// or https:// URL expected)")
    assert.has_error(function() api:check_proxies({}, { timeout = 0 }) end,
      "bad argument #2 to 'check_proxies' (timeout: positive number of seconds expected)")
    assert.same({ n = 0 }, api:check_proxies({}, { url = target }))
    assert.is_true(proxyapi.is_error(api:check_proxies({ "127.0.0.1:1" }, { url = target })[1].err))
  end)
end)
