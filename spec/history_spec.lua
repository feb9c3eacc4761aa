-- proxyapi.history against the fake API over real HTTP: accounts without
-- passwords, usage per account and day, idempotent syncs, deleted
-- accounts kept, products, and watch's fired-state.
local history = require "proxyapi.history"
local core = require "proxyapi.core"
local helper = require "helper"

local quote = helper.quote

local function tempdir()
  local dir = os.tmpname()
  os.remove(dir)
  assert(core.mkdir_private(dir))
  return dir
end

local function slurp(path)
  local f = io.open(path, "rb")
  if not f then
    return ""
  end
  local text = f:read("a")
  f:close()
  return text
end

local function day(offset)
  return os.date("%Y-%m-%d", os.time() + offset * 86400)
end

local fake

setup(function()
  fake = helper.start_fake()
end)

teardown(function()
  fake:stop()
end)

describe("history", function()
  local dir, path, h, api, host
  before_each(function()
    fake:reset()
    fake:clear_faults()
    dir = tempdir()
    path = dir .. "/history.sqlite3"
    h = assert(history.open(path))
    api = fake:client()
    host = fake.base_url:match("^http://(.*)$")
  end)
  after_each(function()
    h:close()
    fake:close_clients()
    os.execute("rm -rf " .. quote(dir))
  end)

  local function table_of(name)
    return assert(h.store:rows("SELECT * FROM " .. name .. " ORDER BY 1, 2, 3"))
  end

  it("has its default path under $XDG_STATE_HOME, made private", function()
    local code, out = helper.run("umask 022 && XDG_STATE_HOME=" .. quote(dir .. "/xdg") .. " lua5.4 -e "
      .. quote("package.path='./lua/?.lua;'..package.path package.cpath='./build/?.so;'..package.cpath "
               .. "local history = require 'proxyapi.history' io.write(history.default_path()) "
               .. "assert(history.open()):close()"))
    assert.equal(0, code)
    assert.equal(dir .. "/xdg/proxyapi/history.sqlite3", out)
    assert.equal(tonumber("700", 8), core.stat(dir .. "/xdg/proxyapi").mode)
    assert.equal(tonumber("600", 8), core.stat(out).mode)
  end)

  it("stores the accounts, never their passwords, and each account's usage per day", function()
    local summary = assert(h:sync(api, { days = 5 }))
    local listed = assert(api:list_accounts())
    assert.same({ #listed, #listed * 5, #listed * 5, {} },
                { summary.accounts, summary.days, summary.changed, summary.failed })
    local stored = assert(h:accounts { base_host = host })
    assert.equal(#listed, #stored)
    local by_name = {}
    for _, a in ipairs(stored) do
      by_name[a.username] = a
    end
    for _, a in ipairs(listed) do
      local s = by_name[a.username]
      assert.same({ host, a.remark, a.product_type, a.limit_flow, a.usage_flow, a.status, a.created_at },
                  { s.base_host, s.remark, s.product_type, s.limit_flow, s.usage_flow, s.status, s.created_at })
      assert.is_nil(s.deleted_at)
      assert.is_nil(s.password)
      -- what the service says, day by day
      local usage = assert(api:usage_flow { username = a.username, start_time = day(-4) .. " 00:00:00",
                                            end_time = day(0) .. " 23:59:59" })
      local mine = assert(h:usage { username = a.username, per_account = true })
      assert.equal(5, #mine)
      for i, row in ipairs(mine) do
        assert.same({ usage[i].day, usage[i].flow, a.username }, { row.day, row.flow, row.username })
      end
    end
    h:close()
    local raw = slurp(path) .. slurp(path .. "-wal")
    assert.truthy(raw:find(listed[1].username, 1, true), "the search sees what is written")
    for _, a in pairs(fake:accounts()) do
      assert.falsy(raw:find(a.password, 1, true), "a password reached the history")
    end
    h = assert(history.open(path))
  end)

  it("changes nothing when the same days are synced again", function()
    assert(h:sync(api, { from = day(-6), to = day(0) }))
    local before, accounts = table_of("usage_days"), #assert(api:list_accounts())
    local products = #table_of("products")
    local changes = assert(h.store:rows("SELECT total_changes() AS n"))[1].n
    local summary = assert(h:sync(api, { from = day(-6), to = day(0) }))
    assert.same({ accounts * 7, 0 }, { summary.days, summary.changed })
    assert.same(before, table_of("usage_days"))
    -- the only rows written again: each account's and product's last_seen
    assert.equal(changes + accounts + products, assert(h.store:rows("SELECT total_changes() AS n"))[1].n)
  end)

  it("sums usage per day over accounts, between from and to", function()
    assert(h:sync(api, { days = 10 }))
    local per_account = assert(h:usage { base_host = host, per_account = true, from = day(-3), to = day(-1) })
    local totals = assert(h:usage { base_host = host, from = day(-3), to = day(-1) })
    assert.same({ day(-3), day(-2), day(-1) }, { totals[1].day, totals[2].day, totals[3].day, totals[4] })
    local sums = {}
    for _, row in ipairs(per_account) do
      sums[row.day] = (sums[row.day] or 0) + row.flow
    end
    for _, row in ipairs(totals) do
      assert.equal(sums[row.day], row.flow)
      assert.equal("integer", math.type(row.flow))
    end
    assert.same({}, assert(h:usage { base_host = "elsewhere.example" }))
  end)

  it("syncs only the accounts asked for, and reports those whose usage failed", function()
    local names = {}
    for _, a in ipairs(assert(api:list_accounts())) do
      names[#names + 1] = a.username
    end
    local summary = assert(h:sync(api, { days = 2, accounts = { names[1], names[2] } }))
    assert.same({ 2, 4 }, { summary.accounts, summary.days })
    assert.equal(2, #assert(h:accounts {}))
    assert.equal(0, #assert(h:products {}), "products come with a full sync")
    fake:fault { path = "/openapi/user-usage-flow/total", code = 400, msg = "no usage today", times = 1 }
    summary = assert(h:sync(api, { days = 2 }))
    assert.equal(1, #summary.failed)
    assert.equal("api", summary.errs[1].kind)
    assert.equal(#names, summary.accounts)
    assert.equal((#names - 1) * 2, summary.days)
    fake:fault { path = "/openapi/user-usage-flow/total", code = 400, msg = "no usage today", times = -1 }
    local ok, err = h:sync(api, { days = 2 })
    assert.is_nil(ok)
    assert.equal("api", err.kind)
    fake:clear_faults()
    ok, err = h:sync(fake:client { app_key = "wrong" .. fake.app_key })
    assert.is_nil(ok)
    assert.same({ "api", 3 }, { err.kind, err.code })
  end)

  it("keeps a deleted account and its whole usage, synced before the delete", function()
    assert(h:sync(api, { days = 3 }))
    local victim = assert(api:list_accounts())[1]
    local summary = assert(h:sync_account(api, host, victim.username))
    local created = victim.created_at:sub(1, 10)
    local whole = assert(api:usage_flow { username = victim.username, start_time = created .. " 00:00:00",
                                          end_time = day(0) .. " 23:59:59" })
    assert.same({ 1, #whole }, { summary.accounts, summary.days })
    assert(api:delete_accounts(victim.username))
    assert(h:record_account_deleted(host, victim.username))
    assert.same({}, assert(api:usage_flow { username = victim.username }), "the service dropped it")
    assert(h:sync(api, { days = 3 }))
    local rows = assert(h:usage { username = victim.username, per_account = true })
    assert.equal(#whole, #rows)
    assert.same({ whole[1].day, whole[1].flow }, { rows[1].day, rows[1].flow })
    for _, a in ipairs(assert(h:accounts {})) do
      if a.username == victim.username then
        assert.equal("integer", math.type(a.deleted_at))
      else
        assert.is_nil(a.deleted_at)
      end
    end
    assert.same({ nil, "history " .. path .. ": no account " .. victim.username .. " at " .. host },
                { h:sync_account(api, host, victim.username) })
  end)

  it("marks an account deleted when a full sync no longer lists it", function()
    assert(h:sync(api, { days = 1 }))
    local gone = assert(api:list_accounts())[2].username
    assert(api:delete_accounts(gone))
    assert(h:sync(api, { days = 1 }))
    local deleted = {}
    for _, a in ipairs(assert(h:accounts {})) do
      deleted[a.username] = a.deleted_at ~= nil
    end
    assert.is_true(deleted[gone])
    assert(h:record_account_deleted(host, "neverseen"))
    assert.equal(1, #assert(h.store:rows("SELECT * FROM accounts WHERE username = 'neverseen' "
                                         .. "AND deleted_at IS NOT NULL")))
  end)

  it("stores products by trade_no", function()
    assert(h:sync(api, { days = 1 }))
    local listed = {}
    for p in api:each_product {} do
      listed[p.trade_no] = p
    end
    local stored = assert(h:products { base_host = host })
    local n = 0
    for _, p in ipairs(stored) do
      n = n + 1
      assert.same({ listed[p.trade_no].expired_at, listed[p.trade_no].product_type },
                  { p.expired_at, p.product_type })
    end
    assert.truthy(n > 20)
    for _ in pairs(listed) do
      n = n - 1
    end
    assert.equal(0, n)
  end)

  it("refuses bad windows before calling the API", function()
    fake:clear_log()
    assert.has_error(function() h:sync(api, { from = day(0), to = day(-1) }) end,
                     "bad argument #2 to 'sync' (from is after to)")
    assert.has_error(function() h:sync(api, { from = "2024-02-30" }) end)
    assert.has_error(function() h:sync(api, { days = 0 }) end, "bad argument #2 to 'sync' (days: at least 1 expected)")
    assert.equal(0, #fake:log())
  end)
end)

describe("watch's fired-state", function()
  local dir, path, h
  before_each(function()
    dir = tempdir()
    path = dir .. "/history.sqlite3"
    h = assert(history.open(path))
  end)
  after_each(function()
    h:close()
    os.execute("rm -rf " .. quote(dir))
  end)

  it("fires once per rule, subject and period, with an id that stays", function()
    assert.is_false(h:fired_get("near-cap", "u1", "2025-03"))
    local first = assert(h:fire("near-cap", "u1", "2025-03", { usage_percent = 93.5, usage_gb = 46 }))
    assert.is_true(first.created)
    assert.truthy(first.id:find("^%x+$") and #first.id == 32)
    assert.same({ usage_percent = 93.5, usage_gb = 46 }, first.values)
    local again = assert(h:fire("near-cap", "u1", "2025-03", { usage_percent = 99 }))
    assert.same({ false, first.id, first.fired_at }, { again.created, again.id, again.fired_at })
    assert.same(first.values, again.values, "the firing keeps what it fired with")
    -- another period, subject or rule is another firing
    local ids = { [first.id] = true }
    for _, key in ipairs { { "near-cap", "u1", "2025-04" }, { "near-cap", "u2", "2025-03" },
                           { "hard-cap", "u1", "2025-03" } } do
      local f = assert(h:fire(key[1], key[2], key[3]))
      assert.is_true(f.created)
      assert.is_nil(ids[f.id])
      ids[f.id] = true
    end
    -- the same after a reopen (a later round, another process)
    h:close()
    h = assert(history.open(path))
    assert.equal(first.id, assert(h:fired_get("near-cap", "u1", "2025-03")).id)
  end)

  it("records deliveries per channel", function()
    local f = assert(h:fire("near-cap", "u1", "2025-03"))
    assert.same({}, f.delivered)
    assert(h:delivered(f.id, "webhook"))
    assert(h:delivered(f.id, "webhook"))
    local got = assert(h:fired_get("near-cap", "u1", "2025-03"))
    assert.same({ "webhook" }, { (next(got.delivered)), (next(got.delivered, "webhook")) })
    assert.equal("integer", math.type(got.delivered.webhook))
    assert.is_nil(got.delivered.command)
    assert.same({ nil, "history " .. path .. ": no firing 00ff" }, { h:delivered("00ff", "webhook") })
  end)

  it("re-arms when the condition clears: the next firing is a new one", function()
    local f = assert(h:fire("near-cap", "u1", "2025-03"))
    assert(h:fire("near-cap", "u1", "2025-02"))
    assert(h:fire("near-cap", "u2", "2025-03"))
    assert.equal(2, h:rearm("near-cap", "u1"))
    assert.is_false(h:fired_get("near-cap", "u1", "2025-03"))
    assert.truthy(h:fired_get("near-cap", "u2", "2025-03"), "other subjects stay fired")
    local again = assert(h:fire("near-cap", "u1", "2025-03"))
    assert.is_true(again.created)
    assert.are_not.equal(f.id, again.id)
    assert.equal(0, h:rearm("near-cap", "nobody"))
  end)

  it("fires once when two processes fire at the same time", function()
    local go = dir .. "/go"
    local a = assert(io.popen("exec lua5.4 spec/store_child.lua fire " .. quote(path) .. " " .. quote(go)))
    local b = assert(io.popen("exec lua5.4 spec/store_child.lua fire " .. quote(path) .. " " .. quote(go)))
    assert(core.create_private(go))
    local id_a, created_a = a:read("l"):match("^(%x+) (%a+)$")
    local id_b, created_b = b:read("l"):match("^(%x+) (%a+)$")
    assert(a:close())
    assert(b:close())
    assert.equal(id_a, id_b)
    local created = { created_a, created_b }
    table.sort(created)
    assert.same({ "false", "true" }, created, "one created it, the other found it")
    assert.equal(id_a, assert(h:fired_get("near-cap", "u1", "2025-03")).id)
  end)

  it("is a to-be-closed value", function()
    local kept
    do
      local k <close> = assert(history.open(path))
      kept = k
      assert(k:fire("r", "s", "ever"))
    end
    assert.has_error(function() kept:fired_get("r", "s", "ever") end,
                     "proxyapi.store: snapshot called on a closed history")
    assert.equal("proxyapi.history " .. path, tostring(kept))
  end)

  it("gives period keys", function()
    local t = os.time { year = 2025, month = 3, day = 7, hour = 12 }
    assert.same({ "2025-03-07", "2025-03", "ever" },
                { history.period_key("day", t), history.period_key("month", t), history.period_key("ever", t) })
    assert.has_error(function() history.period_key("week") end,
                     "bad argument #1 to 'period_key' (\"day\", \"month\" or \"ever\" expected)")
  end)
end)
