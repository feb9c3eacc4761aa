-- The /metrics server: HTTP behaviour, bounds, polling on time and at most
-- once per min_interval, and a real Prometheus scraping it.
--
-- The server runs in this process; the client side of each spec runs in a
-- coroutine that `stop` resumes between requests. Loopback connects and
-- small sends complete in the kernel, so a client connects and sends, then
-- yields until the server has answered.
local metrics_http = require "proxyapi.metrics_http"
local metrics = require "proxyapi.metrics"
local socket = require "socket"
local cjson = require "cjson"
local helper = require "helper"

local DEADLINE = 20 -- seconds for one scripted run

-- Serves with opts while script(port) runs as the client; returns what
-- serve returned. A failing script fails the spec.
local function run(opts, script)
  local co, port, failure
  local deadline = socket.gettime() + DEADLINE
  opts.on_listen = function(_, p) port = p end
  opts.tick = opts.tick or 0.05
  opts.log = opts.log or function() end
  opts.stop = function()
    co = co or coroutine.create(script)
    local ok, err = coroutine.resume(co, port)
    if not ok then
      failure = debug.traceback(co, tostring(err))
      return true
    end
    if socket.gettime() > deadline then
      failure = "the scripted client did not finish in " .. DEADLINE .. " s"
      return true
    end
    return coroutine.status(co) == "dead"
  end
  local results = table.pack(metrics_http.serve(opts))
  if failure then
    error(failure, 0)
  end
  return table.unpack(results, 1, results.n)
end

-- Inside a script: connect and send (all of it, or as much as goes).
local function send(port, text)
  local conn = assert(socket.connect("127.0.0.1", port))
  conn:settimeout(0)
  if text ~= "" then
    conn:send(text)
  end
  return conn
end

-- Inside a script: yield until the server closed the connection; the reply.
local function reply(conn)
  local chunks = {}
  while true do
    local data, err, partial = conn:receive(65536)
    chunks[#chunks + 1] = data or partial
    if err == "closed" then
      break
    elseif err and err ~= "timeout" then
      chunks[#chunks + 1] = "<" .. err .. ">"
      break
    end
    coroutine.yield()
  end
  conn:close()
  local text = table.concat(chunks)
  local head, body = text:match("^(.-)\r\n\r\n(.*)$")
  if not head then
    return { raw = text }
  end
  local status = tonumber(head:match("^HTTP/1%.1 (%d%d%d) "))
  local headers = {}
  for name, value in head:gmatch("\r\n([^:\r\n]+): ([^\r\n]*)") do
    headers[name:lower()] = value
  end
  return { status = status, headers = headers, body = body, raw = text }
end

local function get(port, request)
  return reply(send(port, request or "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"))
end

local function account_snapshot(usage_flow, up)
  return { profiles = { acme = { up = up ~= false, accounts = {
    { username = "shop01", usage_flow = usage_flow, limit_flow = 10, status = 1 } } } } }
end

describe("metrics_http.parse_listen and is_loopback", function()
  it("reads host:port and [v6]:port", function()
    assert.same({ "127.0.0.1", 9150 }, { metrics_http.parse_listen("127.0.0.1:9150") })
    assert.same({ "::1", 0 }, { metrics_http.parse_listen("[::1]:0") })
    assert.same({ "localhost", 80 }, { metrics_http.parse_listen("localhost:80") })
    for _, bad in ipairs { "127.0.0.1", ":9150", "127.0.0.1:65536", "127.0.0.1:x", "::1:9150", "a b:1",
                           "127.0.0.1:000009150" } do
      local host, err = metrics_http.parse_listen(bad)
      assert.is_nil(host, bad)
      assert.equal("listen " .. bad .. ": host:port expected (e.g. 127.0.0.1:9150 or [::1]:9150)", err)
    end
  end)

  it("knows loopback addresses", function()
    for _, host in ipairs { "127.0.0.1", "127.255.10.3", "::1", "0:0:0:0:0:0:0:1", "0::1", "::0:1", "0000:0::0001",
                            "localhost", "LOCALHOST" } do
      assert.is_true(metrics_http.is_loopback(host), host)
    end
    for _, host in ipairs { "0.0.0.0", "::", "*", "128.0.0.1", "10.0.0.1", "127.0.0.256", "::2", "1::1", "::1::1",
                            "0:0:0:0:0:0:0:0:1", "::00001", "::ffff:127.0.0.1",
                            "example.com", "localhost.example.com", "127.0.0.1.nip.io" } do
      assert.is_false(metrics_http.is_loopback(host), host)
    end
  end)
end)

describe("metrics_http.serve", function()
  it("refuses a non-loopback address before polling, unless allow_any", function()
    local polls = 0
    local function poll() polls = polls + 1 return account_snapshot(1) end
    assert.same({ nil, "listen 0.0.0.0:0: not a loopback address (127.0.0.0/8 or ::1); allow_any " ..
      "(--listen-any) serves other hosts" }, { metrics_http.serve { listen = "0.0.0.0:0", poll = poll } })
    assert.same({ nil, "listen nope: host:port expected (e.g. 127.0.0.1:9150 or [::1]:9150)" },
      { metrics_http.serve { listen = "nope", poll = poll } })
    assert.equal(0, polls)
    -- allowed, it tries to bind: 192.0.2.1 (TEST-NET-1) is not this machine's, so binding fails
    local ok, err = metrics_http.serve { listen = "192.0.2.1:0", allow_any = true, poll = poll }
    assert.is_nil(ok)
    assert.matches("^listen 192.0.2.1:0: ", err)
    assert.not_matches("loopback", err)
    assert.has_error(function() metrics_http.serve { listen = "127.0.0.1:0" } end,
      "bad argument #1 to 'serve' (table with a poll function expected)")
    assert.has_error(function() metrics_http.serve { listen = "127.0.0.1:0", poll = poll, min_interval = -1 } end,
      "bad argument #1 to 'serve' (min_interval: seconds expected)")
  end)

  it("answers GET /metrics with the text format of the last poll and the extra text", function()
    local snapshot = account_snapshot(1234)
    local extra = "# HELP x_total X.\n# TYPE x_total counter\nx_total 1\n"
    run({ listen = "127.0.0.1:0", poll = function() return snapshot end, extra = function() return extra end },
      function(port)
        local r = get(port)
        assert.equal(200, r.status)
        assert.equal("text/plain; version=0.0.4; charset=utf-8", r.headers["content-type"])
        assert.equal("close", r.headers.connection)
        assert.equal(metrics.render(snapshot) .. extra, r.body)
        assert.equal(#r.body, tonumber(r.headers["content-length"]))
        assert.is_truthy(r.body:find('proxyapi_account_usage_bytes{profile="acme",account="shop01"} 1263616\n', 1,
          true))
        local q = get(port, "GET /metrics?name[]=x HTTP/1.0\r\n\r\n")
        assert.equal(r.body, q.body)
        local h = get(port, "HEAD /metrics HTTP/1.1\r\n\r\n")
        assert.same({ 200, "", r.headers["content-length"] }, { h.status, h.body, h.headers["content-length"] })
      end)
  end)

  it("answers 404, 405 and 400, and keeps serving", function()
    run({ listen = "127.0.0.1:0", poll = function() return account_snapshot(1) end }, function(port)
      local r = get(port, "GET / HTTP/1.1\r\n\r\n")
      assert.same({ 404, "not found; try /metrics\n" }, { r.status, r.body })
      assert.equal(404, get(port, "GET /metrics/ HTTP/1.1\r\n\r\n").status)
      assert.equal(404, get(port, "GET /metricsx HTTP/1.1\r\n\r\n").status)
      for _, method in ipairs { "POST", "PUT", "DELETE", "OPTIONS" } do
        r = get(port, method .. " /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
        assert.same({ 405, "GET, HEAD" }, { r.status, r.headers.allow }, method)
      end
      for _, bad in ipairs { "HELLO\r\n\r\n", "GET\r\n\r\n", "get /metrics HTTP/1.1\r\n\r\n",
                             "GET /metrics HTTP/2.0\r\n\r\n", "GET metrics HTTP/1.1\r\n\r\n", "\r\n\r\n" } do
        assert.equal(400, get(port, bad).status, bad)
      end
      assert.equal(200, get(port).status)
    end)
  end)

  it("caps the request head, and a client that stalls cannot hold the server", function()
    local finished = false
    run({ listen = "127.0.0.1:0", read_timeout = 0.3, poll = function() return account_snapshot(1) end },
      function(port)
        -- 40 KiB of headers: the server reads 8 KiB, answers 431, drops the rest and goes on
        local huge = send(port, "GET /metrics HTTP/1.1\r\nX-Pad: " .. ("a"):rep(40 * 1024) .. "\r\n\r\n")
        local r = reply(huge)
        assert.same({ 431, "request head too large\n" }, { r.status, r.body })
        assert.equal(200, get(port).status)
        -- one client sends half a request head, one nothing; a third, queued behind them, is served
        local half = send(port, "GET /metr")
        local silent = send(port, "")
        local third = send(port, "GET /metrics HTTP/1.1\r\n\r\n")
        assert.equal(408, reply(half).status)
        assert.equal("", reply(silent).raw)
        assert.equal(200, reply(third).status)
        finished = true
      end)
    assert.is_true(finished)
  end)

  it("polls before listening, then at most once per min_interval, between requests", function()
    local now, polls = 1000, 0
    local function poll()
      polls = polls + 1
      return account_snapshot(polls * 1000)
    end
    local function usage(r)
      return tonumber(r.body:match('proxyapi_account_usage_bytes{profile="acme",account="shop01"} (%d+)'))
    end
    run({ listen = "127.0.0.1:0", poll = poll, min_interval = 60, clock = function() return now end },
      function(port)
        assert.equal(1, polls) -- before listening
        assert.equal(1000 * 1024, usage(get(port)))
        now = 1059.9
        assert.equal(1000 * 1024, usage(get(port)))
        assert.equal(1000 * 1024, usage(get(port)))
        assert.equal(1, polls)
        -- due: the poll happens between requests, with no scrape waiting for it
        now = 1060
        for _ = 1, 3 do coroutine.yield() end
        assert.equal(2, polls)
        assert.equal(2000 * 1024, usage(get(port)))
        now = 1100
        assert.equal(2000 * 1024, usage(get(port)))
        assert.equal(2, polls)
        -- a clock that steps back does not stop the polls
        now = 500
        coroutine.yield()
        assert.equal(3, polls)
      end)
  end)

  it("keeps the last values and reports proxyapi_up 0 when a poll fails", function()
    local now, answers = 0, {}
    local logged = {}
    local function poll()
      return table.unpack(table.remove(answers, 1))
    end
    answers = {
      { account_snapshot(1) },
      { nil, "timeout after 30 s" },
      { { profiles = { acme = { up = false } } } }, -- the profile's own poll failed
      { account_snapshot(3) },
      { nil }, -- raised below
    }
    local function text(port)
      local r = get(port)
      assert.equal(200, r.status)
      return r.body
    end
    local USAGE = 'proxyapi_account_usage_bytes{profile="acme",account="shop01"} '
    run({ listen = "127.0.0.1:0", poll = poll, min_interval = 10, clock = function() return now end,
          log = function(line) logged[#logged + 1] = line end }, function(port)
      local body = text(port)
      assert.is_truthy(body:find('proxyapi_up{profile="acme"} 1\n', 1, true))
      assert.is_truthy(body:find(USAGE .. "1024\n", 1, true))
      for round = 1, 2 do
        now = now + 10
        coroutine.yield()
        body = text(port)
        assert.is_truthy(body:find('proxyapi_up{profile="acme"} 0\n', 1, true), round)
        assert.is_truthy(body:find(USAGE .. "1024\n", 1, true), round)
      end
      assert.same({ "poll failed: timeout after 30 s" }, logged)
      now = now + 10
      coroutine.yield()
      body = text(port)
      assert.is_truthy(body:find('proxyapi_up{profile="acme"} 1\n', 1, true))
      assert.is_truthy(body:find(USAGE .. "3072\n", 1, true))
      answers[1] = nil
      now = now + 10
      coroutine.yield()
      body = text(port)
      assert.is_truthy(body:find('proxyapi_up{profile="acme"} 0\n', 1, true))
      assert.matches("^poll failed: .", logged[2]) -- the error poll raised
    end)
  end)

  it("reports proxyapi_up 0 with no labels when the first poll fails", function()
    run({ listen = "127.0.0.1:0", poll = function() return nil, "refused" end }, function(port)
      local body = get(port).body
      assert.is_truthy(body:find("\nproxyapi_up 0\n", 1, true))
      assert.is_nil(body:find("proxyapi_account_usage_bytes{", 1, true))
    end)
  end)

  it("still answers when extra fails", function()
    local logged = {}
    run({ listen = "127.0.0.1:0", poll = function() return account_snapshot(1) end,
          extra = function() error("extra broke") end, log = function(line) logged[#logged + 1] = line end },
      function(port)
        assert.equal(200, get(port).status)
      end)
    assert.matches("^extra metrics failed: .*extra broke", logged[1])
  end)

  it("ends after max_requests, or when stop says so, and closes its socket", function()
    local port
    local ok = metrics_http.serve { listen = "127.0.0.1:0", poll = function() return account_snapshot(1) end,
                                    max_requests = 0, stop = function() return true end,
                                    on_listen = function(_, p) port = p end }
    assert.is_true(ok)
    local conn = socket.connect("127.0.0.1", port)
    assert.is_nil(conn) -- nobody listens any more

    local rounds = 0
    assert.is_true(run({ listen = "127.0.0.1:0", max_requests = 2, poll = function() return account_snapshot(1) end },
      function(p)
        rounds = rounds + 1
        assert.equal(200, get(p).status)
        assert.equal(200, get(p).status)
        coroutine.yield() -- serve returns after the second request, before resuming this
        rounds = rounds + 1
      end))
    assert.equal(1, rounds)
  end)
end)

-- A real Prometheus scrapes the server, which polls the fake API.
describe("metrics_http with Prometheus", function()
  local PROMETHEUS = "/usr/bin/prometheus"

  local function http_get(url)
    local chunks = {}
    local http = require "socket.http"
    local saved = http.TIMEOUT
    http.TIMEOUT = 1 -- a query must not hold the server long
    local ok, status = http.request { url = url, sink = require("ltn12").sink.table(chunks) }
    http.TIMEOUT = saved
    return ok and status, table.concat(chunks)
  end

  local function alive(pid)
    return os.execute("kill -0 " .. pid .. " 2>/dev/null") == true
  end

  it("scrapes the values of the fake's accounts", function()
    if not io.open(PROMETHEUS) then
      pending(PROMETHEUS .. " is not installed")
      return
    end
    local p = io.popen("mktemp -d")
    local dir = p:read("l")
    p:close()
    local fake = helper.start_fake()
    local pid
    finally(function()
      if pid and alive(pid) then
        os.execute("kill " .. pid)
        local until_t = socket.gettime() + 10
        while alive(pid) and socket.gettime() < until_t do socket.sleep(0.1) end
        if alive(pid) then os.execute("kill -9 " .. pid) end
      end
      fake:stop()
      os.execute("rm -rf " .. helper.quote(dir))
    end)

    local reqs = metrics.requests()
    local api = fake:client { on_request = function(info) reqs:observe(info) end }
    local function poll()
      local accounts, err = api:list_accounts()
      if not accounts then return nil, err end
      local products = {}
      for product in api:each_product {} do products[#products + 1] = product end
      return { profiles = { fake = { up = true, accounts = accounts, products = products } } }
    end
    local truth = fake:accounts()
    local names = {}
    for name in pairs(truth) do names[#names + 1] = name end
    table.sort(names)
    local known = truth[names[1]]

    local skipped, value, up, requests
    local prom_port = helper.refused_port()
    run({ listen = "127.0.0.1:0", poll = poll, extra = function() return reqs:render() end, tick = 0.1 },
      function(port)
        local config = dir .. "/prometheus.yml"
        local f = assert(io.open(config, "w"))
        f:write(string.format([[
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: proxyapi
    static_configs:
      - targets: ["127.0.0.1:%d"]
]], port))
        f:close()
        local start = io.popen(string.format("%s --config.file=%s --storage.tsdb.path=%s/data " ..
          "--web.listen-address=127.0.0.1:%d > %s/log 2>&1 & echo $!", PROMETHEUS, helper.quote(config),
          helper.quote(dir), prom_port, helper.quote(dir)))
        pid = tonumber(start:read("l"))
        start:close()
        local base = "http://127.0.0.1:" .. prom_port
        local until_t = socket.gettime() + 15
        while http_get(base .. "/-/ready") ~= 200 do
          if not alive(pid) then
            local log = io.open(dir .. "/log"):read("a")
            skipped = "prometheus did not start: " .. log:sub(-400)
            return
          end
          assert(socket.gettime() < until_t, "prometheus was not ready in 15 s")
          coroutine.yield()
        end
        local function query(q)
          local status, body = http_get(base .. "/api/v1/query?query=" ..
            q:gsub("[^%w_]", function(c) return string.format("%%%02X", c:byte()) end))
          if status ~= 200 then return nil end
          local result = cjson.decode(body).data.result
          return result[1] and tonumber(result[1].value[2])
        end
        until_t = socket.gettime() + 15
        repeat
          value = query('proxyapi_account_usage_bytes{account="' .. known.username .. '"}')
          assert(value or socket.gettime() < until_t, "the value did not appear in Prometheus within 15 s")
          coroutine.yield()
        until value
        up = query('proxyapi_up{profile="fake"}')
        requests = query('proxyapi_api_requests_total{endpoint="GET /openapi/whitelist-account/list",outcome="ok"}')
      end)
    if skipped then
      pending(skipped)
      return
    end
    assert.equal(known.usage_flow * 1024, value)
    assert.equal(1, up)
    assert.equal(1, requests) -- one poll in the run: min_interval is 60 s
  end)
end)
