-- Every method of the contract's table, over real HTTP against the fake API:
-- what goes on the wire, what comes back, and what changes.
local helper = require "helper"
local proxyapi = require "proxyapi"

describe("endpoints against the fake API", function()
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

  local function last_request()
    local log = fake:log()
    return log[#log]
  end

  describe("accounts", function()
    it("lists the seeded accounts with integer fields", function()
      local accounts = assert(api:list_accounts())
      assert.is_true(#accounts > 0)
      local seeded = fake:accounts()
      for _, a in ipairs(accounts) do
        assert.is_string(a.username)
        assert.equal("integer", math.type(a.id))
        assert.equal("integer", math.type(a.usage_flow))
        assert.equal("integer", math.type(a.limit_flow))
        assert.equal("integer", math.type(a.status))
        assert.equal("integer", math.type(a.product_type))
        assert.equal(seeded[a.username].password, a.password)
      end
      local req = last_request()
      assert.equal("GET", req.method)
      assert.equal("/openapi/whitelist-account/list", req.path)
    end)

    it("adds accounts from tables and user:pass strings, with remark and product type", function()
      assert.is_true(api:add_accounts({ "alpha1:pw1", { username = "beta2", password = "pw2" } },
        { remark = "team 测试", product_type = proxyapi.product.DYNAMIC_RESIDENTIAL_IP }))
      local req = last_request()
      assert.equal("POST", req.method)
      assert.equal("alpha1:pw1,beta2:pw2", req.params.accounts)
      assert.equal("team 测试", req.params.remark)
      local by_name = {}
      for _, a in ipairs(assert(api:list_accounts())) do by_name[a.username] = a end
      assert.equal("pw1", by_name.alpha1.password)
      assert.equal("pw2", by_name.beta2.password)
      assert.equal(11, by_name.beta2.product_type)
      assert.equal("team 测试", by_name.alpha1.remark)
      assert.equal(proxyapi.account_status.ENABLED, by_name.alpha1.status)
    end)

    it("does not send absent optional parameters", function()
      assert.is_true(api:add_accounts { "gamma3:pw3" })
      local params = last_request().params
      assert.equal("gamma3:pw3", params.accounts)
      assert.is_nil(params.remark)
      assert.is_nil(params.product_type)
    end)

    it("reports a duplicate as an api error naming the account", function()
      assert.is_true(api:add_accounts { "dup1:pw" })
      local ok, err = api:add_accounts { "dup1:pw" }
      assert.is_nil(ok)
      assert.equal("api", err.kind)
      assert.equal(400, err.code)
      assert.same({ "dup1" }, err.failed)
      assert.equal("POST /openapi/whitelist-account/add", err.endpoint)
    end)

    it("disables, enables and deletes one name or a list", function()
      assert.is_true(api:add_accounts { "d1:pw", "d2:pw", "d3:pw" })
      assert.is_true(api:disable_accounts { "d1", "d2" })
      assert.equal("d1,d2", last_request().params.accounts)
      local accounts = fake:accounts()
      assert.equal(0, accounts.d1.status)
      assert.equal(0, accounts.d2.status)
      assert.equal(1, accounts.d3.status)
      assert.is_true(api:enable_accounts "d1")
      assert.equal("d1", last_request().params.accounts)
      assert.equal(1, fake:accounts().d1.status)
      assert.is_true(api:delete_accounts { "d1", "d3" })
      accounts = fake:accounts()
      assert.is_nil(accounts.d1)
      assert.is_nil(accounts.d3)
      assert.is_not_nil(accounts.d2)
    end)

    it("changes password, remark and limit", function()
      assert.is_true(api:add_accounts { "c1:old" })
      assert.is_true(api:change_password("c1", "new2"))
      assert.same({ account = "c1", password = "new2" }, last_request().params)
      assert.is_true(api:change_remark("c1", "一二三"))
      assert.is_true(api:change_limit("c1", 250))
      local a = fake:accounts().c1
      assert.equal("new2", a.password)
      assert.equal("一二三", a.remark)
      assert.equal(250, a.limit_flow)
      assert.is_true(api:change_remark("c1", ""))
      assert.equal("", fake:accounts().c1.remark)
      assert.is_true(api:change_limit("c1", 0))
      assert.equal(0, fake:accounts().c1.limit_flow)
    end)

    it("splits long lists into batch_size requests and sends them all", function()
      local small = fake:client { batch_size = 3, concurrency = 2 }
      local accounts, names = {}, {}
      for i = 1, 8 do
        accounts[i], names[i] = "bulk" .. i .. ":pw" .. i, "bulk" .. i
      end
      fake:clear_log()
      assert.is_true(small:add_accounts(accounts))
      local sent = {}
      for _, req in ipairs(fake:log()) do
        sent[#sent + 1] = req.params.accounts
      end
      table.sort(sent)
      assert.same({ "bulk1:pw1,bulk2:pw2,bulk3:pw3", "bulk4:pw4,bulk5:pw5,bulk6:pw6", "bulk7:pw7,bulk8:pw8" }, sent)
      assert.is_true(small:disable_accounts(names))
      for _, name in ipairs(names) do
        assert.equal(0, fake:accounts()[name].status)
      end
      small:close()
    end)

    it("reports every name of a failed chunk and keeps the others applied", function()
      local small = fake:client { batch_size = 2 }
      assert.is_true(small:add_accounts { "k1:pw", "k2:pw", "k3:pw", "k4:pw" })
      -- k9 does not exist: the chunk {k3, k9} fails as a whole, the others go through
      local ok, err = small:disable_accounts { "k1", "k2", "k3", "k9", "k4" }
      assert.is_nil(ok)
      assert.equal("api", err.kind)
      assert.same({ "k3", "k9" }, err.failed)
      local accounts = fake:accounts()
      assert.equal(0, accounts.k1.status)
      assert.equal(0, accounts.k2.status)
      assert.equal(1, accounts.k3.status)
      assert.equal(0, accounts.k4.status)
      small:close()
    end)
  end)

  describe("usage", function()
    it("returns one {day, flow} per day, with integer flows", function()
      local days = assert(api:usage_flow { start_time = "2026-01-01 00:00:00", end_time = "2026-01-07 23:59:59" })
      assert.equal(7, #days)
      assert.equal("2026-01-01", days[1].day)
      assert.equal("2026-01-07", days[7].day)
      for _, d in ipairs(days) do
        assert.equal("integer", math.type(d.flow))
      end
      local params = last_request().params
      assert.equal("2026-01-01 00:00:00", params.start_time)
      assert.equal("2026-01-07 23:59:59", params.end_time)
    end)

    it("accepts tables and epochs for times, formatted in local time", function()
      local epoch = os.time { year = 2026, month = 3, day = 2, hour = 10 }
      assert(api:usage_flow { start_time = { year = 2026, month = 3, day = 1 }, end_time = epoch,
                              username = "social01", product_type = 9 })
      local params = last_request().params
      assert.equal("2026-03-01 00:00:00", params.start_time)
      assert.equal(os.date("%Y-%m-%d %H:%M:%S", epoch), params.end_time)
      assert.equal("social01", params.username)
    end)

    it("sends nothing it was not given", function()
      assert(api:usage_flow())
      assert.same({}, last_request().params)
    end)
  end)

  describe("products", function()
    it("returns a page table with integer counters", function()
      local page = assert(api:list_products { page = 2, size = 10 })
      assert.equal(2, page.page)
      assert.equal(10, page.page_size)
      assert.equal(10, #page.list)
      assert.equal("integer", math.type(page.total_count))
      assert.equal(math.ceil(page.total_count / 10), page.total_page)
      local params = last_request().params
      assert.equal("2", params.page)
      assert.equal("10", params.size)
    end)

    it("each_product walks every page and stops after the last", function()
      local total = assert(api:list_products { size = 1 }).total_count
      fake:clear_log()
      local seen, ids = 0, {}
      for product in api:each_product { size = 7 } do
        seen = seen + 1
        assert.is_nil(ids[product.id])
        ids[product.id] = true
      end
      assert.equal(total, seen)
      assert.equal(math.ceil(total / 7), #fake:log())
    end)

    it("filters by product type and trade number", function()
      local page = assert(api:list_products { product_type = 25, size = 100 })
      assert.is_true(#page.list > 0)
      for _, p in ipairs(page.list) do
        assert.equal(25, p.product_type)
      end
      local one = assert(api:list_products { trade_no = page.list[1].trade_no })
      assert.equal(1, #one.list)
    end)

    it("each_product raises the error object on a failure", function()
      local bad = fake:client { app_key = "not-the-key" }
      local ok, err = pcall(function()
        for _ in bad:each_product() do end
      end)
      assert.is_false(ok)
      assert.is_true(proxyapi.is_error(err))
      assert.equal(3, err.code)
      bad:close()
    end)
  end)

  describe("IP extraction", function()
    it("returns a flat array of ip:port strings", function()
      local ips = assert(api:extract_ips { cc = "US", num = 10, life = 30 })
      assert.equal(10, #ips)
      for _, ip in ipairs(ips) do
        assert.truthy(ip:match("^%d+%.%d+%.%d+%.%d+:%d+$"))
      end
      local params = last_request().params
      assert.equal("10", params.num)
      assert.equal("US", params.cc)
    end)

    it("splits text-format replies on lb, dropping empty items", function()
      local ips = assert(api:extract_ips { num = 5, format = "text", lb = "|" })
      assert.equal(5, #ips)
      assert.equal("|", last_request().params.lb)
      for _, ip in ipairs(ips) do
        assert.truthy(ip:match("^%d+%.%d+%.%d+%.%d+:%d+$"))
      end
    end)

    it("splits text-format replies on any line break by default", function()
      local ips = assert(api:extract_ips { num = 4, format = "txt" })
      assert.equal(4, #ips)
    end)

    it("reports an api error in text format as such", function()
      local bad = fake:client { app_key = "nope" }
      local ok, err = bad:extract_ips { num = 2, format = "text" }
      assert.is_nil(ok)
      assert.equal("api", err.kind)
      assert.equal(3, err.code)
      bad:close()
    end)
  end)

  describe("locations", function()
    it("lists cities and states per country", function()
      local cities = assert(api:list_cities())
      assert.is_true(#cities > 0)
      assert.is_string(cities[1].country_code)
      assert.is_true(#cities[1].items > 0)
      local states = assert(api:list_states())
      assert.is_true(#states > 0)
      assert.is_string(states[1].items[1].state)
    end)

    it("searches states and cities", function()
      local states = assert(api:search_states "US")
      assert.is_true(#states > 0)
      assert.equal("US", last_request().params.country_code)
      local cities = assert(api:search_cities("US", states[1]))
      assert.is_true(#cities > 0)
      assert.is_string(cities[1])
      assert.equal(states[1], last_request().params.state)
    end)
  end)

  describe("static IPs", function()
    it("lists with filters, on the path without the /openapi prefix", function()
      local data = assert(api:list_static_ips { product_type = 14, status = 1, size = 5 })
      assert.is_true(#data.list > 0)
      for _, entry in ipairs(data.list) do
        assert.equal(14, entry.product_type)
        assert.equal(proxyapi.static_status.VALID, entry.status)
      end
      assert.equal("/ip/get-static-ip", last_request().path)
    end)

    it("each_static_ip walks every page", function()
      local total = assert(api:list_static_ips { size = 1 }).total_count
      local n = 0
      for entry in api:each_static_ip { size = 9 } do
        assert.is_string(entry.ip)
        n = n + 1
      end
      assert.equal(total, n)
    end)
  end)

  describe("call", function()
    it("GETs any path and returns the decoded data", function()
      local data = assert(api:call("GET", "/openapi/ip/dynamic-states/search", { country_code = "DE" }))
      assert.is_table(data.list)
      assert.equal("DE", last_request().params.country_code)
    end)

    it("POSTs and returns true for a null data", function()
      assert.is_true(api:add_accounts { "viacall:pw" })
      assert.is_true(api:call("POST", "/openapi/whitelist-account/disable", { accounts = "viacall" }))
      assert.equal(0, fake:accounts().viacall.status)
    end)
  end)

  describe("paths", function()
    it("replaces the /openapi prefix but not /ip/get-static-ip", function()
      local other = fake:client { prefix = "/pub" }
      local ok, err = other:list_accounts()
      assert.is_nil(ok)
      assert.equal("http", err.kind)
      assert.equal(404, err.status)
      assert.equal("GET /pub/whitelist-account/list", err.endpoint)
      assert(other:list_static_ips())
      assert.equal("/ip/get-static-ip", last_request().path)
      other:close()
    end)

    it("uses per-method overrides exactly as given", function()
      local other = fake:client { paths = { list_accounts = "/openapi/whitelist-account/list",
                                            list_states = "/nowhere/states" } }
      assert(other:list_accounts())
      local _, err = other:list_states()
      assert.equal("GET /nowhere/states", err.endpoint)
      other:close()
    end)
  end)

  describe("the fake's switches", function()
    it("answers code 156 to writes when not verified, and changes nothing", function()
      fake:config { not_verified = true }
      local ok, err = api:add_accounts { "nv1:pw" }
      assert.is_nil(ok)
      assert.equal("api", err.kind)
      assert.equal(proxyapi.code.NOT_VERIFIED, err.code)
      assert.equal(1, err.attempts)
      assert.is_nil(fake:accounts().nv1)
      assert(api:list_accounts())
    end)
  end)
end)
