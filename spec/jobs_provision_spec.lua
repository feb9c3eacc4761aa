-- proxyapi.jobs.provision in this process, with a real journal and the
-- fake: random passwords for new accounts written ahead, --resume's rules
-- for adds whose outcome is unknown (present: applied; absent: sent again
-- with the same password), --max-changes, stdin and --json.
local helper = require "helper"
local jh = require "jobs_helper"
local provision = require "proxyapi.jobs.provision"
local cjson = require "cjson"

local ADD = "/openapi/whitelist-account/add"

describe("provision", function()
  local fake, dir, journal_path, csv

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
    csv = dir .. "/accounts.csv"
    local f = assert(io.open(csv, "w"))
    f:write("pa1,,a,\npa2,,a,4\npb1,,b,\npb2,fixedPw2,b,\n")
    f:close()
  end)

  after_each(function()
    fake:close_clients()
    jh.remove_tree(dir)
  end)

  local function client(opts)
    return fake:client({ journal = journal_path, retries = 0, concurrency = 1 }, opts)
  end

  it("resumes unknown adds: the one that went through is kept, the other sent again with its password", function()
    -- group a's add stalls (never applied); group b's is applied after the client gave up
    fake:fault { path = ADD, action = "stall", times = 1 }
    fake:fault { path = ADD, delay = 0.8, times = 1 }
    local api = client { timeout = 0.4 }
    local output = dir .. "/first.csv"
    local status, _, err = jh.run_job(provision, api, { "--output", output, csv })
    assert.equal(5, status, err)
    jh.finish(api, "failed")
    local first = jh.credentials(jh.slurp(output))
    assert.equal("unknown", first.pa1.outcome)
    assert.equal("unknown", first.pb1.outcome)
    assert.equal("fixedPw2", first.pb2.password)
    assert.equal(16, #first.pa1.password)
    assert.is_true(jh.until_true(function() return fake:accounts().pb1 ~= nil end, 3))
    assert.is_nil(fake:accounts().pa1)
    assert.equal(first.pb1.password, fake:accounts().pb1.password)
    fake:clear_log()

    local second = dir .. "/second.csv"
    status, _, err = jh.run_job(provision, client(), { "--resume", "1", "--output", second, csv })
    assert.equal(0, status, err)
    local adds = jh.requests(fake, "/add")
    assert.equal(1, #adds)
    assert.equal("pa1:" .. first.pa1.password .. ",pa2:" .. first.pa2.password, adds[1].params.accounts)
    local rows, n = jh.credentials(jh.slurp(second))
    assert.equal(3, n) -- pb2's password came from the file and is in force: nothing to set
    local accounts = fake:accounts()
    for name, row in pairs(rows) do
      assert.equal("applied", row.outcome)
      assert.equal(accounts[name].password, row.password)
      assert.equal(first[name].password, row.password)
    end
    assert.equal(4, math.tointeger(accounts.pa2.limit_flow))
    assert.matches("added 2, updated 0, unchanged 2, bad rows 0 %(journal run 2%)", err)
  end)

  it("--max-changes N makes N changes and exits 3", function()
    local status, out, err = jh.run_job(provision, client(), { "--max-changes", "2", csv })
    assert.equal(3, status)
    assert.matches("added 2, updated 0, unchanged 0, bad rows 0, 3 change%(s%) left by %-%-max%-changes", err)
    local rows, n = jh.credentials(out)
    assert.equal(2, n)
    assert.equal(rows.pa1.password, fake:accounts().pa1.password)
    assert.is_nil(fake:accounts().pb1)
  end)

  it("reads stdin for - and prints one JSON document with --json", function()
    local input = io.tmpfile()
    input:write("username,password,remark,limit\nnew1,pw1,,\nbad-name,x,,\n")
    input:seek("set")
    local status, out = jh.run_job(provision, client(), { "-" }, { stdin = input, format = "json" })
    assert.equal(3, status)
    local doc = cjson.decode(out)
    assert.equal(1, doc.added)
    assert.equal(1, doc.bad_rows)
    assert.equal(3, math.tointeger(doc.bad[1].line))
    assert.equal("pw1", doc.credentials[1].password)
    assert.is_false(doc.dry_run)
  end)
end)
