-- Every job under pxlua --dry-run against the fake: the fake's log gets
-- no POST and no /ip/v3, its accounts stay as they were, no credentials
-- file appears, and the job says it was a dry run (a header line on
-- stderr, "would …", "dry_run": true in --json).
local helper = require "helper"
local jh = require "jobs_helper"
local cjson = require "cjson"

local quote = helper.quote

describe("dry runs", function()
  local fake, env, dir

  lazy_setup(function()
    fake = helper.start_fake()
    env = "env -u LUA_INIT -u LUA_INIT_5_4 no_proxy=127.0.0.1 NO_PROXY=127.0.0.1"
      .. " PROXYAPI_BASE_URL=" .. quote(fake.base_url) .. " PROXYAPI_APP_KEY=" .. quote(fake.app_key)
  end)

  lazy_teardown(function()
    fake:stop()
  end)

  before_each(function()
    fake:reset()
    jh.add_accounts(fake, "dr", 5)
    dir = jh.tempdir()
  end)

  after_each(function()
    jh.remove_tree(dir)
  end)

  local function dry(script, args)
    local before = fake:accounts()
    local code, out, err = helper.pxlua("--dry-run scripts/" .. script .. ".lua " .. args, "", env)
    for _, entry in ipairs(fake:log()) do
      assert.equal("GET", entry.method, entry.path)
      assert.are_not.equal("/openapi/ip/v3", entry.path)
    end
    assert.same(before, fake:accounts())
    assert.matches("^" .. script:gsub("%-", "%%-") .. ": dry run: nothing is changed\n", err)
    assert.is_nil(err:find(fake.app_key, 1, true))
    return code, out, err
  end

  local function no_file(path)
    local f = io.open(path)
    if f then f:close() end
    assert.is_nil(f, path .. " was written")
  end

  it("rotate-passwords: would rotate, no --output file, dry-run rows", function()
    local output = dir .. "/new.csv"
    local code, out, err = dry("rotate-passwords", "--match 'dr*' --output " .. quote(output))
    assert.equal(0, code, err)
    assert.equal("", out)
    assert.matches(output .. " is not written", err, 1, true)
    assert.matches("\nrotate%-passwords: would rotate 5\n$", err)
    no_file(output)
    code, out = dry("rotate-passwords", "--match 'dr*' --json")
    assert.equal(0, code)
    local doc = cjson.decode(out)
    assert.is_true(doc.dry_run)
    assert.equal(5, #doc.accounts)
    for _, a in ipairs(doc.accounts) do assert.equal("dry-run", a.outcome) end
  end)

  it("provision: would add, would update, no --output file", function()
    local csv = helper.tempfile("dr1,changed1,,\nnewdr,,x,5\n")
    local output = dir .. "/new.csv"
    local code, out, err = dry("provision", "--output " .. quote(output) .. " " .. quote(csv))
    assert.equal(0, code, err)
    assert.equal("", out)
    assert.matches("\nprovision: would add 1, would update 1, unchanged 0, bad rows 0\n$", err)
    no_file(output)
    code, out = dry("provision", "--json " .. quote(csv))
    os.remove(csv)
    assert.equal(0, code)
    assert.is_true(cjson.decode(out).dry_run)
  end)

  it("cap-traffic: would disable, --json says so", function()
    local code, out, err = dry("cap-traffic", "--threshold 20")
    assert.equal(0, code, err)
    assert.matches(": would disable %d+, ", out)
    code, out = dry("cap-traffic", "--threshold 0 --action cap --limit 3 --json")
    assert.equal(0, code)
    local doc = cjson.decode(out)
    assert.is_true(doc.dry_run)
    assert.matches("would cap %d+ at 3 GB", doc.summary)
  end)

  it("pull-ips: extracts nothing, writes no file", function()
    local output = dir .. "/ips.txt"
    local code, out, err = dry("pull-ips", "--num 5 --cc US --account seoteam --output " .. quote(output))
    assert.equal(0, code, err)
    assert.equal("", out)
    assert.matches("would extract 5 IP", err)
    no_file(output)
    code, out = dry("pull-ips", "--num 5 --json")
    assert.equal(0, code)
    assert.same({ dry_run = true, count = 0, proxies = {} }, cjson.decode(out))
  end)

  it("usage-report and demo say it was a dry run too", function()
    local code, out = dry("usage-report", "--days 2 --json")
    assert.equal(0, code)
    assert.is_true(cjson.decode(out).dry_run)
    code, out = dry("demo", "20")
    assert.equal(0, code)
    assert.matches("would disable", out)
    assert.matches("dry run: no IPs extracted", out)
  end)
end)
