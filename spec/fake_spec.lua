-- The fake provider API, exercised over real HTTP from a separate process.
local socket = require "socket"
local http = require "socket.http"
local ltn12 = require "ltn12"
local cjson = require "cjson"

local base, key, pipe
local ACCOUNTS = "/openapi/whitelist-account/"

local function escape(s)
  return (tostring(s):gsub("[^%w%-_.~]", function(c) return string.format("%%%02X", c:byte()) end))
end

-- method, path, body (string or table) -> status, body text, headers
local function request(method, path, body, headers)
  local chunks, hdrs, source = {}, headers or {}, nil
  if body ~= nil then
    if type(body) ~= "string" then body = cjson.encode(body) end
    hdrs["content-type"], hdrs["content-length"] = "application/json", #body
    source = ltn12.source.string(body)
  end
  local ok, status, reply_headers = http.request { url = base .. path, method = method, headers = hdrs,
                                                    source = source, sink = ltn12.sink.table(chunks) }
  assert(ok, status)
  return status, table.concat(chunks), reply_headers
end

local function query(params)
  local parts = {}
  for k, v in pairs(params) do parts[#parts + 1] = escape(k) .. "=" .. escape(v) end
  return #parts > 0 and "?" .. table.concat(parts, "&") or ""
end

-- GET with the key unless params.app_key is given (false: none) -> envelope, raw text, status
local function api_get(path, params)
  params = params or {}
  if params.app_key == nil then params.app_key = key end
  if params.app_key == false then params.app_key = nil end
  local status, text, headers = request("GET", path .. query(params))
  local ok, decoded = pcall(cjson.decode, text)
  return ok and decoded or nil, text, status, headers
end

local function api_post(path, params)
  params = params or {}
  if params.app_key == nil then params.app_key = key end
  if params.app_key == false then params.app_key = nil end
  local status, text = request("POST", ACCOUNTS .. path, params)
  return cjson.decode(text), text, status
end

local function control(method, path, body)
  local status, text = request(method, "/_fake/" .. path, body)
  return cjson.decode(text), status, text
end

local function accounts()
  local reply = api_get(ACCOUNTS .. "list")
  local by_name = {}
  for _, a in ipairs(reply.data.list) do by_name[a.username] = a end
  return reply.data.list, by_name
end

local function provider_log()
  return control("GET", "log").data.list
end

-- Raw connections, for what an HTTP client library hides.
local function raw_connect(timeout)
  local host, port = base:match "^http://([^:/]+):(%d+)"
  local c = assert(socket.connect(host, tonumber(port)))
  c:settimeout(timeout or 2)
  return c
end

local function raw_request(method, path, body, extra)
  body = body and (type(body) == "string" and body or cjson.encode(body))
  return method .. " " .. path .. " HTTP/1.1\r\nHost: 127.0.0.1\r\n" .. (extra or "")
    .. (body and "Content-Type: application/json\r\nContent-Length: " .. #body .. "\r\n\r\n" .. body or "\r\n")
end

-- -> { status =, headers =, body = } or nil, err, what was read
local function read_response(c)
  local line, err = c:receive "*l"
  if not line then return nil, err, "" end
  local r = { status = tonumber(line:match "^HTTP/1%.1 (%d%d%d)"), headers = {} }
  repeat
    line, err = c:receive "*l"
    if not line then return nil, err, "" end
    local name, value = line:match "^([^:]+):%s*(.*)$"
    if name then r.headers[name:lower()] = value end
  until line == ""
  local body, partial
  body, err, partial = c:receive(tonumber(r.headers["content-length"]))
  if not body then return nil, err, partial, r end
  r.body = body
  return r
end

local function start_fake(flags)
  local p = assert(io.popen("exec lua5.4 scripts/proxyapi-fake --port 0 --ttl 300 " .. flags))
  local url = p:read "l":match "^PROXYAPI_BASE_URL=(.*)$"
  local app_key = p:read "l":match "^PROXYAPI_APP_KEY=(.*)$"
  return p, url, app_key
end

local function list_path_with_key() return ACCOUNTS .. "list?app_key=" .. key end

describe("proxyapi-fake", function()
  setup(function()
    pipe, base, key = start_fake "--seed 7"
    http.TIMEOUT = 5
  end)

  teardown(function()
    control("POST", "shutdown")
    pipe:close()
  end)

  before_each(function()
    assert.equal(200, control("POST", "reset").code)
  end)

  it("prints its base URL and a generated 32-character key", function()
    assert.matches("^http://127%.0%.0%.1:%d+$", base)
    assert.matches("^%w+$", key)
    assert.equal(32, #key)
  end)

  describe("accounts", function()
    it("lists the seeded accounts in id order with every field", function()
      local reply = api_get(ACCOUNTS .. "list")
      assert.same({ 200, "success" }, { reply.code, reply.msg })
      local list = reply.data.list
      assert.is_true(#list >= 3)
      for i, a in ipairs(list) do
        assert.is_true(math.tointeger(a.id) ~= nil)
        if i > 1 then assert.is_true(a.id > list[i - 1].id) end
        assert.matches("^%w+$", a.username)
        assert.matches("^%w+$", a.password)
        assert.matches("^%d%d%d%d%-%d%d%-%d%d %d%d:%d%d:%d%d$", a.created_at)
        assert.equal("string", type(a.remark))
        assert.truthy(({ [9] = 1, [11] = 1, [14] = 1, [25] = 1 })[a.product_type])
        assert.truthy(a.usage_flow >= 0 and a.limit_flow >= 0 and (a.status == 0 or a.status == 1))
      end
    end)

    it("answers code 3 for a wrong or missing key, on GET and POST, never echoing it", function()
      for _, k in ipairs { "wrongkey123", false } do
        local reply, text = api_get(ACCOUNTS .. "list", { app_key = k })
        assert.same({ 3, "invalid app_key" }, { reply.code, reply.msg })
        assert.is_nil(text:find("wrongkey123", 1, true))
        reply = api_post("add", { app_key = k, accounts = "keyless1:pw" })
        assert.equal(3, reply.code)
      end
      local _, by_name = accounts()
      assert.is_nil(by_name.keyless1)
    end)

    it("refuses every write with code 156 when not verified, changing nothing", function()
      local before = accounts()
      assert.is_true(control("POST", "config", { not_verified = true }).data.not_verified)
      local reply = api_post("add", { accounts = "nv1:pw" })
      assert.same({ 156, "account not real-name verified" }, { reply.code, reply.msg })
      assert.equal(156, api_post("delete", { accounts = before[1].username }).code)
      assert.equal(156, api_post("change-limit", { account = before[1].username, limit = 5 }).code)
      assert.equal(3, api_post("add", { app_key = "bad", accounts = "nv1:pw" }).code)
      assert.same(before, accounts())
      assert.is_true(control("GET", "state").data.not_verified)
    end)

    it("adds accounts atomically with defaults, shown in the list", function()
      local before = accounts()
      local reply, text = api_post("add", { accounts = "alpha1:Pw1,beta2:Pw2", remark = "新账号 new" })
      assert.same({ 200, "success", cjson.null }, { reply.code, reply.msg, reply.data })
      assert.matches('"data":null', text)
      local list, by_name = accounts()
      assert.equal(#before + 2, #list)
      local a = by_name.alpha1
      assert.same({ "Pw1", "新账号 new", 9, 0, 0, 1 },
        { a.password, a.remark, a.product_type, a.usage_flow, a.limit_flow, a.status })
      assert.is_true(a.id > before[#before].id and by_name.beta2.id > a.id)
      assert.matches("^%d%d%d%d%-%d%d%-%d%d %d%d:%d%d:%d%d$", a.created_at)
      assert.equal(200, api_post("add", { accounts = "gamma3:x", product_type = 25 }).code)
      assert.equal(25, select(2, accounts()).gamma3.product_type)
    end)

    it("enforces the remark width: 64 units, Chinese counting 2", function()
      local cases = {
        { string.rep("a", 64), 200 }, { string.rep("a", 65), 400 },
        { string.rep("中", 32), 200 }, { string.rep("中", 33), 400 },
        { string.rep("中", 31) .. "ab", 200 }, { string.rep("中", 31) .. "abc", 400 },
        { "tab\there", 400 }, { "bad\xffutf8", 400 }, { "", 200 },
      }
      for i, case in ipairs(cases) do
        local reply = api_post("add", { accounts = "remark" .. i .. ":pw", remark = case[1] })
        assert.equal(case[2], reply.code, "remark case " .. i)
        if case[2] == 400 then assert.matches("remark", reply.msg) end
        reply = api_post("change-remark", { account = "remark1", remark = case[1] })
        assert.equal(case[2], reply.code, "change-remark case " .. i)
      end
    end)

    it("refuses bad names, passwords, types and duplicates, adding nothing", function()
      local existing = accounts()[1].username
      local bad = {
        { accounts = "bad name:pw" }, { accounts = "bad-name:pw" }, { accounts = "名字:pw" },
        { accounts = "okname:p@ss" }, { accounts = "okname:" }, { accounts = "okname" },
        { accounts = "okname:pw,," }, { accounts = "" }, { accounts = "okname:pw," .. existing .. ":pw" },
        { accounts = "okname:pw,okname:pw2" }, { accounts = "okname:pw", product_type = 10 },
        { accounts = "okname:pw", product_type = "9" }, { accounts = 5 }, {},
      }
      for i, params in ipairs(bad) do
        local reply = api_post("add", params)
        assert.equal(400, reply.code, "case " .. i)
        assert.equal("string", type(reply.msg))
      end
      assert.matches("repeated", api_post("add", { accounts = "dup1:a,dup1:b" }).msg)
      assert.matches(existing, api_post("add", { accounts = "new9:a," .. existing .. ":b" }).msg)
      local _, by_name = accounts()
      assert.is_nil(by_name.okname)
      assert.is_nil(by_name.new9)
      local status, text = request("POST", ACCOUNTS .. "add", "[1,2]")
      assert.equal(200, status)
      assert.equal(400, cjson.decode(text).code)
      assert.equal(400, cjson.decode((select(2, request("POST", ACCOUNTS .. "add", "not json")))).code)
    end)

    it("disables, enables and deletes, all or nothing", function()
      local list = accounts()
      local a, b = list[1].username, list[2].username
      assert.equal(200, api_post("disable", { accounts = a .. "," .. b }).code)
      local _, by_name = accounts()
      assert.same({ 0, 0 }, { by_name[a].status, by_name[b].status })
      assert.equal(200, api_post("enable", { accounts = a }).code)
      assert.equal(1, select(2, accounts())[a].status)
      for _, path in ipairs { "disable", "enable", "delete" } do
        local reply = api_post(path, { accounts = b .. ",nosuchuser" })
        assert.equal(400, reply.code)
        assert.matches("nosuchuser", reply.msg)
        assert.equal(400, api_post(path, { accounts = "bad name" }).code)
        assert.equal(400, api_post(path, {}).code)
      end
      assert.equal(0, select(2, accounts())[b].status)
      assert.equal(200, api_post("delete", { accounts = a .. "," .. b }).code)
      local after
      after, by_name = accounts()
      assert.equal(#list - 2, #after)
      assert.is_nil(by_name[a])
      assert.equal(400, api_post("enable", { accounts = a }).code)
    end)

    it("changes password, remark and limit within their bounds", function()
      local name = accounts()[1].username
      assert.equal(200, api_post("change-password", { account = name, password = "NewPass9" }).code)
      assert.equal(400, api_post("change-password", { account = name, password = "no pass" }).code)
      assert.equal(400, api_post("change-password", { account = "ghost", password = "x1" }).code)
      assert.equal(200, api_post("change-remark", { account = name, remark = "" }).code)
      assert.equal(400, api_post("change-remark", { account = name }).code)
      for _, limit in ipairs { 0, 102400, 77 } do
        assert.equal(200, api_post("change-limit", { account = name, limit = limit }).code)
      end
      for _, limit in ipairs { -1, 102401, 1.5, "5" } do
        local reply = api_post("change-limit", { account = name, limit = limit })
        assert.equal(400, reply.code, tostring(limit))
        assert.matches("limit", reply.msg)
      end
      assert.equal(400, api_post("change-limit", { account = "ghost", limit = 1 }).code)
      local a = select(2, accounts())[name]
      assert.same({ "NewPass9", "", 77 }, { a.password, a.remark, a.limit_flow })
    end)
  end)

  describe("usage", function()
    it("lists one entry per day, ascending, deterministic", function()
      local reply = api_get "/openapi/user-usage-flow/total"
      assert.equal(200, reply.code)
      assert.equal(7, #reply.data.list)
      assert.equal(os.date "%Y-%m-%d", reply.data.list[7].day)
      local name = accounts()[2].username
      local params = { start_time = "2025-06-01 00:00:00", end_time = "2025-06-10 12:00:00", username = name }
      local list = api_get("/openapi/user-usage-flow/total", params).data.list
      assert.equal(10, #list)
      assert.equal("2025-06-01", list[1].day)
      assert.equal("2025-06-10", list[10].day)
      for _, e in ipairs(list) do assert.is_true(math.tointeger(e.flow) ~= nil and e.flow >= 0) end
      assert.same(list, api_get("/openapi/user-usage-flow/total", params).data.list)
    end)

    it("gives an empty list for an unknown user and refuses bad times", function()
      local _, text = api_get("/openapi/user-usage-flow/total", { username = "nobodyhere" })
      assert.matches('"list":%[%]', text)
      for _, params in ipairs {
        { start_time = "2024-02-30 00:00:00" }, { end_time = "2024-01-01" },
        { start_time = "2024-03-02 00:00:00", end_time = "2024-03-01 00:00:00" }, { product_type = 3 },
      } do
        assert.equal(400, api_get("/openapi/user-usage-flow/total", params).code)
      end
      assert.equal(200, api_get("/openapi/user-usage-flow/total", { start_time = "2024-02-29 23:59:59",
                                                                     end_time = "2024-03-01 00:00:00" }).code)
    end)
  end)

  describe("products and static IPs", function()
    it("pages the products with right totals, past the end too", function()
      local page = api_get("/openapi/user-product/list").data
      assert.same({ 1, 20, 45, 3, 20 }, { page.page, page.page_size, page.total_count, page.total_page, #page.list })
      local last = api_get("/openapi/user-product/list", { page = 3 }).data
      assert.equal(5, #last.list)
      local _, text = api_get("/openapi/user-product/list", { page = 4 })
      local beyond = cjson.decode(text).data
      assert.matches('"list":%[%]', text)
      assert.same({ 4, 45, 3 }, { beyond.page, beyond.total_count, beyond.total_page })
      local p = page.list[1]
      assert.matches("^%d+$", p.trade_no)
      assert.equal(28, #p.trade_no)
      assert.truthy(p.order.created_at and p.order.pay_at and p.order.title and p.expired_at)
      local one = api_get("/openapi/user-product/list", { trade_no = p.trade_no }).data
      assert.same({ 1, p.id }, { one.total_count, one.list[1].id })
      local types = {}
      for _, t in ipairs { 9, 11, 14, 25 } do
        local typed = api_get("/openapi/user-product/list", { product_type = t, size = 100 }).data
        for _, item in ipairs(typed.list) do assert.equal(t, item.product_type) end
        types[#types + 1] = typed.total_count
        assert.is_true(typed.total_count > 0)
      end
      assert.equal(45, types[1] + types[2] + types[3] + types[4])
      for _, params in ipairs { { page = 0 }, { page = "x" }, { size = 101 }, { size = 0 }, { product_type = 1 } } do
        assert.equal(400, api_get("/openapi/user-product/list", params).code)
      end
    end)

    it("lists static IPs with filters and pages", function()
      local page = api_get("/ip/get-static-ip", { size = 100 }).data
      assert.equal(60, page.total_count)
      local statuses = {}
      for _, e in ipairs(page.list) do
        statuses[e.status] = true
        assert.matches("^%d+%.%d+%.%d+%.%d+$", e.ip)
        assert.truthy(e.port and e.username and e.password and e.country_code and e.city and e.trade_no
          and e.created_at and e.expired_at and (e.product_type == 14 or e.product_type == 25))
      end
      assert.same({ true, true, true, true }, statuses)
      local valid = api_get("/ip/get-static-ip", { status = 2, size = 7, page = 1 }).data
      for _, e in ipairs(valid.list) do assert.equal(2, e.status) end
      assert.equal(math.ceil(valid.total_count / 7), valid.total_page)
      for _, params in ipairs { { product_type = 9 }, { status = 5 }, { page = -1 } } do
        assert.equal(400, api_get("/ip/get-static-ip", params).code)
      end
    end)
  end)

  describe("IP extraction and locations", function()
    it("extracts distinct public addresses as JSON", function()
      local reply = api_get "/openapi/ip/v3"
      assert.equal(1, #reply.data.list)
      assert.equal(1, #reply.data.list[1])
      local list = api_get("/openapi/ip/v3", { num = 200, cc = "us", state = "CA", city = "Los Angeles" }).data.list[1]
      assert.equal(200, #list)
      local seen = {}
      for _, addr in ipairs(list) do
        local a, b, port = addr:match "^(%d+)%.(%d+)%.%d+%.%d+:(%d+)$"
        a, b, port = tonumber(a), tonumber(b), tonumber(port)
        assert.is_true(port >= 1140 and port <= 1199)
        assert.is_false(a == 10 or a == 127 or a >= 224 or (a == 192 and b == 168) or (a == 172 and b >= 16 and b < 32))
        assert.is_nil(seen[addr])
        seen[addr] = true
      end
      for _, params in ipairs { { num = 0 }, { num = 501 }, { cc = "XX" }, { cc = "US", state = "ZZ" },
                                { cc = "US", state = "CA", city = "Paris" }, { life = 0 } } do
        assert.equal(400, api_get("/openapi/ip/v3", params).code)
      end
    end)

    it("answers plain text joined by lb", function()
      local _, text, status, headers = api_get("/openapi/ip/v3", { num = 5, format = "text", lb = "|" })
      assert.equal(200, status)
      assert.matches("^text/plain", headers["content-type"])
      local n = 0
      for item in (text .. "|"):gmatch "([^|]*)|" do
        n = n + 1
        assert.matches("^%d+%.%d+%.%d+%.%d+:%d+$", item)
      end
      assert.equal(5, n)
      _, text = api_get("/openapi/ip/v3", { num = 3, format = "txt" })
      assert.equal(2, select(2, text:gsub("\r\n", "")))
    end)

    it("lists countries with cities and states, and searches them", function()
      local cities = api_get("/openapi/ip/dynamic-citys").data.list
      local states = api_get("/openapi/ip/dynamic-states").data.list
      assert.is_true(#cities >= 25)
      assert.equal(#cities, #states)
      for _, c in ipairs(cities) do
        assert.matches("^%u%u$", c.country_code)
        assert.truthy(c.name_en and c.name_zh_cn and c.continent_code and #c.items > 0)
        assert.truthy(c.items[1].city and c.items[1].state and c.items[1].country_code == c.country_code)
      end
      assert.truthy(states[1].items[1].state and states[1].items[1].city == nil)
      local found = api_get("/openapi/ip/dynamic-citys/search", { country_code = "US", state = "CA" }).data.list
      assert.truthy(table.concat(found, ","):find("Los Angeles", 1, true))
      local us_states = api_get("/openapi/ip/dynamic-states/search", { country_code = "US" }).data.list
      assert.truthy(table.concat(us_states, ","):find("NY", 1, true))
      local _, text = api_get("/openapi/ip/dynamic-states/search", { country_code = "QQ" })
      assert.matches('"list":%[%]', text)
      assert.equal(400, api_get("/openapi/ip/dynamic-states/search").code)
      assert.equal(400, api_get("/openapi/ip/dynamic-citys/search", { country_code = "US" }).code)
    end)
  end)

  it("answers 404 for unknown paths and 405 for wrong methods", function()
    local reply, _, status = api_get "/openapi/nothing-here"
    assert.same({ 404, 404 }, { status, reply.code })
    local _, _, status2 = api_get(ACCOUNTS .. "add")
    assert.equal(405, status2)
    assert.equal(404, select(2, control("GET", "nothing")))
  end)

  describe("faults", function()
    local list_path = ACCOUNTS .. "list"

    it("answers a status with Retry-After and headers, times times, then handles again", function()
      local queued = control("POST", "faults", { path = list_path, status = 503, times = 2, retry_after = 1,
                                                 headers = { ["X-Fault"] = "yes" } })
      assert.equal(1, queued.data.queued)
      for _ = 1, 2 do
        local reply, _, status, headers = api_get(list_path)
        assert.same({ 503, 503, "1", "yes" }, { status, reply.code, headers["retry-after"], headers["x-fault"] })
      end
      local _, _, status = api_get(list_path)
      assert.equal(200, status)
      local log = provider_log()
      assert.same({ "status 503", "status 503" }, { log[1].fault, log[2].fault })
      assert.is_nil(log[3].fault)
    end)

    it("answers an API code, a raw body, bad JSON, a wrong shape and an oversize body", function()
      control("POST", "faults", {
        { path = list_path, code = 500, msg = "busy" },
        { path = "*", body = "hello" },
        { path = list_path, action = "badjson" },
        { path = list_path, action = "wrong_shape" },
        { path = list_path, action = "oversize", size = 100000 },
      })
      local reply, _, status = api_get(list_path)
      assert.same({ 200, 500, "busy" }, { status, reply.code, reply.msg })
      assert.equal("hello", select(2, api_get "/openapi/ip/dynamic-citys"))
      local bad, text = api_get(list_path)
      assert.is_nil(bad)
      assert.equal('{"code":200,"msg":"ok","data":{', text)
      assert.equal("unexpected", api_get(list_path).data)
      local big
      big, text = api_get(list_path)
      assert.equal(100000, #text)
      assert.equal(200, big.code)
      assert.equal(200, api_get(list_path).code)
    end)

    it("matches the method, applies to any path with *, delays, and can be cleared", function()
      control("POST", "faults", { path = "*", method = "POST", code = 9, times = -1 })
      assert.equal(200, api_get(list_path).code)
      assert.equal(9, api_post("enable", { accounts = "x" }).code)
      assert.equal(9, api_post("disable", { accounts = "x" }).code)
      local _, status = control("DELETE", "faults")
      assert.equal(200, status)
      assert.equal(400, api_post("enable", { accounts = "x" }).code)
      control("POST", "faults", { path = list_path, delay = 0.3 })
      local t0 = socket.gettime()
      assert.equal(200, api_get(list_path).code)
      assert.is_true(socket.gettime() - t0 >= 0.3)
      assert.equal(400, select(2, control("POST", "faults", { path = list_path, action = "explode" })))
      assert.equal(400, select(2, control("POST", "faults", { path = list_path })))
    end)

    it("closes without handling, or drops the reply after handling", function()
      control("POST", "faults", { { path = ACCOUNTS .. "add", action = "close" },
                                  { path = ACCOUNTS .. "add", action = "drop_reply" } })
      for _, name in ipairs { "closed1", "dropped1" } do
        local c = raw_connect()
        c:send(raw_request("POST", ACCOUNTS .. "add", { app_key = key, accounts = name .. ":pw" }))
        local r, err, partial = read_response(c)
        assert.same({ "closed", "" }, { err, partial })
        assert.is_nil(r)
        c:close()
      end
      local _, by_name = accounts()
      assert.is_nil(by_name.closed1)
      assert.truthy(by_name.dropped1)
      local log = provider_log()
      assert.same({ "close", "drop_reply" }, { log[1].fault, log[2].fault })
    end)

    it("resets the connection, where close ends it cleanly", function()
      -- LuaSocket reports ECONNRESET as "closed" on receive; the pending
      -- socket error (SO_ERROR) tells an RST from a FIN.
      control("POST", "faults", { { path = list_path, action = "reset" }, { path = list_path, action = "close" } })
      for _, want in ipairs { "closed", false } do
        local c = raw_connect()
        c:send(raw_request("GET", list_path .. "?app_key=" .. key))
        assert.is_true(#socket.select({ c }, nil, 2) == 1)
        assert.equal(want, c:getoption "error" or false)
        assert.is_nil(read_response(c))
        c:close()
      end
    end)

    it("truncates a body, or stalls half way with the connection open", function()
      control("POST", "faults", { { path = list_path, action = "truncate" }, { path = list_path, action = "stall" } })
      local c = raw_connect()
      c:send(raw_request("GET", list_path .. "?app_key=" .. key))
      local r, err, partial, head = read_response(c)
      assert.is_nil(r)
      assert.equal("closed", err)
      assert.is_true(#partial < tonumber(head.headers["content-length"]))
      c:close()
      c = raw_connect(0.3)
      c:send(raw_request("GET", list_path .. "?app_key=" .. key))
      r, err, partial, head = read_response(c)
      assert.is_nil(r)
      assert.equal("timeout", err)
      assert.is_true(#partial > 0 and #partial < tonumber(head.headers["content-length"]))
      assert.equal(200, head.status)
      c:close()
    end)
  end)

  describe("HTTP", function()
    it("keeps a connection alive across requests and logs its id", function()
      local c = raw_connect()
      for _ = 1, 2 do
        c:send(raw_request("GET", list_path_with_key()))
        assert.equal(200, read_response(c).status)
      end
      c:send(raw_request("GET", list_path_with_key(), nil, "Connection: close\r\n"))
      local r = read_response(c)
      assert.equal("close", r.headers.connection)
      assert.equal("closed", select(2, c:receive(1)))
      c:close()
      assert.equal(200, api_get(ACCOUNTS .. "list").code)
      local log = provider_log()
      assert.equal(4, #log)
      assert.equal(log[1].conn, log[2].conn)
      assert.equal(log[1].conn, log[3].conn)
      assert.are_not.equal(log[1].conn, log[4].conn)
      assert.same({ 1, 2, 3, 4 }, { log[1].seq, log[2].seq, log[3].seq, log[4].seq })
    end)

    it("reads chunked bodies and answers Expect: 100-continue", function()
      local c = raw_connect()
      local body = cjson.encode { app_key = key, accounts = "chunky1:pw" }
      c:send("POST " .. ACCOUNTS .. "add HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        .. string.format("%x\r\n%s\r\n", 5, body:sub(1, 5))
        .. string.format("%x\r\n%s\r\n0\r\n\r\n", #body - 5, body:sub(6)))
      assert.equal(200, cjson.decode(read_response(c).body).code)
      body = cjson.encode { app_key = key, accounts = "expect1:pw" }
      c:send("POST " .. ACCOUNTS .. "add HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
        .. "Content-Length: " .. #body .. "\r\n\r\n")
      assert.equal("HTTP/1.1 100 Continue", c:receive "*l")
      assert.equal("", c:receive "*l")
      c:send(body)
      assert.equal(200, cjson.decode(read_response(c).body).code)
      c:close()
      local _, by_name = accounts()
      assert.truthy(by_name.chunky1 and by_name.expect1)
    end)

    it("answers 400 to a bad request line and closes", function()
      for _, bad in ipairs { "NOT A REQUEST\r\n\r\n", "GET / HTTP/1.1\r\nbad header\r\n\r\n" } do
        local c = raw_connect()
        c:send(bad)
        local r = read_response(c)
        assert.same({ 400, "close" }, { r.status, r.headers.connection })
        assert.equal("closed", select(2, c:receive(1)))
        c:close()
      end
    end)

    it("handles delayed requests on many connections at the same time", function()
      control("POST", "config", { delay = 0.2 })
      local conns = {}
      local t0 = socket.gettime()
      for i = 1, 8 do
        local c = raw_connect()
        c:settimeout(0)
        assert(c:send(raw_request("GET", list_path_with_key(), nil, "Connection: close\r\n")))
        conns[i] = { sock = c, got = {} }
      end
      local pending = 8
      while pending > 0 do
        local socks = {}
        for _, c in ipairs(conns) do if not c.done then socks[#socks + 1] = c.sock end end
        local readable = socket.select(socks, nil, 2)
        assert.is_true(#readable > 0)
        for _, c in ipairs(conns) do
          if not c.done and readable[c.sock] then
            local all, err, partial = c.sock:receive "*a"
            c.got[#c.got + 1] = all or partial
            if all or err == "closed" then c.done, pending = true, pending - 1 end
          end
        end
      end
      local elapsed = socket.gettime() - t0
      for _, c in ipairs(conns) do
        assert.matches("^HTTP/1%.1 200", table.concat(c.got))
        c.sock:close()
      end
      assert.is_true(elapsed < 0.8, "took " .. elapsed)
      local latest_start, earliest_end = 0, math.huge
      local log = provider_log()
      assert.equal(8, #log)
      for _, e in ipairs(log) do
        assert.is_true(e.t_end - e.t_start >= 0.19)
        latest_start, earliest_end = math.max(latest_start, e.t_start), math.min(earliest_end, e.t_end)
      end
      assert.is_true(latest_start < earliest_end)
    end)
  end)

  describe("log, state and reset", function()
    it("logs params without the app_key, and never the key", function()
      api_get("/openapi/ip/v3", { num = 2 })
      api_post("add", { accounts = "logged1:pw" })
      api_get(ACCOUNTS .. "list", { app_key = key .. "x" })
      local entry = control("GET", "log")
      local text = select(3, control("GET", "log"))
      assert.is_nil(text:find(key, 1, true))
      local log = entry.data.list
      assert.equal(3, #log)
      assert.same({ num = "2" }, log[1].params)
      assert.same({ accounts = "logged1:pw" }, log[2].params)
      assert.same({ "GET", "/openapi/ip/v3", 200 }, { log[1].method, log[1].path, log[1].status })
      assert.is_true(log[1].t_end >= log[1].t_start)
      control("POST", "log/clear")
      assert.equal(0, #provider_log())
    end)

    it("resets accounts, config and faults to the seeded start", function()
      local before = control("GET", "state").data
      api_post("delete", { accounts = before.accounts[1].username })
      control("POST", "config", { not_verified = true, delay = 0.01 })
      control("POST", "faults", { path = "*", code = 1, times = -1 })
      control("POST", "reset")
      local after = control("GET", "state").data
      assert.same(before.accounts, after.accounts)
      assert.same({ false, 0 }, { after.not_verified, after.delay })
      assert.equal(200, api_get(ACCOUNTS .. "list").code)
    end)

    it("gives the same data for the same seed, other data for another, and can start empty", function()
      local function snapshot(flags)
        local p, url, app_key = start_fake(flags)
        local saved_base, saved_key = base, key
        base, key = url, app_key
        local shot = { accounts = accounts(), products = api_get("/openapi/user-product/list").data.list,
                       ips = api_get("/ip/get-static-ip").data.list }
        control("POST", "shutdown")
        base, key = saved_base, saved_key
        p:close()
        return shot, app_key
      end
      local same, other_key = snapshot "--seed 7"
      assert.are_not.equal(key, other_key)
      assert.same(same, { accounts = accounts(), products = api_get("/openapi/user-product/list").data.list,
                          ips = api_get("/ip/get-static-ip").data.list })
      local other = snapshot "--seed 8"
      assert.are_not.same(same.products, other.products)
      assert.are_not.same(same.accounts, other.accounts)
      local empty = snapshot "--empty --app-key MyKey123"
      assert.same({}, empty.accounts)
    end)
  end)

  it("serves in-process through step()", function()
    local fake = require "proxyapi.fake"
    local server = assert(fake.new { port = 0, empty = true, app_key = "k1" })
    assert.equal("k1", server.app_key)
    local port = server.base_url:match ":(%d+)$"
    local c = assert(socket.connect("127.0.0.1", tonumber(port)))
    c:settimeout(0)
    c:send(raw_request("GET", ACCOUNTS .. "list?app_key=k1", nil, "Connection: close\r\n"))
    local got, deadline = {}, socket.gettime() + 2
    repeat
      assert.is_true(server:step(0.01))
      local all, err, partial = c:receive "*a"
      got[#got + 1] = all or partial
    until all or err == "closed" or socket.gettime() > deadline
    c:close()
    server:close()
    assert.matches('"list":%[%]', table.concat(got))
    assert.is_false(server:step(0))
  end)
end)
