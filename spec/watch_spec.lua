-- proxyapi.watch over real parts: the fake API (its clock frozen, moved
-- forward by the spec), a real SQLite history and journal, a webhook
-- receiver in a child process; and watch run by pxlua in child processes
-- killed with SIGKILL and SIGTERM.
local watch = require "proxyapi.watch"
local journal = require "proxyapi.journal"
local notify = require "proxyapi.notify"
local socket = require "socket"
local helper = require "helper"
local wh = require "watch_helper"

local DEADLINE = 20 -- seconds any wait in a spec may take

-- Accounts of a scenario: name -> { limit = GB, gb = used GB }
local seed = wh.seed

-- (rule, account, period) of every POST received, sorted
local function posted(receiver)
  local list = {}
  for _, r in ipairs(receiver:requests()) do
    list[#list + 1] = r.json.rule .. " " .. r.json.account .. " " .. r.json.period
  end
  table.sort(list)
  return list
end

local function sorted(list)
  table.sort(list)
  return list
end

local function disabled(fake)
  local names = {}
  for name, a in pairs(fake:accounts()) do
    if a.status == 0 then
      names[#names + 1] = name
    end
  end
  return sorted(names)
end

describe("watch.round", function()
  local fake, receiver, ctx, h, hpath, jpath
  before_each(function()
    fake = wh.start_fake("2031-05-14 12:00:00")
    receiver = wh.start_receiver("204")
    hpath, jpath = wh.tmp(".history"), wh.tmp(".journal")
    h = assert(require("proxyapi.history").open(hpath))
    ctx = wh.ctx(fake, { journal = jpath })
  end)
  after_each(function()
    ctx.close()
    h:close()
    receiver:stop()
    fake:stop()
    os.remove(hpath)
    os.remove(jpath)
  end)

  local function round(opts)
    opts = opts or {}
    opts.history, opts.now = h, wh.fake_now(fake)
    opts.notifier = opts.notifier or notify.new { proxy = false, retry_backoff = 0.01 }
    local report = assert(watch.round(ctx, opts))
    return report
  end

  it("POSTs exactly once per fired rule and period over rounds and a move into the next day and month", function()
    seed(fake, { a1 = { limit = 10, gb = 9.5 }, a2 = { limit = 10, gb = 10.5 }, a3 = { limit = 100, gb = 2 },
                 a4 = { gb = 0.5 } })
    ctx.settings.rules = {
      { name = "near", when = "usage_percent >= 90", action = "notify", webhook = receiver.url },
      { name = "daily", when = "day_gb >= 1", action = "notify", webhook = receiver.url, period = "day" },
      { name = "hard", when = "usage_percent >= 100", action = "disable" },
    }
    local first = round()
    assert.equal(0, first.status)
    assert.equal(4, first.accounts)
    round()
    round()
    local day1 = { "daily a1 2031-05-14", "daily a2 2031-05-14", "daily a3 2031-05-14", "near a1 2031-05",
                   "near a2 2031-05" }
    assert.same(day1, posted(receiver))
    assert.same({ "a2" }, disabled(fake))
    -- the next day: only a3 used 1 GB or more on it
    fake:clock { advance = 86400 }
    fake:add_usage { account = "a3", gb = 1.5 }
    fake:add_usage { account = "a4", gb = 0.2 }
    round()
    round()
    local day2 = { "daily a3 2031-05-15" }
    local so_far = { table.unpack(day1) }
    so_far[#so_far + 1] = day2[1]
    assert.same(sorted(so_far), posted(receiver))
    -- the next month: near fires again for a1 and a2 (still at 95 % and 105 %)
    fake:clock { to = "2031-06-01 12:00:00" }
    local june = round()
    round()
    local all = { table.unpack(day1) }
    all[#all + 1] = day2[1]
    all[#all + 1] = "near a1 2031-06"
    all[#all + 1] = "near a2 2031-06"
    assert.same(sorted(all), posted(receiver))
    local hard = {}
    for _, a in ipairs(june.actions) do
      if a.rule == "hard" then hard[#hard + 1] = a.subject .. " " .. a.outcome end
    end
    assert.same({ "a2 applied" }, hard) -- a new month: disabled again (idempotent)
    -- every POST carries the id of its stored firing, and ids differ
    local ids, stored = {}, {}
    for _, row in ipairs(wh.firings(hpath)) do
      stored[row.id] = row.rule .. " " .. row.account .. " " .. row.period_key
      assert.is_true(row.channels[row.rule == "hard" and "disable" or "webhook"], row.id)
    end
    for _, r in ipairs(receiver:requests()) do
      assert.is_nil(ids[r.json.id])
      ids[r.json.id] = true
      assert.equal(r.json.rule .. " " .. r.json.account .. " " .. r.json.period, stored[r.json.id])
      assert.equal("test", r.json.profile)
      assert.is_number(r.json.values.usage_gb)
    end
  end)

  it("disables exactly the accounts over the threshold, through the journal", function()
    seed(fake, { b1 = { limit = 1, gb = 1.5 }, b2 = { limit = 2, gb = 1 }, b3 = { limit = 5, gb = 5 },
                 b4 = { gb = 50 }, b5 = { limit = 1 } })
    ctx.settings.rules = { { name = "hard-cap", when = "usage_percent >= 100", action = "disable" } }
    local report = round()
    assert.same({ "b1", "b3" }, disabled(fake))
    local subjects = {}
    for _, a in ipairs(report.actions) do
      subjects[#subjects + 1] = a.subject .. " " .. a.channel .. " " .. a.outcome
    end
    assert.same({ "b1 disable applied", "b3 disable applied" }, sorted(subjects))
    ctx.api:close()
    local j = assert(journal.open(jpath))
    local entries = assert(j:entries {})
    j:close()
    local journaled = {}
    for _, e in ipairs(entries) do
      if e.endpoint:find("/disable$") then
        for name, outcome in pairs(e.outcomes) do
          journaled[#journaled + 1] = name .. " " .. outcome
        end
      end
    end
    assert.same({ "b1 applied", "b3 applied" }, sorted(journaled))
  end)

  it("caps with change_limit once per period, and re-arms when the condition clears", function()
    seed(fake, { c1 = { limit = 10, gb = 3 }, c2 = { limit = 10, gb = 0.5 } })
    ctx.settings.rules = {
      { name = "daily", when = "day_gb >= 2", action = "cap", limit = 20, period = "day" },
      { name = "near", when = "usage_percent >= 25", action = "notify", webhook = receiver.url },
    }
    round()
    local accounts = fake:accounts()
    assert.equal(20, accounts.c1.limit_flow)
    assert.equal(10, accounts.c2.limit_flow)
    -- the cap made c1 15 %: near re-arms at once in the next round, and fires again when it holds again
    assert.same({ "near c1 2031-05" }, posted(receiver))
    local second = round()
    local rearmed = {}
    for _, a in ipairs(second.actions) do
      rearmed[#rearmed + 1] = a.rule .. " " .. a.subject .. " " .. a.outcome
    end
    assert.same({ "near c1 rearmed" }, rearmed)
    fake:add_usage { account = "c1", gb = 3 } -- 6 of 20: 30 %
    round()
    round()
    assert.same({ "near c1 2031-05", "near c1 2031-05" }, posted(receiver))
    local got = receiver:requests()
    assert.are_not.equal(got[1].json.id, got[2].json.id)
  end)

  it("delivers at least once: a failed webhook is retried next round with the same id, then never again", function()
    receiver:stop()
    receiver = wh.start_receiver("500,500,204")
    seed(fake, { d1 = { limit = 1, gb = 1 } })
    ctx.settings.rules = { { name = "full", when = "usage_percent >= 100", action = "notify", webhook = receiver.url } }
    local n = notify.new { proxy = false, retries = 0 }
    local first = round { notifier = n }
    assert.equal(5, first.status)
    assert.equal("failed", first.actions[1].outcome)
    local second = round { notifier = n }
    assert.equal("failed", second.actions[1].outcome)
    assert.is_true(second.actions[1].retry)
    local third = round { notifier = n }
    assert.same({ "webhook", "applied", true }, { third.actions[1].channel, third.actions[1].outcome,
                                                 third.actions[1].retry })
    assert.equal(0, #round({ notifier = n }).actions)
    local got = receiver:requests()
    assert.equal(3, #got)
    assert.equal(got[1].body, got[2].body)
    assert.equal(got[1].body, got[3].body)
  end)

  it("runs a notify command once per firing, with the firing in its environment", function()
    local out = wh.tmp()
    seed(fake, { e1 = { limit = 1, gb = 2 }, e2 = { limit = 1, gb = 1 }, e3 = { limit = 10, gb = 1 } })
    local script = 'echo "$PROXYAPI_RULE $PROXYAPI_ACCOUNT $PROXYAPI_PERIOD"'
    ctx.settings.rules = { { name = "full", when = "usage_percent >= 100", action = "notify",
                             command = { "/bin/sh", "-c", script } } }
    round { command_output = out }
    round { command_output = out }
    local f = assert(io.open(out))
    local lines = helper.lines(f:read("a"))
    f:close()
    os.remove(out)
    assert.same({ "full e1 2031-05", "full e2 2031-05" }, sorted(lines))
  end)

  it("in a dry run stores and sends nothing, and a later real round fires normally", function()
    seed(fake, { f1 = { limit = 1, gb = 2 }, f2 = { limit = 10, gb = 1 } })
    ctx.settings.rules = {
      { name = "hard", when = "usage_percent >= 100", action = "disable" },
      { name = "tell", when = "usage_percent >= 100", action = "notify", webhook = receiver.url },
    }
    fake:clear_log()
    local dry = round { dry_run = true }
    assert.is_true(dry.dry_run)
    local what = {}
    for _, a in ipairs(dry.actions) do
      what[#what + 1] = a.subject .. " " .. a.detail
    end
    assert.same({ "f1 would disable", "f1 would notify" }, sorted(what))
    assert.same({}, disabled(fake))
    assert.same({}, receiver:requests())
    assert.same({}, wh.firings(hpath))
    for _, entry in ipairs(fake:log()) do
      assert.equal("GET", entry.method)
    end
    round()
    assert.same({ "f1" }, disabled(fake))
    assert.same({ "tell f1 2031-05" }, posted(receiver))
  end)

  it("fires package rules once per package", function()
    local bought = fake:add_product { days = 2, product_type = 9 }
    ctx.settings.rules = { { name = "expiry", when = "package_days_left <= 3", action = "notify",
                             webhook = receiver.url, period = "ever" } }
    round()
    round()
    local got = receiver:requests()
    local ours = {}
    for _, r in ipairs(got) do
      if r.json.trade_no == bought.product.trade_no then ours[#ours + 1] = r.json end
    end
    assert.equal(1, #ours)
    assert.equal("ever", ours[1].period)
    assert.is_true(ours[1].values.package_days_left <= 2)
    local ids = {}
    for _, r in ipairs(got) do
      assert.is_nil(ids[r.json.trade_no])
      ids[r.json.trade_no] = true
    end
  end)

  it("refuses bad rules with status 2", function()
    ctx.settings.rules = { { name = "x", when = "usage_gb >", action = "disable" } }
    local report, err, code = watch.round(ctx, { history = h })
    assert.is_nil(report)
    assert.matches("^profile 'test': rule 'x': when: ", err)
    assert.equal(2, code)
  end)
end)

-- watch as a process: pxlua runs the job (spec/watch_child.lua)
describe("watch in a child process", function()
  local fake, receiver, hpath, jpath, settings

  local function env(extra)
    return table.concat({
      "PROXYAPI_BASE_URL=" .. fake.base_url, "PROXYAPI_APP_KEY=" .. fake.app_key,
      "PROXYAPI_NOW=" .. helper.quote(fake:clock().now), "WATCH_SETTINGS=" .. settings,
      "WATCH_JOURNAL=" .. jpath, extra or "" }, " ")
  end

  local function spawn(args, extra)
    local p = io.popen(string.format("%s %s spec/watch_child.lua watch --history %s %s > /dev/null 2>&1 & echo $!",
      env(extra), helper.PXLUA, hpath, args or ""))
    local pid = tonumber(p:read("l"))
    p:close()
    return pid
  end

  local function alive(pid)
    return os.execute("kill -0 " .. pid .. " 2>/dev/null") == true
  end

  local function wait_for(what, fn)
    local deadline = socket.gettime() + DEADLINE
    while not fn() do
      assert(socket.gettime() < deadline, what .. " did not happen in " .. DEADLINE .. " s")
      socket.sleep(0.02)
    end
  end

  before_each(function()
    fake = wh.start_fake("2031-05-14 12:00:00")
    receiver = wh.start_receiver("204")
    hpath, jpath, settings = wh.tmp(".history"), wh.tmp(".journal"), wh.tmp(".lua")
    local f = assert(io.open(settings, "w"))
    f:write(string.format([[return { rules = {
      { name = "hard", when = "usage_percent >= 100", action = "disable" },
      { name = "tell", when = "usage_percent >= 100", action = "notify", webhook = %q },
    } }]], receiver.url))
    f:close()
  end)
  after_each(function()
    receiver:stop()
    fake:stop()
    for _, p in ipairs { hpath, jpath, settings } do
      os.remove(p)
    end
  end)

  it("loses no action when killed with SIGKILL mid-round: the journal and the fired-state agree", function()
    local over = { k1 = { limit = 1, gb = 2 }, k2 = { limit = 1, gb = 1 }, k3 = { limit = 2, gb = 3 },
                   k4 = { limit = 1, gb = 1.5 } }
    local accounts = { k5 = { limit = 10, gb = 1 }, k6 = {} }
    for k, v in pairs(over) do accounts[k] = v end
    seed(fake, accounts)
    fake:config { delay = 0.4 }
    -- kill 1: as soon as a firing is stored, before the disable is sent
    local pid = spawn()
    wait_for("a stored firing", function()
      local ok, rows = pcall(wh.firings, hpath)
      return ok and #rows > 0
    end)
    os.execute("kill -9 " .. pid)
    wait_for("the end of the killed child", function() return not alive(pid) end)
    -- kill 2: while the disable request is in flight (sent, its reply delayed)
    fake:clear_log()
    pid = spawn()
    wait_for("the disable request", function()
      for _, e in ipairs(fake:log()) do
        if e.path:find("/disable$") then return true end
      end
      return false
    end)
    os.execute("kill -9 " .. pid)
    wait_for("the end of the killed child", function() return not alive(pid) end)
    -- a whole run finishes the work
    fake:config { delay = 0 }
    local status, _, err = helper.run(string.format("%s %s spec/watch_child.lua watch --history %s", env(),
      helper.PXLUA, hpath))
    assert.equal(0, status, err)

    assert.same({ "k1", "k2", "k3", "k4" }, disabled(fake))
    -- one firing per rule and account over the threshold, each delivered on its channel
    local firings, by_id = wh.firings(hpath), {}
    local fired = {}
    for _, row in ipairs(firings) do
      fired[#fired + 1] = row.rule .. " " .. row.account
      assert.is_true(row.channels[row.rule == "hard" and "disable" or "webhook"], row.rule .. " " .. row.account)
      by_id[row.id] = row
    end
    assert.same({ "hard k1", "hard k2", "hard k3", "hard k4", "tell k1", "tell k2", "tell k3", "tell k4" },
      sorted(fired))
    -- every firing's notification arrived (at least once), and no other id ever did: nothing fired twice
    local seen = {}
    for _, r in ipairs(receiver:requests()) do
      assert.is_truthy(by_id[r.json.id], "an id that is not a stored firing: " .. tostring(r.json.id))
      seen[r.json.id] = true
    end
    for id, row in pairs(by_id) do
      if row.rule == "tell" then assert.is_true(seen[id], row.account) end
    end
    -- the journal: every disabled account has an applied disable; the killed runs' entries are not applied
    local j = assert(journal.open(jpath))
    local entries = assert(j:entries {})
    j:close()
    local applied, other = {}, 0
    for _, e in ipairs(entries) do
      assert.matches("/disable$", e.endpoint)
      for name, outcome in pairs(e.outcomes) do
        if outcome == "applied" then applied[name] = true else other = other + 1 end
      end
    end
    assert.same({ k1 = true, k2 = true, k3 = true, k4 = true }, applied)
    assert.is_true(other >= 1) -- the request cut short by the second kill
  end)

  it("--every runs rounds until SIGTERM and exits 143 between rounds", function()
    seed(fake, { t1 = { limit = 1, gb = 2 } })
    local out, pidf, statusf = wh.tmp(), wh.tmp(), wh.tmp()
    -- the inner shell becomes pxlua (exec), so its pid is pxlua's; the outer one keeps the exit status
    local inner = string.format("echo $$ > %s; exec env %s %s spec/watch_child.lua watch --history %s --every 1s",
      pidf, env(), helper.PXLUA, hpath)
    local cmd = string.format("(sh -c %s > %s 2>&1; echo $? > %s) &", helper.quote(inner), out, statusf)
    os.execute(cmd)
    local function read(path)
      local f = io.open(path)
      local text = f and f:read("a") or ""
      if f then f:close() end
      return text
    end
    local function rounds()
      local list = {}
      for line in read(out):gmatch("[^\n]+") do
        if line:sub(1, 1) == "{" then list[#list + 1] = require("cjson").decode(line) end
      end
      return list
    end
    wait_for("two rounds", function() return #rounds() >= 2 end)
    local pid = tonumber(read(pidf))
    os.execute("kill -TERM " .. pid)
    wait_for("the end of watch --every", function() return read(statusf):find("\n") ~= nil end)
    local list, status, output = rounds(), read(statusf), read(out)
    for _, path in ipairs { out, pidf, statusf } do os.remove(path) end
    assert.equal("143\n", status, output)
    assert.is_true(#list >= 2)
    assert.equal("applied", list[1].actions[1].outcome)
    assert.same({}, list[2].actions)
    assert.equal(1, #receiver:requests())
  end)
end)
