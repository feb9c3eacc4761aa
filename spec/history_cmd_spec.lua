-- `proxyapi history sync` (proxyapi.jobs.history) against the fake, into
-- a real SQLite history: what it stores, that a rerun changes nothing,
-- its options and formats, and its exit statuses.
local job = require "proxyapi.jobs.history"
local history = require "proxyapi.history"
local cjson = require "cjson"
local helper = require "helper"
local wh = require "watch_helper"

describe("history sync", function()
  local fake, ctx, hpath
  before_each(function()
    fake = helper.start_fake() -- seeded accounts with usage, the clock at the real time
    hpath = wh.tmp(".history")
  end)
  after_each(function()
    if ctx then
      ctx.close()
      ctx = nil
    end
    fake:stop()
    os.remove(hpath)
  end)

  local function run(list, fields)
    if ctx then
      ctx.close()
    end
    fields = fields or {}
    fields.settings = fields.settings or { history = hpath }
    ctx = wh.ctx(fake, fields)
    local args, status = wh.parse(job, list)
    if not args then
      return status
    end
    return job.run(ctx, args), ctx.output()
  end

  it("stores every account and its days, and a rerun changes nothing", function()
    local truth = fake:accounts()
    local n = 0
    for _ in pairs(truth) do n = n + 1 end
    local status, out = run { "sync" }
    assert.equal(0, status)
    local doc = cjson.decode(out)
    assert.equal(n, doc.accounts)
    assert.equal(n * 7, doc.usage_days) -- the fake lists every day of the window
    assert.is_true(doc.changed > 0)
    assert.same({}, doc.failed)
    assert.equal(fake.base_url:match("//(.*)$"), doc.base_host)
    assert.equal(os.date("%Y-%m-%d"), doc.to)
    assert.equal("test", doc.profile)
    local again
    status, again = run { "sync" }
    assert.equal(0, status)
    assert.equal(0, cjson.decode(again).changed)
    -- one account's usage grows: one row changes
    local name = next(truth)
    fake:add_usage { account = name, kb = 123 }
    local _, third = run { "sync" }
    assert.equal(1, cjson.decode(third).changed)
    -- what is stored matches the fake's own per-day usage, and the accounts' fields
    local h = assert(history.open(hpath))
    finally(function() h:close() end)
    local stored = {}
    for _, a in ipairs(assert(h:accounts {})) do
      stored[a.username] = a
    end
    for username, a in pairs(truth) do
      assert.equal(a.limit_flow, stored[username].limit_flow, username)
      assert.equal(a.remark, stored[username].remark, username)
      assert.is_nil(stored[username].password)
    end
    local today = assert(h:usage { username = name, from = os.date("%Y-%m-%d") })
    local reported = fake:get("/openapi/user-usage-flow/total", { username = name,
      start_time = os.date("%Y-%m-%d") .. " 00:00:00", end_time = os.date("%Y-%m-%d") .. " 23:59:59" })
    assert.equal(reported.data.list[1].flow, today[1].flow)
  end)

  it("never stores a password", function()
    local api = fake:client()
    assert(api:add_accounts({ "hist01:Zq9secretPw77" }))
    api:close()
    assert.equal(0, (run { "sync", "--days", "1" }))
    for _, suffix in ipairs { "", "-wal" } do
      local f = io.open(hpath .. suffix, "rb")
      if f then
        local bytes = f:read("a")
        f:close()
        assert.is_nil(bytes:find("Zq9secretPw77", 1, true), suffix)
        assert.is_truthy(suffix == "-wal" or bytes:find("hist01", 1, true) or io.open(hpath .. "-wal"))
      end
    end
  end)

  it("takes --days, or --from and --to", function()
    local n = 0
    for _ in pairs(fake:accounts()) do n = n + 1 end
    local y = os.date("%Y-%m-%d", os.time() - 86400 * 2)
    local status, out = run { "sync", "--from", y, "--to", os.date("%Y-%m-%d") }
    assert.equal(0, status)
    local doc = cjson.decode(out)
    assert.same({ y, 3 * n }, { doc.from, doc.usage_days })
    status, out = run { "sync", "--days", "2" }
    assert.equal(0, status)
    assert.equal(2 * n, cjson.decode(out).usage_days)
    assert.equal(2, (run { "sync", "--days", "2", "--from", y }))
    assert.equal(2, (run { "sync", "--days", "0" }))
    assert.equal(2, (run { "sync", "--from", "2031-02-30" }))
    assert.equal(2, (run { "sync", "--from", os.date("%Y-%m-%d"), "--to", y }))
  end)

  it("prints a table or CSV, and says when it was a dry run", function()
    local status, out = run({ "sync", "--days", "1" }, { format = "table" })
    assert.equal(0, status)
    local lines = helper.lines(out)
    assert.matches("^profile%s+host%s+from%s+to%s+accounts%s+usage rows%s+changed%s+failed$", lines[1])
    assert.equal(3, #lines)
    local err
    status, out, err = run({ "sync", "--days", "1" }, { format = "csv", dry_run = true })
    assert.equal(0, status)
    assert.equal("profile,base_host,from,to,accounts,usage_days,changed,failed_count", helper.lines(out)[1])
    assert.matches("dry run", err)
  end)

  it("exits 3 when some usage could not be read, 5 when the API is down", function()
    fake:fault { path = "/openapi/user-usage-flow/total", status = 400, times = 1 }
    local status, out, err = run { "sync", "--days", "1" }
    assert.equal(3, status)
    local doc = cjson.decode(out)
    assert.equal(1, #doc.failed)
    assert.matches("usage of " .. doc.failed[1].account, err)
    fake:fault { path = "/openapi/whitelist-account/list", status = 503, times = -1 }
    local _
    status, _, err = run { "sync" }
    assert.equal(5, status)
    assert.matches("http 503", err)
  end)

  it("refuses a history it cannot open with status 2", function()
    local file = helper.tempfile("not a folder")
    local status, _, err = run({ "sync" }, { settings = { history = file .. "/h.sqlite3" } })
    os.remove(file)
    assert.equal(2, status)
    assert.matches(file, err, 1, true)
  end)
end)
