-- `proxyapi usage` against the fake: windows, totals per account and per
-- remark, an unknown --user, and the stored history with its bar chart.
local helper = require "helper"
local cjson = require "cjson"

local quote = helper.quote

local CLEAN = "env -u PROXYAPI_APP_KEY -u PROXYAPI_BASE_URL -u PROXYAPI_PROFILE -u LUA_INIT -u LUA_INIT_5_4"
  .. " no_proxy=127.0.0.1 NO_PROXY=127.0.0.1"

local function tempdir()
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir -m 700 " .. quote(dir)))
  return dir
end

describe("proxyapi usage", function()
  local fake, env, config_home, state_home

  local function run(args, o)
    o = o or {}
    return helper.run(CLEAN .. " XDG_CONFIG_HOME=" .. quote(config_home) .. " XDG_STATE_HOME="
      .. quote(o.state or state_home) .. " " .. env .. " " .. (o.host or "lua5.4") .. " scripts/proxyapi "
      .. args .. " < /dev/null")
  end

  local function json(args, o)
    local rc, out, err = run(args .. " --json", o)
    assert.equal(0, rc, err)
    return cjson.decode(out)
  end

  lazy_setup(function()
    -- a clock that stands still, so that "today" is the same for every run
    fake = helper.start_fake("--frozen")
    env = "PROXYAPI_APP_KEY=" .. fake.app_key .. " PROXYAPI_BASE_URL=" .. fake.base_url
    config_home, state_home = tempdir(), tempdir()
  end)

  lazy_teardown(function()
    fake:stop()
    os.execute("rm -rf " .. quote(config_home) .. " " .. quote(state_home))
  end)

  before_each(function()
    fake:reset()
  end)

  local function day(offset)
    return os.date("%Y-%m-%d", os.time() + offset * 86400)
  end

  for _, host in ipairs { "lua5.4", helper.PXLUA } do
    it("shows the days of a window with a bar chart and a total (" .. host .. ")", function()
      local rc, out, err = run("usage --days 3", { host = host })
      assert.equal(0, rc, err)
      local lines = helper.lines(out)
      assert.matches("^day%s+used$", lines[1])
      assert.equal(3 + 3, #lines) -- header, rule, days, total
      assert.matches("^" .. day(-2):gsub("%-", "%%-") .. "%s+[%d.]+ [KMG]B  █", lines[3])
      assert.matches("^total: ", lines[6])
      local doc = json("usage --days 3", { host = host })
      assert.equal(3, #doc.rows)
      local sum = 0
      for _, r in ipairs(doc.rows) do
        assert.equal(math.floor(r.flow), r.flow)
        sum = sum + r.flow
      end
      assert.equal(sum, doc.total_kb)
      assert.equal(day(-2), doc.from)
      local sent = fake:log()[#fake:log()]
      assert.equal(day(-2) .. " 00:00:00", sent.params.start_time)
    end)
  end

  it("takes --from and --to days, and refuses --days with them", function()
    local doc = json("usage --from " .. day(-4) .. " --to " .. day(-2))
    assert.equal(3, #doc.rows)
    assert.equal(day(-4), doc.rows[1].day)
    assert.equal(day(-2) .. " 23:59:59", fake:log()[1].params.end_time)
    local rc, _, err = run("usage --days 2 --from " .. day(-4))
    assert.equal(2, rc)
    assert.matches("--days or --from/--to", err, 1, true)
  end)

  it("totals per account and per remark, one read per account", function()
    local accounts = fake:accounts()
    local n = 0
    for _ in pairs(accounts) do n = n + 1 end
    local doc = json("usage --days 2 --per-account")
    assert.equal(n, #doc.rows)
    local total = 0
    for i, r in ipairs(doc.rows) do
      assert.is_table(accounts[r.username])
      if i > 1 then assert.is_true(doc.rows[i - 1].flow >= r.flow) end
      total = total + r.flow
    end
    assert.equal(total, doc.total_kb)
    local by_user = 0
    for _, e in ipairs(fake:log()) do
      by_user = by_user + (e.params.username and 1 or 0)
    end
    assert.equal(n, by_user)
    doc = json("usage --days 2 --by-remark")
    local count, flow = 0, 0
    for _, r in ipairs(doc.rows) do
      count, flow = count + r.accounts, flow + r.flow
    end
    assert.equal(n, count)
    assert.equal(total, flow)
  end)

  it("refuses a --user that names no account (exit 2) instead of printing zeros", function()
    local rc, out, err = run("usage --user nobody99")
    assert.equal(2, rc)
    assert.equal("", out)
    assert.matches("no account named nobody99", err, 1, true)
    for _, e in ipairs(fake:log()) do
      assert.not_equal("/openapi/user-usage-flow/total", e.path)
    end
    local name = next(fake:accounts())
    local doc = json("usage --days 2 --user " .. name)
    assert.equal(2, #doc.rows)
    assert.equal(name, fake:log()[#fake:log()].params.username)
  end)

  it("reads the stored history with --history", function()
    local rc, _, err = run("usage --history")
    assert.equal(2, rc)
    assert.matches("history sync", err, 1, true)
    -- fill a history as `proxyapi history sync` would
    local history = require "proxyapi.history"
    local api = fake:client()
    local h = assert(history.open(state_home .. "/proxyapi/history.sqlite3"))
    assert(h:sync(api, { days = 5 }))
    local stored = assert(h:usage { from = day(-2), to = day(0) })
    h:close()
    fake:clear_log()
    local doc = json("usage --history --days 3")
    assert.equal("history", doc.source)
    assert.equal(#stored, #doc.rows)
    for i, r in ipairs(stored) do
      assert.equal(r.day, doc.rows[i].day)
      assert.equal(r.flow, doc.rows[i].flow)
    end
    local out
    rc, out = run("usage --history --days 3")
    assert.equal(0, rc)
    assert.matches("█", out, 1, true)
    doc = json("usage --history --days 3 --per-account")
    assert.is_string(doc.rows[1].username)
    rc, _, err = run("usage --history --user nobody99")
    assert.equal(2, rc)
    assert.matches("nobody99", err, 1, true)
    for _, e in ipairs(fake:log()) do
      assert.not_equal("/openapi/user-usage-flow/total", e.path, "history reads no usage from the API")
    end
    -- a delete keeps the account's history first (the provider drops it)
    local victim = next(fake:accounts())
    rc, _, err = run("accounts delete --yes " .. victim)
    assert.equal(0, rc, err)
    local synced = false
    for _, e in ipairs(fake:log()) do
      synced = synced or (e.path == "/openapi/user-usage-flow/total" and e.params.username == victim)
    end
    assert.is_true(synced)
    h = assert(history.open(state_home .. "/proxyapi/history.sqlite3", { readonly = true }))
    local deleted
    for _, a in ipairs(assert(h:accounts())) do
      if a.username == victim then deleted = a.deleted_at end
    end
    local days = assert(h:usage { username = victim })
    h:close()
    assert.is_number(deleted)
    assert.is_true(#days > 0)
  end)
end)
