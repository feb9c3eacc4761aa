-- Real runs of rotate-passwords, provision and cap-traffic through
-- build/pxlua against the fake, cut short by SIGINT or SIGKILL at chosen
-- points (the list in flight, mid-batch, a retry wait, mid-map), then
-- checked against the fake's own state: every password in force is in the
-- output file or the journal, the journal's outcomes agree with the fake,
-- an interrupt ends with 130 and one summary line, and --resume (or a
-- second run) finishes the job changing no account twice.
local helper = require "helper"
local jh = require "jobs_helper"

local quote = helper.quote

local N = 48            -- accounts per batch: with delay 0.1 and 8 at a time, about 0.6 s of changes
local DELAY = 0.1
local GRACE = 0.3

local OUTCOMES = { applied = true, failed = true, unknown = true }

--- One summary line from pxlua, no traceback.
local function assert_interrupted(code, err)
  assert.equal(130, code, err)
  local _, lines = err:gsub("pxlua: interrupted: %d+ applied, %d+ failed, %d+ unknown", "")
  assert.equal(1, lines, err)
  assert.is_nil(err:find("traceback", 1, true), err)
end

--- The newest run of the journal in `state` and its entries (secrets shown).
local function last_run(state)
  local j = jh.journal(state)
  local run = assert(j:last_run())
  local entries = assert(j:entries { run = run.id, show_secrets = true })
  j:close()
  return run, entries
end

--- The journal's password changes agree with the fake: applied ones are
-- in force, failed ones are not, anything else reads unknown. Returns
-- account -> {password -> outcome}.
local function check_password_entries(entries, accounts)
  local recorded = {}
  for _, e in ipairs(entries) do
    if e.path:find("/change%-password$") then
      local account, password = e.params.account, e.params.password
      local outcome = e.outcomes[account]
      assert.is_true(OUTCOMES[outcome] ~= nil, "outcome " .. tostring(outcome))
      if outcome == "applied" then
        assert.equal(password, accounts[account].password, account .. ": recorded applied, not in force")
      elseif outcome == "failed" then
        assert.are_not.equal(password, accounts[account].password, account .. ": recorded failed, but in force")
      end
      recorded[account] = recorded[account] or {}
      recorded[account][password] = outcome
    end
  end
  return recorded
end

--- Every changed account (password not "old<i>") has its password in the file or the journal.
local function check_recoverable(accounts, prefix, n, file_rows, recorded)
  local changed = 0
  for i = 1, n do
    local name = prefix .. i
    local password = accounts[name].password
    if password ~= "old" .. i then
      changed = changed + 1
      local in_file = file_rows[name] and file_rows[name].password == password
      local in_journal = recorded[name] and recorded[name][password] ~= nil
      assert.is_true(in_file or in_journal, name .. ": its password is nowhere")
    end
  end
  return changed
end

--- Each account got at most one distinct password, each sent (and answered) once.
local function assert_changed_once(fake)
  for account, passwords in pairs(jh.password_sends(fake)) do
    local distinct = 0
    for password, count in pairs(passwords) do
      distinct = distinct + 1
      assert.equal(1, count, account .. " got " .. password .. " " .. count .. " times")
    end
    assert.equal(1, distinct, account .. " was changed to " .. distinct .. " passwords")
  end
end

describe("interrupted jobs", function()
  local fake, state

  lazy_setup(function()
    fake = helper.start_fake()
  end)

  lazy_teardown(function()
    fake:stop()
  end)

  before_each(function()
    fake:reset()
    state = jh.tempdir()
  end)

  after_each(function()
    jh.remove_tree(state)
  end)

  local function start(args)
    return jh.start(fake, state, args, GRACE)
  end

  local function count_posts(suffix, at_least)
    return function() return #jh.requests(fake, suffix) >= at_least end
  end

  describe("rotate-passwords", function()
    local output

    before_each(function()
      jh.add_accounts(fake, "ir", N)
      fake:config { delay = DELAY }
      output = state .. "/new.csv"
    end)

    local function rotate(extra)
      return start("scripts/rotate-passwords.lua --match 'ir*' --output " .. quote(output) .. " " .. (extra or ""))
    end

    --- The file and the journal after a cut-short rotation, checked; returns the run id.
    local function check_cut_short(killed)
      local accounts = fake:accounts()
      local rows, n = jh.credentials(jh.slurp(output))
      assert.equal(N, n)
      assert.equal("600", jh.mode(output))
      local run, entries = last_run(state)
      local recorded = check_password_entries(entries, accounts)
      local changed = check_recoverable(accounts, "ir", N, rows, recorded)
      assert.is_true(changed > 0 and changed < N, changed .. " of " .. N .. " changed: not cut short")
      for name, row in pairs(rows) do
        if row.outcome == "applied" then
          assert.equal(row.password, accounts[name].password)
        elseif not killed then
          -- after SIGINT the file was rewritten with the final outcomes
          assert.is_true(row.outcome == "failed" or row.outcome == "unknown" or row.outcome == "not-sent",
            name .. ": " .. row.outcome)
        end
      end
      return run.id
    end

    --- --resume finishes the rotation: every account has the password its row names, none changed twice.
    local function check_resume(run_id)
      fake:config { delay = 0 }
      local second = state .. "/resumed.csv"
      local code, out, err = jh.start(fake, state, "scripts/rotate-passwords.lua --resume " .. run_id
        .. " --output " .. quote(second), GRACE):wait(30)
      assert.equal(0, code, err)
      assert.equal("", out)
      assert.matches("already applied", err)
      local rows, n = jh.credentials(jh.slurp(second))
      assert.equal(N, n)
      local accounts = fake:accounts()
      for name, row in pairs(rows) do
        assert.equal("applied", row.outcome)
        assert.equal(row.password, accounts[name].password)
        assert.are_not.equal("old" .. name:match("%d+"), row.password)
      end
      assert_changed_once(fake)
    end

    it("SIGINT while the account list is in flight: nothing sent, no file, exit 130", function()
      fake:fault { path = "/openapi/whitelist-account/list", delay = 3, times = 1 }
      local run = rotate()
      assert.is_true(jh.until_true(count_posts("/list", 1)))
      run:signal("INT")
      local code, out, err = run:wait(20)
      assert_interrupted(code, err)
      assert.matches("interrupted: 0 applied, 0 failed, 0 unknown", err)
      assert.equal("", out)
      assert.same({}, jh.requests(fake, "/change-password"))
      assert.is_nil(io.open(output))
    end)

    it("SIGINT mid-batch: 130, the file and the journal agree with the fake, --resume finishes", function()
      local run = rotate()
      assert.is_true(jh.until_true(count_posts("/change-password", 8)))
      run:signal("INT")
      local code, _, err = run:wait(20)
      assert_interrupted(code, err)
      assert.matches("finish with %-%-resume %d+", err)
      local run_id = check_cut_short(false)
      local last = select(1, last_run(state))
      assert.equal("interrupted", last.status)
      check_resume(run_id)
    end)

    it("SIGTERM mid-batch: 143, the same records", function()
      local run = rotate()
      assert.is_true(jh.until_true(count_posts("/change-password", 8)))
      run:signal("TERM")
      local code, _, err = run:wait(20)
      assert.equal(143, code, err)
      assert.matches("pxlua: interrupted: ", err)
      check_cut_short(false)
    end)

    it("SIGKILL mid-batch: the pending rows and the journal hold every password; --resume finishes", function()
      local run = rotate()
      assert.is_true(jh.until_true(count_posts("/change-password", 8)))
      run:signal("KILL")
      local code = run:wait(20)
      assert.equal(137, code)
      -- what was in flight lands on the fake by itself
      jh.until_true(function() return false end, 2 * DELAY)
      local run_id = check_cut_short(true)
      check_resume(run_id)
    end)

    it("SIGINT during a retry wait: the waiting change is unknown, not in force, and resent once", function()
      fake:fault { path = "/openapi/whitelist-account/change-password", status = 503, retry_after = 5, times = 1 }
      local run = rotate()
      assert.is_true(jh.until_true(function()
        for _, e in ipairs(jh.requests(fake, "/change-password")) do
          if e.fault then return true end
        end
      end))
      local waiting
      for _, e in ipairs(jh.requests(fake, "/change-password")) do
        if e.fault then waiting = e.params.account end
      end
      run:signal("INT")
      local code, _, err = run:wait(20)
      assert_interrupted(code, err)
      local run_id = check_cut_short(false)
      local _, entries = last_run(state)
      for _, e in ipairs(entries) do
        if e.params.account == waiting then assert.equal("unknown", e.outcomes[waiting]) end
      end
      assert.equal("old" .. waiting:match("%d+"), fake:accounts()[waiting].password)
      check_resume(run_id)
    end)
  end)

  describe("provision", function()
    local csv, output

    before_each(function()
      local lines = { "username,password,remark,limit" }
      for i = 1, N do lines[#lines + 1] = string.format("pv%d,,batch,%d", i, i) end
      csv = state .. "/accounts.csv"
      local f = assert(io.open(csv, "w"))
      f:write(table.concat(lines, "\n"), "\n")
      f:close()
      output = state .. "/new.csv"
      fake:config { delay = DELAY }
    end)

    local function provision(extra)
      return start("scripts/provision.lua --output " .. quote(output) .. " " .. (extra or "") .. " " .. quote(csv))
    end

    --- Every new account that exists has the password the file or the journal names.
    local function check_passwords(accounts)
      local rows = jh.credentials(jh.slurp(output))
      local _, entries = last_run(state)
      local added = {}
      for _, e in ipairs(entries) do
        if e.path:find("/add$") then
          for name, password in e.params.accounts:gmatch("(%w+):(%w+)") do
            added[name] = { password = password, outcome = e.outcomes[name] }
          end
        end
      end
      local present = 0
      for i = 1, N do
        local a = accounts["pv" .. i]
        if a then
          present = present + 1
          assert.is_true((rows["pv" .. i] and rows["pv" .. i].password == a.password)
            or (added["pv" .. i] and added["pv" .. i].password == a.password), "pv" .. i)
        elseif added["pv" .. i] then
          assert.are_not.equal("applied", added["pv" .. i].outcome)
        end
      end
      return present, entries
    end

    --- The journal's change-limit outcomes agree with the fake.
    local function check_limits(entries, accounts)
      local applied = 0
      for _, e in ipairs(entries) do
        if e.path:find("/change%-limit$") then
          local name = e.params.account
          local outcome = e.outcomes[name]
          assert.is_true(OUTCOMES[outcome] ~= nil)
          if outcome == "applied" then
            applied = applied + 1
            assert.equal(e.params.limit, math.tointeger(accounts[name].limit_flow))
          elseif outcome == "failed" then
            assert.are_not.equal(e.params.limit, math.tointeger(accounts[name].limit_flow))
          end
        end
      end
      return applied
    end

    --- --resume finishes: every account exists as the CSV says, one add each, each limit set once.
    local function check_resume(run_id)
      fake:config { delay = 0 }
      local second = state .. "/resumed.csv"
      local code, _, err = jh.start(fake, state, "scripts/provision.lua --resume " .. run_id .. " --output "
        .. quote(second) .. " " .. quote(csv), GRACE):wait(30)
      assert.equal(0, code, err)
      local accounts, rows = fake:accounts(), jh.credentials(jh.slurp(second))
      local adds = {}
      for _, e in ipairs(jh.requests(fake, "/add")) do
        for name in e.params.accounts:gmatch("(%w+):") do adds[name] = (adds[name] or 0) + 1 end
      end
      local limits = {}
      for _, e in ipairs(jh.requests(fake, "/change-limit")) do
        if e.fault == nil then limits[e.params.account] = (limits[e.params.account] or 0) + 1 end
      end
      for i = 1, N do
        local name = "pv" .. i
        assert.is_not_nil(accounts[name], name)
        assert.equal(i, math.tointeger(accounts[name].limit_flow))
        assert.equal(1, adds[name], name .. " added " .. tostring(adds[name]) .. " times")
        assert.equal(1, limits[name], name .. " capped " .. tostring(limits[name]) .. " times")
        assert.equal(accounts[name].password, rows[name].password)
        assert.equal("applied", rows[name].outcome)
      end
    end

    it("SIGINT mid-map (the limits of the new accounts): 130, agreeing records, --resume finishes", function()
      local run = provision()
      assert.is_true(jh.until_true(count_posts("/change-limit", 5)))
      run:signal("INT")
      local code, _, err = run:wait(20)
      assert_interrupted(code, err)
      local accounts = fake:accounts()
      local present, entries = check_passwords(accounts)
      assert.equal(N, present)
      local applied = check_limits(entries, accounts)
      assert.is_true(applied > 0 and applied < N, applied .. " limits: not cut short")
      check_resume((last_run(state)).id)
    end)

    it("SIGKILL while the add is in flight: the pending rows hold the passwords; --resume adds nothing twice",
      function()
      fake:fault { path = "/openapi/whitelist-account/add", delay = 0.8, times = 1 }
      local run = provision()
      assert.is_true(jh.until_true(count_posts("/add", 1)))
      run:signal("KILL")
      assert.equal(137, (run:wait(20)))
      -- the add lands on the fake once its delay is over
      assert.is_true(jh.until_true(function() return fake:accounts()["pv" .. N] ~= nil end, 5))
      -- written before the add went out: every new account, pending
      local rows, n = jh.credentials(jh.slurp(output))
      assert.equal(N, n)
      assert.equal("600", jh.mode(output))
      for name, row in pairs(rows) do assert.equal("pending", row.outcome, name) end
      local present, entries = check_passwords(fake:accounts())
      assert.equal(N, present)
      for _, e in ipairs(entries) do
        if e.path:find("/add$") then assert.equal("unknown", e.outcome) end
      end
      check_resume((last_run(state)).id)
    end)
  end)

  describe("cap-traffic", function()
    before_each(function()
      jh.add_accounts(fake, "cp", N)
      fake:config { delay = DELAY }
    end)

    local CAP = "scripts/cap-traffic.lua --threshold 0 --action cap --limit 7"

    --- change-limit entries agree with the fake; returns how many were applied.
    local function check_journal()
      local accounts = fake:accounts()
      local _, entries = last_run(state)
      local applied = 0
      for _, e in ipairs(entries) do
        local name = e.params.account
        local outcome = e.outcomes[name]
        assert.is_true(OUTCOMES[outcome] ~= nil)
        if outcome == "applied" then
          applied = applied + 1
          assert.equal(7, math.tointeger(accounts[name].limit_flow), name)
        elseif outcome == "failed" then
          assert.are_not.equal(7, math.tointeger(accounts[name].limit_flow), name)
        end
      end
      return applied
    end

    --- A second run finishes: every account capped at 7, each capped once.
    local function check_second_run()
      fake:config { delay = 0 }
      local code, _, err = start(CAP):wait(30)
      assert.equal(0, code, err)
      local counts = {}
      for _, e in ipairs(jh.requests(fake, "/change-limit")) do
        if e.fault == nil then counts[e.params.account] = (counts[e.params.account] or 0) + 1 end
      end
      for name, a in pairs(fake:accounts()) do
        assert.equal(7, math.tointeger(a.limit_flow), name)
        assert.is_true((counts[name] or 0) <= 1, name .. " capped " .. tostring(counts[name]) .. " times")
      end
    end

    it("SIGINT mid-map: 130, the journal agrees with the fake, a second run finishes", function()
      local run = start(CAP)
      assert.is_true(jh.until_true(count_posts("/change-limit", 8)))
      run:signal("INT")
      local code, out, err = run:wait(20)
      assert_interrupted(code, err)
      assert.matches("not sent", out)
      local applied = check_journal()
      assert.is_true(applied > 0 and applied < N, applied .. " capped: not cut short")
      check_second_run()
    end)

    it("SIGKILL mid-map: nothing recorded applied that is not, a second run finishes", function()
      local run = start(CAP)
      assert.is_true(jh.until_true(count_posts("/change-limit", 8)))
      run:signal("KILL")
      assert.equal(137, (run:wait(20)))
      jh.until_true(function() return false end, 2 * DELAY)
      local applied = check_journal()
      assert.is_true(applied < N)
      check_second_run()
    end)
  end)
end)
