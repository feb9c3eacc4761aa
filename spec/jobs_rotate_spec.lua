-- proxyapi.jobs.rotate in this process, with a real journal file and the
-- fake: rows written ahead of their requests, and every rule of --resume
-- (applied kept, unknown resent with the same password unless in force,
-- failed retried, unreached accounts rotated, runs resumed in turn, other
-- runs' changes left alone), plus the files and words it relies on.
local helper = require "helper"
local jh = require "jobs_helper"
local rotate = require "proxyapi.jobs.rotate"
local resume = require "proxyapi.jobs.resume"
local secrets = require "proxyapi.jobs.secrets"

local CHANGE = "/openapi/whitelist-account/change-password"

describe("rotate", function()
  local fake, dir, journal_path

  lazy_setup(function()
    fake = helper.start_fake()
  end)

  lazy_teardown(function()
    fake:stop()
  end)

  before_each(function()
    fake:reset()
    dir = jh.tempdir()
    journal_path = dir .. "/journal.sqlite3"
    jh.add_accounts(fake, "rt", 6)
  end)

  after_each(function()
    fake:close_clients()
    jh.remove_tree(dir)
  end)

  local function client(opts)
    return fake:client({ journal = journal_path, retries = 0, concurrency = 1 }, opts)
  end

  it("has each row in the file, pending, before the request that sets it goes out", function()
    local api = client()
    local output = dir .. "/new.csv"
    local seen = 0
    -- a client whose change_password reads the file first
    local watching = {
      settings = function() return api:settings() end,
      list_accounts = function() return api:list_accounts() end,
      map = function(self, items, fn, o)
        return api:map(items, function(_, item, i) return fn(self, item, i) end, o)
      end,
      change_password = function(_, name, password)
        local rows = jh.credentials(jh.slurp(output))
        assert.same({ password = password, outcome = rows[name].outcome }, rows[name])
        assert.equal("pending", rows[name].outcome)
        assert.equal("600", jh.mode(output))
        seen = seen + 1
        return api:change_password(name, password)
      end,
    }
    local status, out = jh.run_job(rotate, watching, { "--match", "rt*", "--output", output })
    assert.equal(0, status)
    assert.equal("", out)
    assert.equal(6, seen)
    local rows, n = jh.credentials(jh.slurp(output))
    assert.equal(6, n)
    local accounts = fake:accounts()
    for name, row in pairs(rows) do
      assert.equal("applied", row.outcome)
      assert.equal(accounts[name].password, row.password)
    end
  end)

  it("prints rows on stdout as their outcomes land, and --json at the end", function()
    local status, out, err = jh.run_job(rotate, client(), { "--match", "rt[12]" })
    assert.equal(0, status)
    assert.matches("no account matches", err)
    assert.equal("", out)
    status, out = jh.run_job(rotate, client(), { "--match", "rt?" })
    assert.equal(0, status)
    local rows, n = jh.credentials(out)
    assert.equal(6, n)
    assert.equal("username,password,outcome", out:match("^[^\n]+"))
    local accounts = fake:accounts()
    for name, row in pairs(rows) do assert.equal(accounts[name].password, row.password) end
    status, out = jh.run_job(rotate, client(), { "--match", "rt1" }, { format = "json" })
    assert.equal(0, status)
    local doc = require("cjson").decode(out)
    assert.is_false(doc.dry_run)
    assert.equal("rt1", doc.accounts[1].username)
    assert.equal(fake:accounts().rt1.password, doc.accounts[1].password)
  end)

  it("fails before any change when the output file cannot be written", function()
    local status, _, err = jh.run_job(rotate, client(), { "--match", "rt*", "--output", dir .. "/no/such/x.csv" })
    assert.equal(2, status)
    assert.matches("nothing was changed", err)
    assert.same({}, jh.requests(fake, "/change-password"))
  end)

  describe("--resume", function()
    local order -- the rt accounts in list order: the order a one-at-a-time run meets them

    --- A first run cut in every way: the first change applied, the second
    -- unknown but applied (the client gave up waiting; the fake applies it
    -- a little later), the third unknown and not applied (the reply
    -- stalls), the fourth refused, the last two never reached
    -- (--max-changes 4).
    local function first_run()
      local api = client { timeout = 0.4 }
      order = {}
      for _, a in ipairs(assert(api:list_accounts())) do
        if a.username:find("^rt") then order[#order + 1] = a.username end
      end
      fake:clear_log()
      fake:fault { path = CHANGE, delay = 0.01, times = 1 }
      fake:fault { path = CHANGE, delay = 0.8, times = 1 }
      fake:fault { path = CHANGE, action = "stall", times = 1 }
      fake:fault { path = CHANGE, code = 400, msg = "refused", times = 1 }
      -- the command line pxlua would record
      require("proxyapi.client").recorder(api).command = "pxlua scripts/rotate-passwords.lua --match 'rt*'"
        .. " --max-changes 4"
      local status, out = jh.run_job(rotate, api, { "--match", "rt*", "--max-changes", "4" })
      assert.equal(3, status)
      jh.finish(api, "failed")
      fake:clear_faults()
      local rows = jh.credentials(out)
      local by_position = {}
      for i, name in ipairs(order) do by_position[i] = rows[name] or false end
      -- the change the client gave up on lands
      assert.is_true(jh.until_true(function()
        return fake:accounts()[order[2]].password == by_position[2].password
      end, 3))
      return by_position
    end

    it("keeps applied changes, resends unknown and failed ones with their password, rotates the rest", function()
      local before = fake:accounts()
      local rows = first_run()
      local after = fake:accounts()
      assert.equal("applied", rows[1].outcome)
      assert.equal("unknown", rows[2].outcome)
      assert.equal(rows[2].password, after[order[2]].password) -- it did go through
      assert.equal("unknown", rows[3].outcome)
      assert.equal(before[order[3]].password, after[order[3]].password)
      assert.equal("failed", rows[4].outcome)
      assert.is_false(rows[5])
      fake:clear_log()

      local status, out, err = jh.run_job(rotate, client(), { "--resume", "1" })
      assert.equal(0, status, err)
      local sent = {}
      for _, e in ipairs(jh.requests(fake, "/change-password")) do sent[e.params.account] = e.params.password end
      local names = {}
      for name in pairs(sent) do names[#names + 1] = name end
      table.sort(names)
      local expected = { order[3], order[4], order[5], order[6] }
      table.sort(expected)
      assert.same(expected, names)
      assert.equal(rows[3].password, sent[order[3]])
      assert.equal(rows[4].password, sent[order[4]])
      local final, n = jh.credentials(out)
      assert.equal(6, n)
      local accounts = fake:accounts()
      for name, row in pairs(final) do
        assert.equal("applied", row.outcome)
        assert.equal(accounts[name].password, row.password)
      end
      assert.equal(rows[1].password, accounts[order[1]].password)
      assert.equal(rows[2].password, accounts[order[2]].password)
      assert.matches("4 rotated, 2 already applied in journal run 1 %(journal run 2%)", err)
    end)

    it("follows a resumed run back to the one it resumed", function()
      local rows = first_run()
      -- run 2 resumes run 1 but stops after one change (the third account's)
      local api = client()
      require("proxyapi.client").recorder(api).command = "pxlua rotate-passwords.lua --resume 1 --max-changes 1"
      local status = jh.run_job(rotate, api, { "--resume", "1", "--max-changes", "1" })
      assert.equal(3, status)
      jh.finish(api, "failed")
      assert.equal(rows[3].password, fake:accounts()[order[3]].password)
      fake:clear_log()
      -- run 3 resumes run 2: nothing of run 1 or 2 is changed again
      status = jh.run_job(rotate, client(), { "--resume", "2" })
      assert.equal(0, status)
      local sent = jh.password_sends(fake)
      for i = 1, 3 do assert.is_nil(sent[order[i]], order[i]) end
      assert.equal(rows[4].password, next(sent[order[4]]))
      assert.is_not_nil(sent[order[5]])
      local accounts = fake:accounts()
      for i = 1, 6 do assert.are_not.equal("old" .. i, accounts["rt" .. i].password) end
    end)

    it("leaves alone an account another run changed since", function()
      local rows = first_run()
      local other = client()
      assert(other:change_password(order[3], "byHand3"))
      jh.finish(other)
      fake:clear_log()
      local status, _, err = jh.run_job(rotate, client(), { "--resume", "1" })
      assert.equal(0, status)
      assert.matches(order[3] .. ": changed since by journal run 2: left alone", err, 1, true)
      assert.equal("byHand3", fake:accounts()[order[3]].password)
      assert.is_nil(jh.password_sends(fake)[order[3]])
      assert.equal(rows[4].password, fake:accounts()[order[4]].password)
    end)

    it("finishes only the accounts of a run that something else started", function()
      local other = client { timeout = 0.3 }
      fake:fault { path = CHANGE, action = "stall", times = 1 }
      assert.is_nil((other:change_password("rt2", "handMade2")))
      jh.finish(other, "failed")
      fake:clear_log()
      local status, out, err = jh.run_job(rotate, client(), { "--resume", "1" })
      assert.equal(0, status, err)
      assert.matches("not started by rotate%-passwords: only the accounts it changed are finished", err)
      assert.same({ rt2 = { handMade2 = 1 } }, jh.password_sends(fake))
      assert.equal("handMade2", fake:accounts().rt2.password)
      assert.same({ rt2 = { password = "handMade2", outcome = "applied" } }, (jh.credentials(out)))
    end)

    it("refuses a run that is not there, one still running, --match, and no journal", function()
      local status, _, err = jh.run_job(rotate, client(), { "--resume", "9" })
      assert.equal(2, status)
      assert.matches("has no run 9", err)
      local api = client()
      assert(api:change_password("rt1", "running1")) -- run 1, not ended: this process is alive
      status, _, err = jh.run_job(rotate, client(), { "--resume", "1" })
      assert.equal(2, status)
      assert.matches("still running", err)
      status, _, err = jh.run_job(rotate, client(), { "--resume", "1", "--match", "x*" })
      assert.equal(2, status)
      assert.matches("%-%-match", err)
      status, _, err = jh.run_job(rotate, fake:client(), { "--resume", "1" })
      assert.equal(2, status)
      assert.matches("needs the journal", err)
      assert.equal(1, #jh.requests(fake, "/change-password"))
    end)

    it("refuses a run that changed accounts at another host", function()
      first_run()
      local other = fake:client { journal = journal_path, base_url = fake.base_url:gsub("127%.0%.0%.1", "localhost") }
      local status, _, err = jh.run_job(rotate, other, { "--resume", "1" })
      assert.equal(2, status)
      assert.matches("at 127%.0%.0%.1, not at localhost", err)
    end)
  end)
end)

describe("resume.words", function()
  it("reads back the command lines proxyapi.record writes", function()
    assert.same({ "pxlua", "rotate-passwords.lua", "--match", "team*", "--resume=3" },
      resume.words("pxlua rotate-passwords.lua --match 'team*' --resume=3"))
    assert.same({ "a", "it's", "" }, resume.words("a 'it'\\''s' ''"))
    assert.equal("3", resume.option(resume.words("x --resume=3"), "--resume"))
    assert.equal("b*", resume.option(resume.words("x --match a --match 'b*'"), "--match"))
    assert.is_nil(resume.option(resume.words("x --matches y"), "--match"))
  end)
end)

describe("secrets.write_atomic", function()
  local dir

  before_each(function()
    dir = jh.tempdir()
  end)

  after_each(function()
    jh.remove_tree(dir)
  end)

  it("replaces a file others could read with a 0600 one and leaves no temporary file", function()
    local path = dir .. "/c.csv"
    local f = assert(io.open(path, "w"))
    f:write("old\n")
    f:close()
    os.execute("chmod 644 " .. helper.quote(path))
    local text = secrets.text { { username = "u1", password = "p,1", outcome = "pending" } }
    assert.is_true(secrets.write_atomic(path, text))
    assert.equal("600", jh.mode(path))
    assert.equal('username,password,outcome\nu1,"p,1",pending\n', jh.slurp(path))
    local p = assert(io.popen("ls -A " .. helper.quote(dir)))
    assert.equal("c.csv\n", p:read("a"))
    p:close()
  end)

  it("returns nil and a message for a folder that is not there", function()
    local ok, err = secrets.write_atomic(dir .. "/none/c.csv", "x")
    assert.is_nil(ok)
    assert.matches("none", err)
  end)
end)
