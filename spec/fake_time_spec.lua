-- The fake moving in time: its clock, usage that grows, packages that
-- expire, and what reset and delete bring back or drop. Real HTTP against
-- scripts/proxyapi-fake in a child process (helper.start_fake).
local helper = require "helper"
local socket = require "socket"

local USAGE = "/openapi/user-usage-flow/total"
local ACCOUNTS = "/openapi/whitelist-account/"
local START = "2025-06-10 12:00:00"

-- Seconds of a local "YYYY-MM-DD HH:MM:SS", always in standard time
-- (isdst false), so that differences are wall-clock differences, as the
-- fake counts them, whatever the zone.
local function seconds(s)
  local y, m, d, hh, mm, ss = s:match "^(%d+)-(%d+)-(%d+) (%d+):(%d+):(%d+)$"
  return os.time { year = y, month = m, day = d, hour = hh, min = mm, sec = ss, isdst = false }
end

-- The provider's per-day list as day -> flow.
local function by_day(reply)
  assert.equal(200, reply.code)
  local t = {}
  for _, e in ipairs(reply.data.list) do t[e.day] = e.flow end
  return t, reply.data.list
end

local function accounts(fake)
  local by_name = {}
  for _, a in ipairs(fake:get(ACCOUNTS .. "list").data.list) do by_name[a.username] = a end
  return by_name
end

local function refused(fake, path, body, pattern)
  local status, reply = fake:try_control("POST", path, body)
  assert.same({ 400, 400 }, { status, reply.code })
  if pattern then assert.matches(pattern, reply.msg) end
end

describe("the fake's clock", function()
  local fake

  setup(function()
    fake = helper.start_fake("--frozen --now " .. helper.quote(START))
  end)
  teardown(function() fake:stop() end)
  before_each(function() fake:reset() end)

  it("starts at --now and tells it", function()
    local c = fake:clock()
    assert.same({ START, START, "2025-06-10", true, 0 }, { c.now, c.start, c.day, c.frozen, c.advanced })
    assert.equal(START, fake:control("GET", "/_fake/state").now)
  end)

  it("moves forward by seconds or to a time, and every date follows it", function()
    assert.equal("2025-06-10 12:01:30", fake:clock({ advance = 90 }).now)
    local c = fake:clock { to = "2025-06-12 08:00:00" }
    assert.same({ "2025-06-12 08:00:00", "2025-06-12" }, { c.now, c.day })
    assert.equal(seconds "2025-06-12 08:00:00" - seconds(START), c.advanced)
    local list = fake:get(USAGE).data.list
    assert.same({ 7, "2025-06-06", "2025-06-12" }, { #list, list[1].day, list[7].day })
    assert.equal(200, fake:post(ACCOUNTS .. "add", { accounts = "clocked1:pw" }).code)
    assert.equal("2025-06-12 08:00:00", accounts(fake).clocked1.created_at)
  end)

  it("refuses to go back, too far, or a malformed move, and stays where it was", function()
    fake:clock { advance = 3600 }
    for _, body in ipairs {
      { to = START }, { advance = -1 }, { advance = "60" }, { to = "2025-06-31 00:00:00" },
      { advance = 1, to = "2026-01-01 00:00:00" }, { advance = 3661 * 86400 }, { backwards = 1 },
      { frozen = "yes" },
    } do
      refused(fake, "/_fake/clock", body)
    end
    assert.matches("not be before", select(2, fake:try_control("POST", "/_fake/clock", { to = START })).msg)
    assert.equal("2025-06-10 13:00:00", fake:clock().now)
  end)

  it("stands still while frozen and runs at real speed otherwise", function()
    local before = fake:clock().now
    socket.sleep(1.1)
    assert.equal(before, fake:clock().now)
    local running = fake:clock { frozen = false }
    assert.is_false(running.frozen)
    socket.sleep(1.1)
    assert.is_true(seconds(fake:clock().now) >= seconds(before) + 1)
  end)

  it("starts at the real local time without --now", function()
    local other = helper.start_fake()
    local c = other:clock()
    other:stop()
    assert.is_false(c.frozen)
    assert.is_true(math.abs(seconds(c.now) - seconds(os.date "%Y-%m-%d %H:%M:%S")) <= 5, c.now)
  end)
end)

describe("the fake's usage", function()
  local fake

  setup(function()
    fake = helper.start_fake("--frozen --now " .. helper.quote(START))
  end)
  teardown(function() fake:stop() end)
  before_each(function() fake:reset() end)

  local function history(name, from, to)
    return by_day(fake:get(USAGE, { username = name, start_time = from .. " 00:00:00",
                                    end_time = to .. " 23:59:59" }))
  end

  it("adds KB or GB to today, in usage_flow and in that day's flow alike", function()
    local before, days_before = accounts(fake).crawler.usage_flow, history("crawler", "2025-06-01", "2025-06-10")
    local all_before = by_day(fake:get(USAGE))
    local reply = fake:add_usage { account = "crawler", kb = 1000 }
    assert.same({ "2025-06-10", "crawler", before + 1000 },
      { reply.day, reply.accounts[1].account, reply.accounts[1].usage_flow })
    fake:add_usage { account = "crawler", gb = 0.5 }
    local added = 1000 + 512 * 1024
    assert.equal(before + added, accounts(fake).crawler.usage_flow)
    local days = history("crawler", "2025-06-01", "2025-06-10")
    for day, flow in pairs(days_before) do
      assert.equal(flow + (day == "2025-06-10" and added or 0), days[day], day)
    end
    assert.equal(all_before["2025-06-10"] + added, by_day(fake:get(USAGE))["2025-06-10"])
    local views = {}
    for _, view in ipairs(fake:control("GET", "/_fake/usage").accounts) do views[view.account] = view end
    assert.same({ days["2025-06-10"], before + added }, { views.crawler.day_flow, views.crawler.usage_flow })
  end)

  it("adds to every account with all, and refuses what it cannot add", function()
    local before = accounts(fake)
    fake:add_usage { all = true, kb = 7 }
    local after = accounts(fake)
    for name, a in pairs(after) do assert.equal(before[name].usage_flow + 7, a.usage_flow, name) end
    for _, body in ipairs {
      { account = "nobody", kb = 1 }, { account = "crawler", all = true, kb = 1 }, { kb = 1 },
      { account = "crawler" }, { account = "crawler", kb = -1 }, { account = "crawler", kb = 1.5 },
      { account = "crawler", kb = 1, gb = 1 }, { account = "crawler", gb = "1" }, { all = false, kb = 1 },
      { account = "crawler", kb_per_day = 1, gb_per_day = 1 }, { account = "crawler", mb = 1 },
    } do
      refused(fake, "/_fake/usage", body)
    end
    assert.same(after, accounts(fake))
  end)

  it("keeps an account made in the fake whole: its days sum to its usage_flow", function()
    assert.equal(200, fake:post(ACCOUNTS .. "add", { accounts = "fresh1:pw" }).code)
    fake:add_usage { account = "fresh1", kb = 500 }
    fake:clock { advance = 86400 }
    fake:add_usage { account = "fresh1", kb = 300 }
    fake:clock { advance = 2 * 86400 }
    fake:add_usage { account = "fresh1", gb = 1 }
    local days, list = history("fresh1", "2025-06-01", "2025-06-20")
    local sum = 0
    for _, e in ipairs(list) do sum = sum + e.flow end
    assert.equal(accounts(fake).fresh1.usage_flow, sum)
    assert.same({ 500, 300, 0, 1024 * 1024, 0 },
      { days["2025-06-10"], days["2025-06-11"], days["2025-06-12"], days["2025-06-13"], days["2025-06-09"] })
  end)

  it("grows by a rule on each fake day entered, for enabled accounts, an account's own rule first", function()
    local before = accounts(fake)
    assert.equal(0, before.market2024.status)   -- seed 7's disabled account
    local seeded = by_day(fake:get(USAGE, { start_time = "2025-06-01 00:00:00", end_time = "2025-06-10 23:59:59" }))
    fake:add_usage { all = true, kb_per_day = 2048 }
    fake:add_usage { account = "crawler", gb_per_day = 1 }
    fake:add_usage { account = "adverify", kb_per_day = 0 }
    assert.equal(before.crawler.usage_flow, accounts(fake).crawler.usage_flow)   -- nothing until a day passes
    fake:clock { advance = 3 * 86400 }
    local after = accounts(fake)
    local grows = { scraper7 = 2048, crawler = 1024 * 1024, seoteam = 2048, adverify = 0, market2024 = 0 }
    for name, kb in pairs(grows) do
      assert.equal(before[name].usage_flow + 3 * kb, after[name].usage_flow, name)
      local days = history(name, "2025-06-10", "2025-06-14")
      assert.same({ kb, kb, kb, 0 }, { days["2025-06-11"], days["2025-06-12"], days["2025-06-13"],
                                       days["2025-06-14"] }, name)
    end
    local now = by_day(fake:get(USAGE, { start_time = "2025-06-01 00:00:00", end_time = "2025-06-10 23:59:59" }))
    assert.same(seeded, now)   -- the seeded history and the rule's first day stay as they were
    local view = fake:control("GET", "/_fake/usage")
    assert.same({ "2025-06-13", 2048 }, { view.day, view.kb_per_day_all })
  end)

  it("grows a disabled account again once it is enabled", function()
    fake:add_usage { account = "market2024", kb_per_day = 10 }
    fake:clock { advance = 86400 }
    assert.equal(200, fake:post(ACCOUNTS .. "enable", { accounts = "market2024" }).code)
    fake:clock { advance = 86400 }
    local days = history("market2024", "2025-06-11", "2025-06-12")
    assert.same({ 0, 10 }, { days["2025-06-11"], days["2025-06-12"] })
  end)

  it("drops a deleted account's history; a name added again starts with none", function()
    fake:add_usage { account = "crawler", kb = 5000 }
    local days = history("crawler", "2025-06-02", "2025-06-10")
    local all = by_day(fake:get(USAGE, { start_time = "2025-06-02 00:00:00", end_time = "2025-06-10 00:00:00" }))
    assert.is_true(days["2025-06-10"] >= 5000)
    assert.equal(200, fake:post(ACCOUNTS .. "delete", { accounts = "crawler" }).code)
    local reply = fake:get(USAGE, { username = "crawler" })
    assert.same({ 200, {} }, { reply.code, reply.data.list })
    local rest = by_day(fake:get(USAGE, { start_time = "2025-06-02 00:00:00", end_time = "2025-06-10 00:00:00" }))
    for day, flow in pairs(all) do assert.equal(flow - days[day], rest[day], day) end
    assert.equal(200, fake:post(ACCOUNTS .. "add", { accounts = "crawler:pw2" }).code)
    local again = history("crawler", "2025-06-01", "2025-06-10")
    for day, flow in pairs(again) do assert.equal(0, flow, day) end
    assert.equal(0, accounts(fake).crawler.usage_flow)
  end)
end)

describe("the fake's packages", function()
  local fake

  setup(function()
    fake = helper.start_fake("--frozen --now " .. helper.quote(START))
  end)
  teardown(function() fake:stop() end)
  before_each(function() fake:reset() end)

  local function product_view(trade_no)
    for _, p in ipairs(fake:control("GET", "/_fake/products").list) do
      if p.trade_no == trade_no then return p end
    end
  end

  it("sells a package expiring in N days, listed first, that expires on the clock", function()
    local bought = fake:add_product { days = 3, product_type = 9 }
    local p = bought.product
    assert.same({ START, "2025-06-13 12:00:00", 9, 3 },
      { p.created_at, p.expired_at, p.product_type, bought.days_left })
    assert.matches("^%d+$", p.trade_no)
    assert.equal(28, #p.trade_no)
    assert.same({}, bought.static_ips)
    local page = fake:get("/openapi/user-product/list").data
    assert.same({ 46, p.id, p.trade_no }, { page.total_count, page.list[1].id, page.list[1].trade_no })
    assert.is_true(p.id > page.list[2].id)
    local view = product_view(p.trade_no)
    assert.same({ 3, false }, { view.days_left, view.expired })
    fake:clock { advance = 3 * 86400 + 1 }
    view = product_view(p.trade_no)
    assert.is_true(view.expired and view.days_left < 0)
  end)

  it("sells static IPs with a static package; their status follows the expiry", function()
    local bought = fake:add_product { days = 10, product_type = 25, ips = 2 }
    assert.equal(2, #bought.static_ips)
    local function statuses()
      local list = fake:get("/ip/get-static-ip", { trade_no = bought.product.trade_no }).data.list
      assert.equal(2, #list)
      return { list[1].status, list[2].status }
    end
    assert.same({ 1, 1 }, statuses())
    fake:clock { advance = 3 * 86400 + 1 }   -- 7 days left: expiring soon
    assert.same({ 3, 3 }, statuses())
    local soon = fake:get("/ip/get-static-ip", { status = 3, size = 100 }).data.list
    local found = 0
    for _, e in ipairs(soon) do if e.trade_no == bought.product.trade_no then found = found + 1 end end
    assert.equal(2, found)
    fake:clock { advance = 7 * 86400 }
    assert.same({ 2, 2 }, statuses())
  end)

  it("keeps the seeded status of IPs that expired before the start; the others follow the clock", function()
    local start = seconds(START)
    local before = fake:get("/ip/get-static-ip", { size = 100 }).data.list
    fake:clock { to = "2026-06-01 00:00:00" }   -- after every seeded expiry
    local after = fake:get("/ip/get-static-ip", { size = 100 }).data.list
    assert.equal(60, #after)
    local followed = 0
    for i, e in ipairs(after) do
      if seconds(e.expired_at) > start then
        followed = followed + 1
        assert.equal(2, e.status, e.expired_at)
      else
        assert.equal(before[i].status, e.status)
      end
    end
    assert.is_true(followed > 0)
  end)

  it("refuses a package it cannot sell", function()
    for _, body in ipairs {
      {}, { days = 0 }, { days = -1 }, { days = "3" }, { days = 3, product_type = 10 },
      { days = 3, product_type = 9, ips = 1 }, { days = 3, product_type = 14, ips = 101 }, { days = 3, colour = 1 },
    } do
      refused(fake, "/_fake/products", body)
    end
    assert.equal(45, fake:get("/openapi/user-product/list").data.total_count)
  end)
end)

describe("the fake's reset", function()
  local fake
  local STATES = "/openapi/ip/dynamic-states"

  setup(function()
    fake = helper.start_fake("--now " .. helper.quote(START) .. " --frozen --fault path=" .. STATES .. ",code=7")
  end)
  teardown(function() fake:stop() end)

  it("brings back the start: clock, usage, packages, accounts and the start's faults, none queued later", function()
    fake:reset()
    assert.equal(7, fake:get(STATES).code)   -- the --fault, used up
    local start = { accounts = accounts(fake), usage = fake:get(USAGE).data.list,
                    products = fake:get("/openapi/user-product/list").data }
    fake:fault { path = ACCOUNTS .. "list", code = 9, times = -1 }
    fake:fault { path = STATES, code = 8 }
    fake:add_usage { all = true, kb = 100, kb_per_day = 100 }
    fake:clock { advance = 5 * 86400, frozen = false }
    fake:add_product { days = 1 }
    assert.equal(200, fake:post(ACCOUNTS .. "add", { accounts = "later1:pw" }).code)
    fake:config { delay = 0.01, not_verified = true }
    fake:reset()
    local c = fake:clock()
    assert.same({ START, true, 0 }, { c.now, c.frozen, c.advanced })
    local state = fake:control("GET", "/_fake/state")
    assert.same({ 1, STATES, 7 }, { #state.faults, state.faults[1].path, state.faults[1].code })
    assert.same({ false, 0 }, { state.not_verified, state.delay })
    assert.equal(7, fake:get(STATES).code)    -- the start's fault again
    assert.equal(200, fake:get(STATES).code)  -- and not the one queued later
    assert.same(start.accounts, accounts(fake))
    assert.same(start.usage, fake:get(USAGE).data.list)
    assert.same(start.products, fake:get("/openapi/user-product/list").data)
    fake:clock { advance = 86400 }
    assert.same(start.accounts.crawler.usage_flow, accounts(fake).crawler.usage_flow)   -- no rule left
  end)
end)

describe("the fake's delay", function()
  it("holds every provider request for the configured time, and reset ends it", function()
    local fake = helper.start_fake()
    finally(function() fake:stop() end)
    assert.equal(0.3, fake:config({ delay = 0.3 }).delay)
    local t0 = socket.gettime()
    assert.equal(200, fake:get(ACCOUNTS .. "list").code)
    assert.is_true(socket.gettime() - t0 >= 0.3)
    local entry = fake:log()[1]
    assert.is_true(entry.t_end - entry.t_start >= 0.29)
    fake:reset()
    assert.equal(0, fake:control("GET", "/_fake/state").delay)
  end)
end)
