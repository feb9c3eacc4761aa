-- Prometheus text exposition: the gauges of a snapshot, the request
-- metrics, the atomic textfile write; promtool checks the output.
local metrics = require "proxyapi.metrics"
local variables = require "proxyapi.variables"
local helper = require "helper"

local PROMTOOL = "/usr/bin/promtool"

-- promtool check metrics on text: exit code and what it said.
local function promtool(text)
  local file = helper.tempfile(text)
  local code, out, err = helper.run(PROMTOOL .. " check metrics < " .. helper.quote(file))
  os.remove(file)
  return code, out .. err
end

local function assert_promtool_passes(text)
  local code, said = promtool(text)
  assert(code == 0, "promtool check metrics failed (" .. code .. "): " .. said .. "\n" .. text)
end

-- A reader of the text format for the specs: families with HELP, TYPE and
-- samples (label values unescaped); raises on anything it cannot read,
-- a second HELP or TYPE, a sample before its family's TYPE, or a series twice.
local function parse(text)
  local families, order, seen = {}, {}, {}
  local unescape = { ["\\"] = "\\", ['"'] = '"', n = "\n" }
  for line in text:gmatch("([^\n]*)\n") do
    local kind, name, rest = line:match("^# (%u+) ([%a_:][%w_:]*) (.*)$")
    if kind == "HELP" or kind == "TYPE" then
      local f = families[name]
      if not f then
        f = { samples = {} }
        families[name], order[#order + 1] = f, name
      end
      assert(f[kind] == nil, "second " .. kind .. " for " .. name)
      f[kind] = rest
    else
      local sname, labels_text, value = line:match("^([%a_:][%w_:]*)(%b{}) (%S+)$")
      if not sname then
        sname, value = line:match("^([%a_:][%w_:]*) (%S+)$")
        labels_text = "{}"
      end
      assert(sname, "unreadable line: " .. line)
      local base = sname:gsub("_bucket$", ""):gsub("_sum$", ""):gsub("_count$", "")
      local f = families[sname] or families[base]
      assert(f and f.TYPE, "sample before its TYPE: " .. line)
      local labels, inner, pos = {}, labels_text:sub(2, -2), 1
      while pos <= #inner do
        local lname, after = inner:match('^([%a_][%w_]*)="()', pos)
        assert(lname, "bad labels: " .. labels_text)
        local chars, i = {}, after
        while inner:sub(i, i) ~= '"' do
          local c = inner:sub(i, i)
          assert(c ~= "" and c ~= "\n", "unterminated label value: " .. line)
          if c == "\\" then
            c = assert(unescape[inner:sub(i + 1, i + 1)], "bad escape: " .. line)
            i = i + 1
          end
          chars[#chars + 1], i = c, i + 1
        end
        labels[lname] = table.concat(chars)
        pos = i + 1
        if inner:sub(pos, pos) == "," then
          pos = pos + 1
        end
      end
      local series = line:match("^(.-) %S+$")
      assert(not seen[series], "series twice: " .. series)
      seen[series] = true
      f.samples[#f.samples + 1] = { name = sname, labels = labels, value = tonumber(value) or value }
    end
  end
  return families, order
end

-- the samples of a family whose labels include these
local function samples(families, name, labels)
  local out = {}
  for _, s in ipairs(families[name].samples) do
    local match = true
    for k, v in pairs(labels or {}) do
      match = match and s.labels[k] == v
    end
    if match then
      out[#out + 1] = s
    end
  end
  return out
end

local GAUGES = { "proxyapi_account_enabled", "proxyapi_account_limit_bytes", "proxyapi_account_usage_bytes",
                 "proxyapi_product_expiry_timestamp_seconds", "proxyapi_up" }

describe("promtool", function()
  it("is installed (Debian's prometheus package)", function()
    assert(io.open(PROMTOOL), PROMTOOL .. " is missing: apt-get install prometheus")
  end)

  it("fails on broken text, so the checks below can fail", function()
    local good = metrics.render { profiles = { p = { up = true, accounts = { { username = "a", usage_flow = 1 } } } } }
    assert_promtool_passes(good)
    for _, broken in ipairs {
      good:gsub('account="a"', 'account="a'),            -- unterminated label value
      good:gsub("# TYPE proxyapi_up gauge", "# TYPE proxyapi_up gauge\n# TYPE proxyapi_up gauge"),
      good .. 'proxyapi_up{profile="p"} one\n',         -- not a number
      good:gsub('account="a"', 'account="\255"'),       -- not UTF-8
    } do
      local code = promtool(broken)
      assert.not_equal(0, code, broken)
    end
  end)
end)

describe("metrics.render", function()
  local fake, api

  setup(function()
    fake = helper.start_fake()
    api = fake:client()
  end)

  teardown(function()
    fake:stop()
  end)

  local function fake_snapshot()
    local products = {}
    for product in api:each_product {} do
      products[#products + 1] = product
    end
    return { profiles = { fake = { up = true, accounts = assert(api:list_accounts()), products = products } } }
  end

  it("renders the fake's accounts and packages as promtool wants them, in base units", function()
    local snapshot = fake_snapshot()
    local text = metrics.render(snapshot)
    assert_promtool_passes(text)
    local families, order = parse(text)
    assert.same(GAUGES, order)
    for _, name in ipairs(GAUGES) do
      assert.equal("gauge", families[name].TYPE)
      assert.is_truthy(families[name].HELP:find("%S"))
    end
    local truth = fake:accounts() -- the fake's own state, not the client's reading of it
    assert.equal(5, #families.proxyapi_account_usage_bytes.samples)
    for username, a in pairs(truth) do
      local l = { profile = "fake", account = username }
      assert.equal(a.usage_flow * 1024, samples(families, "proxyapi_account_usage_bytes", l)[1].value)
      assert.equal(a.limit_flow * 1024 ^ 3, samples(families, "proxyapi_account_limit_bytes", l)[1].value)
      assert.equal(a.status == 1 and 1 or 0, samples(families, "proxyapi_account_enabled", l)[1].value)
    end
    local products = snapshot.profiles.fake.products
    assert.equal(45, #products)
    assert.equal(#products, #families.proxyapi_product_expiry_timestamp_seconds.samples)
    for _, p in ipairs(products) do
      local s = samples(families, "proxyapi_product_expiry_timestamp_seconds", { trade_no = p.trade_no })
      assert.equal(1, #s)
      assert.same({ profile = "fake", trade_no = p.trade_no, product_type = tostring(p.product_type) }, s[1].labels)
      assert.equal(variables.epoch(p.expired_at), s[1].value)
    end
    assert.same({ { name = "proxyapi_up", labels = { profile = "fake" }, value = 1 } }, families.proxyapi_up.samples)
  end)

  it("is the same text for the same data in any order (sorted, diffable)", function()
    local snapshot = fake_snapshot()
    local text = metrics.render(snapshot)
    local p = snapshot.profiles.fake
    local reversed = { accounts = {}, products = {}, up = true }
    for i = #p.accounts, 1, -1 do reversed.accounts[#reversed.accounts + 1] = p.accounts[i] end
    for i = #p.products, 1, -1 do reversed.products[#reversed.products + 1] = p.products[i] end
    assert.equal(text, metrics.render { profiles = { fake = reversed } })
    local lines = helper.lines(text)
    local usage = {}
    for _, line in ipairs(lines) do
      if line:find("^proxyapi_account_usage_bytes{") then usage[#usage + 1] = line end
    end
    local sorted = { table.unpack(usage) }
    table.sort(sorted)
    assert.same(sorted, usage)
  end)

  it("keeps every family valid with nothing in it", function()
    for _, snapshot in ipairs { {}, { profiles = {} }, { profiles = { empty = { up = false } } },
                                { profiles = { p = { up = 1, accounts = {}, products = {} } } } } do
      local text = metrics.render(snapshot)
      assert_promtool_passes(text)
      local families, order = parse(text)
      assert.same(GAUGES, order)
      assert.equal(0, #families.proxyapi_account_usage_bytes.samples)
    end
    local families = parse(metrics.render { profiles = { empty = { up = false } } })
    assert.same({ profile = "empty" }, families.proxyapi_up.samples[1].labels)
    assert.equal(0, families.proxyapi_up.samples[1].value)
    -- no profile known at all (the first poll failed): one proxyapi_up without labels
    families = parse(metrics.render { up = false })
    assert.same({ { name = "proxyapi_up", labels = {}, value = 0 } }, families.proxyapi_up.samples)
  end)

  it("escapes label values and keeps them UTF-8", function()
    local odd = { 'quo"te', "back\\slash", "new\nline", "all \\\"\n three", "日本語 ✓", "trailing\\" }
    local accounts, products = {}, {}
    for i, name in ipairs(odd) do
      accounts[i] = { username = name, usage_flow = i, limit_flow = 0, status = 1 }
      products[i] = { trade_no = name, product_type = 9, expired_at = "2026-12-0" .. i .. " 00:00:00" }
    end
    accounts[#accounts + 1] = { username = "bad\255utf8", usage_flow = 99, limit_flow = 0, status = 0 }
    local text = metrics.render { profiles = { ['pro"file\n\\'] = { up = true, accounts = accounts,
                                                                     products = products } } }
    assert_promtool_passes(text)
    local families = parse(text)
    for i, name in ipairs(odd) do
      local s = samples(families, "proxyapi_account_usage_bytes", { account = name })
      assert.equal(1, #s, name)
      assert.equal(i * 1024, s[1].value)
      assert.equal('pro"file\n\\', s[1].labels.profile)
      assert.equal(1, #samples(families, "proxyapi_product_expiry_timestamp_seconds", { trade_no = name }))
    end
    assert.equal(1, #samples(families, "proxyapi_account_usage_bytes", { account = "bad\u{FFFD}utf8" }))
    assert.equal('a\\"b\\\\c\\nd', metrics.escape_label('a"b\\c\nd'))
  end)

  it("renders unlimited accounts with limit 0 and leaves out what is missing", function()
    local text = metrics.render { profiles = { p = { up = true, accounts = {
      { username = "unlimited", usage_flow = 50 * 1024 * 1024, limit_flow = 0, status = 1 },
      { username = "capped", usage_flow = 0, limit_flow = 102400, status = 0 },
      { username = "partial", usage_flow = 7 },
      { remark = "no username" },
    }, products = {
      { trade_no = "1", product_type = 25, expired_at = "not a time" },
      { trade_no = "2" , expired_at = "2027-01-01 00:00:00" },
      { product_type = 9, expired_at = "2027-01-01 00:00:00" },
    } } }, utc_offset = 8 * 3600 }
    assert_promtool_passes(text)
    local families = parse(text)
    assert.equal(0, samples(families, "proxyapi_account_limit_bytes", { account = "unlimited" })[1].value)
    assert.equal(50 * 1024 ^ 3, samples(families, "proxyapi_account_usage_bytes", { account = "unlimited" })[1].value)
    assert.equal(102400 * 1024 ^ 3, samples(families, "proxyapi_account_limit_bytes", { account = "capped" })[1].value)
    assert.equal(0, samples(families, "proxyapi_account_enabled", { account = "capped" })[1].value)
    assert.equal(0, #samples(families, "proxyapi_account_limit_bytes", { account = "partial" }))
    assert.equal(3, #families.proxyapi_account_usage_bytes.samples)
    -- 2027-01-01 00:00:00 at UTC+8 is 2026-12-31T16:00:00Z
    assert.same({ { name = "proxyapi_product_expiry_timestamp_seconds", value = 1798732800,
                    labels = { profile = "p", trade_no = "2" } } },
      families.proxyapi_product_expiry_timestamp_seconds.samples)
    assert.is_truthy(text:find('{profile="p",trade_no="2"} ', 1, true)) -- no empty product_type
  end)

  it("writes one series for a username listed twice (the lowest id wins)", function()
    local text = metrics.render { profiles = { p = { up = true, accounts = {
      { id = 9, username = "twin", usage_flow = 2, limit_flow = 0, status = 1 },
      { id = 3, username = "twin", usage_flow = 1, limit_flow = 0, status = 1 },
    }, products = { { trade_no = "t", product_type = 9, expired_at = "2027-01-01 00:00:00" },
                    { trade_no = "t", product_type = 9, expired_at = "2027-02-01 00:00:00" } } } } }
    local families = parse(text)
    assert.same({ 1024 }, { samples(families, "proxyapi_account_usage_bytes", {})[1].value,
                            samples(families, "proxyapi_account_usage_bytes", {})[2] })
    assert.equal(1, #families.proxyapi_product_expiry_timestamp_seconds.samples)
  end)

  it("formats numbers exactly", function()
    assert.same({ "0", "1073741824", "0.1", "0.025", "1.5", "+Inf", "-Inf", "NaN", "3", "0.30000000000000004" },
      { metrics.number(0), metrics.number(1073741824), metrics.number(0.1), metrics.number(0.025),
        metrics.number(1.5), metrics.number(1 / 0), metrics.number(-1 / 0), metrics.number(0 / 0),
        metrics.number(3.0), metrics.number(0.1 + 0.2) })
  end)
end)

describe("metrics.requests", function()
  it("counts outcomes and keeps a cumulative histogram", function()
    local reqs = metrics.requests()
    local list = "GET /openapi/whitelist-account/list"
    for _, e in ipairs { 0.01, 0.03, 0.03, 0.7, 45 } do
      reqs:observe { method = "GET", path = "/openapi/whitelist-account/list", elapsed = e, status = 200 }
    end
    reqs:observe { method = "GET", path = "/openapi/whitelist-account/list", elapsed = 5, error = "timeout" }
    reqs:observe({ method = "POST", path = "/x", elapsed = 0.2, error = "api" }, "add_accounts")
    reqs:observe { method = "GET", path = "/openapi/whitelist-account/list", error = "network" } -- no elapsed
    local text = reqs:render()
    assert_promtool_passes(text)
    local families, order = parse(text)
    assert.same({ "proxyapi_api_requests_total", "proxyapi_api_request_duration_seconds" }, order)
    assert.equal("counter", families.proxyapi_api_requests_total.TYPE)
    assert.equal("histogram", families.proxyapi_api_request_duration_seconds.TYPE)
    local function total(endpoint, outcome)
      local s = samples(families, "proxyapi_api_requests_total", { endpoint = endpoint, outcome = outcome })
      return s[1] and s[1].value
    end
    assert.same({ 5, 1, 1, 1 }, { total(list, "ok"), total(list, "timeout"), total(list, "network"),
                                  total("add_accounts", "api") })
    local buckets, sum, count = {}, nil, nil
    for _, s in ipairs(samples(families, "proxyapi_api_request_duration_seconds", { endpoint = list })) do
      if s.name:find("_bucket$") then
        buckets[#buckets + 1] = { s.labels.le, s.value }
      elseif s.name:find("_sum$") then
        sum = s.value
      else
        count = s.value
      end
    end
    assert.same({ { "0.025", 1 }, { "0.05", 3 }, { "0.1", 3 }, { "0.25", 3 }, { "0.5", 3 }, { "1", 4 },
                  { "2.5", 4 }, { "5", 5 }, { "10", 5 }, { "30", 5 }, { "+Inf", 6 } }, buckets)
    assert.equal(6, count)
    assert.near(50.77, sum, 1e-9)
  end)

  it("counts a client's real exchanges with the fake, failures by their kind", function()
    local fake = helper.start_fake()
    finally(function() fake:stop() end)
    local reqs = metrics.requests()
    local api = fake:client { retries = 1, on_request = function(info) reqs:observe(info) end }
    assert(api:list_accounts())
    fake:fault { path = "/openapi/user-product/list", status = 503, times = 1 }
    assert(api:list_products {})
    local families = parse(reqs:render())
    local function total(endpoint, outcome)
      local s = samples(families, "proxyapi_api_requests_total", { endpoint = endpoint, outcome = outcome })
      return s[1] and s[1].value
    end
    assert.same({ 1, 1, 1 }, { total("GET /openapi/whitelist-account/list", "ok"),
                               total("GET /openapi/user-product/list", "http"),
                               total("GET /openapi/user-product/list", "ok") })
    local count = samples(families, "proxyapi_api_request_duration_seconds",
      { endpoint = "GET /openapi/user-product/list" })
    assert.equal(2, count[#count].value)
    assert.is_nil(reqs:render():find(fake.app_key, 1, true))
  end)

  it("bounds the number of endpoint labels", function()
    local reqs = metrics.requests()
    for i = 1, 100 do
      reqs:observe { method = "GET", path = "/p" .. i, elapsed = 0.1 }
    end
    local families = parse(reqs:render())
    assert.equal(65, #families.proxyapi_api_requests_total.samples)
    assert.equal(36, samples(families, "proxyapi_api_requests_total", { endpoint = "other" })[1].value)
    assert.has_error(function() metrics.requests { 1, 0.5 } end,
      "bad argument #1 to 'requests' (ascending numbers expected)")
  end)
end)

describe("metrics.write_textfile", function()
  local dir

  before_each(function()
    local p = io.popen("mktemp -d")
    dir = p:read("l")
    p:close()
  end)

  after_each(function()
    os.execute("rm -rf " .. helper.quote(dir))
  end)

  local function listing()
    local p = io.popen("ls -A " .. helper.quote(dir))
    local names = p:read("a")
    p:close()
    return helper.lines(names)
  end

  local function read(path)
    local f = assert(io.open(path))
    local text = f:read("a")
    f:close()
    return text
  end

  local function inode(path)
    local p = io.popen("stat -c %i " .. helper.quote(path))
    local n = p:read("l")
    p:close()
    return n
  end

  it("replaces the file by renaming a finished temporary file over it", function()
    local path = dir .. "/proxyapi.prom"
    assert.is_true(metrics.write_textfile(path, "first\n"))
    local before = inode(path)
    local text = metrics.render { profiles = { p = { up = true } } }
    assert.is_true(metrics.write_textfile(path, text))
    assert.equal(text, read(path))
    assert.not_equal(before, inode(path)) -- a new file took the name: never rewritten in place
    assert.same({ "proxyapi.prom" }, listing()) -- no temporary file left behind
  end)

  it("syncs the temporary file before the rename, and the folder after, when the core can", function()
    local real = package.loaded["proxyapi.core"]
    local calls = {}
    package.loaded["proxyapi.core"] = setmetatable({ fsync = function(p)
      calls[#calls + 1] = { p, io.open(dir .. "/proxyapi.prom") ~= nil }
      return true
    end }, { __index = real })
    finally(function() package.loaded["proxyapi.core"] = real end)
    assert.is_true(metrics.write_textfile(dir .. "/proxyapi.prom", "x 1\n"))
    assert.equal(2, #calls)
    assert.matches("^" .. dir:gsub("%p", "%%%0") .. "/%.proxyapi%.prom%.%d+%.tmp$", calls[1][1])
    assert.is_false(calls[1][2]) -- the target did not exist yet while the temporary file was synced
    assert.same({ dir, true }, calls[2])

    -- a failed sync leaves the old file as it was and no temporary file
    package.loaded["proxyapi.core"] = { fsync = function() return nil, "fsync: Input/output error" end }
    assert.same({ nil, "fsync: Input/output error" }, { metrics.write_textfile(dir .. "/proxyapi.prom", "y 2\n") })
    assert.equal("x 1\n", read(dir .. "/proxyapi.prom"))
    assert.same({ "proxyapi.prom" }, listing())
  end)

  it("returns nil and why when it cannot write, leaving the old file", function()
    local ok, err = metrics.write_textfile(dir .. "/missing/proxyapi.prom", "x")
    assert.is_nil(ok)
    assert.matches("No such file or directory", err)
    assert.same({ nil, dir .. "/: not a file name" }, { metrics.write_textfile(dir .. "/", "x") })
    local path = dir .. "/proxyapi.prom"
    assert(metrics.write_textfile(path, "old\n"))
    os.execute("chmod 500 " .. helper.quote(dir))
    finally(function() os.execute("chmod 700 " .. helper.quote(dir)) end)
    local wrote = io.open(dir .. "/probe", "w")
    if wrote then
      wrote:close()
      os.remove(dir .. "/probe")
      pending("running as root: a read-only folder is still writable")
      return
    end
    ok, err = metrics.write_textfile(path, "new\n")
    assert.is_nil(ok)
    assert.matches("Permission denied", err)
    assert.equal("old\n", read(path))
  end)
end)
