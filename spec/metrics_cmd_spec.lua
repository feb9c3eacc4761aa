-- `proxyapi metrics` (proxyapi.jobs.metrics): the textfile written
-- atomically from one poll of the fake, and `--listen` run by pxlua as a
-- child process, scraped by a real Prometheus, ended by SIGTERM.
local job = require "proxyapi.jobs.metrics"
local socket = require "socket"
local cjson = require "cjson"
local helper = require "helper"
local wh = require "watch_helper"

local PROMETHEUS = "/usr/bin/prometheus"
local DEADLINE = 15

local function read(path)
  local f = io.open(path)
  local text = f and f:read("a") or ""
  if f then f:close() end
  return text
end

local function tempdir()
  local p = io.popen("mktemp -d")
  local dir = p:read("l")
  p:close()
  return dir
end

describe("metrics --textfile", function()
  local fake, ctx, dir
  before_each(function()
    fake = helper.start_fake()
    dir = tempdir()
  end)
  after_each(function()
    if ctx then ctx.close() end
    fake:stop()
    os.execute("rm -rf " .. helper.quote(dir))
  end)

  local function run(list, fields)
    ctx = wh.ctx(fake, fields)
    local args, status = wh.parse(job, list)
    if not args then
      return status
    end
    return job.run(ctx, args), ctx.output()
  end

  it("writes the fake's accounts and packages as gauges, atomically", function()
    local path = dir .. "/proxyapi.prom"
    assert.equal(0, (run { "--textfile", path }))
    local text = read(path)
    for name, a in pairs(fake:accounts()) do
      local labels = string.format('{profile="test",account="%s"}', name)
      local usage = string.format("proxyapi_account_usage_bytes%s %d\n", labels, math.tointeger(a.usage_flow) * 1024)
      local limit = string.format("proxyapi_account_limit_bytes%s %d\n", labels,
        math.tointeger(a.limit_flow) * 1024 * 1024 * 1024)
      assert.is_truthy(text:find(usage, 1, true), usage)
      assert.is_truthy(text:find(limit, 1, true), limit)
    end
    assert.is_truthy(text:find('proxyapi_up{profile="test"} 1\n', 1, true))
    assert.is_truthy(text:find("proxyapi_product_expiry_timestamp_seconds{", 1, true))
    local p = io.popen("ls -A " .. helper.quote(dir))
    local listing = p:read("a")
    p:close()
    assert.equal("proxyapi.prom\n", listing) -- no temporary file left behind
  end)

  it("writes proxyapi_up 0 and exits 5 when the API is down", function()
    local path = dir .. "/proxyapi.prom"
    fake:fault { path = "/openapi/whitelist-account/list", status = 503, times = -1 }
    local status, _, err = run { "--textfile", path }
    assert.equal(5, status)
    assert.matches("503", err)
    assert.is_truthy(read(path):find('proxyapi_up{profile="test"} 0\n', 1, true))
  end)

  it("needs one of --textfile and --listen, refuses other hosts without --listen-any", function()
    assert.equal(2, (run {}))
    assert.equal(2, (run { "--textfile", dir .. "/x.prom", "--listen", "127.0.0.1:0" }))
    assert.equal(2, (run { "--listen", "127.0.0.1:0", "--min-interval", "0" }))
    local status, _, err = run { "--listen", "0.0.0.0:0" }
    assert.equal(2, status)
    assert.matches("not a loopback address", err)
    assert.equal(2, (run { "--textfile", "/nonexistent-dir/x.prom" }))
  end)
end)

describe("metrics --listen in a child process", function()
  local function http_get(url)
    local chunks = {}
    local http = require "socket.http"
    local saved = http.TIMEOUT
    http.TIMEOUT = 1
    local ok, status = http.request { url = url, sink = require("ltn12").sink.table(chunks) }
    http.TIMEOUT = saved
    return ok and status, table.concat(chunks)
  end

  local function alive(pid)
    return os.execute("kill -0 " .. pid .. " 2>/dev/null") == true
  end

  it("is scraped by Prometheus with the fake's values, and ends on SIGTERM", function()
    if not io.open(PROMETHEUS) then
      pending(PROMETHEUS .. " is not installed")
      return
    end
    local fake = helper.start_fake()
    local dir = tempdir()
    local prom_pid, child_pid
    finally(function()
      for _, pid in ipairs { prom_pid or 0, child_pid or 0 } do
        if pid > 0 and alive(pid) then
          os.execute("kill " .. pid)
          local until_t = socket.gettime() + 10
          while alive(pid) and socket.gettime() < until_t do socket.sleep(0.05) end
          if alive(pid) then os.execute("kill -9 " .. pid) end
        end
      end
      fake:stop()
      os.execute("rm -rf " .. helper.quote(dir))
    end)
    local deadline = socket.gettime() + DEADLINE
    local function wait_for(what, fn)
      while true do
        local v = fn()
        if v then return v end
        assert(socket.gettime() < deadline, what .. " did not happen within " .. DEADLINE .. " s")
        socket.sleep(0.05)
      end
    end

    -- the command, as a process, with a profile "test" for the fake (the inner
    -- shell execs pxlua; the outer keeps its status)
    local port = helper.refused_port()
    local cf = assert(io.open(dir .. "/config.lua", "w"))
    cf:write(string.format("profiles = { test = { base_url = %q, app_key_env = 'FAKE_KEY' } }\n", fake.base_url))
    cf:close()
    local inner = string.format("echo $$ > %s/pid; exec env FAKE_KEY=%s XDG_STATE_HOME=%s/state %s scripts/proxyapi " ..
      "--profile test --config %s/config.lua metrics --listen 127.0.0.1:%d --min-interval 60", dir, fake.app_key, dir,
      helper.PXLUA, dir, port)
    os.execute(string.format("(sh -c %s > %s/out 2> %s/err; echo $? > %s/status) &", helper.quote(inner), dir, dir,
      dir))
    wait_for("the metrics server", function() return read(dir .. "/err"):find("serving http://127.0.0.1:" .. port) end)
    child_pid = tonumber(read(dir .. "/pid"))

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
    local prom_port = helper.refused_port()
    local p = io.popen(string.format("%s --config.file=%s --storage.tsdb.path=%s/data " ..
      "--web.listen-address=127.0.0.1:%d > %s/prom.log 2>&1 & echo $!", PROMETHEUS, helper.quote(config),
      helper.quote(dir), prom_port, helper.quote(dir)))
    prom_pid = tonumber(p:read("l"))
    p:close()
    local base = "http://127.0.0.1:" .. prom_port
    local skipped
    wait_for("Prometheus ready", function()
      if not alive(prom_pid) then
        skipped = "prometheus did not start: " .. read(dir .. "/prom.log"):sub(-400)
        return true
      end
      return http_get(base .. "/-/ready") == 200
    end)
    if skipped then
      pending(skipped)
      return
    end
    local function query(q)
      local status, body = http_get(base .. "/api/v1/query?query=" ..
        q:gsub("[^%w_]", function(c) return string.format("%%%02X", c:byte()) end))
      if status ~= 200 then return nil end
      local result = cjson.decode(body).data.result
      return result[1] and tonumber(result[1].value[2])
    end
    local truth = fake:accounts()
    local names = {}
    for name in pairs(truth) do names[#names + 1] = name end
    table.sort(names)
    local known = truth[names[1]]
    local value = wait_for("the account's usage in Prometheus", function()
      return query('proxyapi_account_usage_bytes{profile="test",account="' .. known.username .. '"}')
    end)
    assert.equal(known.usage_flow * 1024, value)
    assert.equal(1, query('proxyapi_up{profile="test"}'))
    -- the client's on_request feeds the counters: one poll (min-interval 60 s), one list call
    assert.equal(1, query('proxyapi_api_requests_total{endpoint="GET /openapi/whitelist-account/list",outcome="ok"}'))
    assert.is_true(query('proxyapi_api_request_duration_seconds_count{endpoint="GET /openapi/user-product/list"}') >= 1)

    os.execute("kill -TERM " .. child_pid)
    wait_for("the end of metrics --listen", function() return read(dir .. "/status"):find("\n") end)
    assert.equal("143\n", read(dir .. "/status"), read(dir .. "/err"))
  end)
end)
