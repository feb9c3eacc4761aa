-- The proxyapi command's account changes, run as real processes against
-- the fake: generated and read passwords (never on the command line), the
-- confirmation of deletes, --max-changes, dry runs, exit codes, and the
-- journal the changes go to.
local helper = require "helper"
local cjson = require "cjson"

local quote = helper.quote

local CLEAN = "env -u PROXYAPI_APP_KEY -u PROXYAPI_BASE_URL -u PROXYAPI_PROFILE -u LUA_INIT -u LUA_INIT_5_4"
  .. " no_proxy=127.0.0.1 NO_PROXY=127.0.0.1"
local HOSTS = { "lua5.4", helper.PXLUA }

local CONFIG_HOME = os.tmpname()
os.remove(CONFIG_HOME)
assert(os.execute("mkdir -m 700 " .. quote(CONFIG_HOME)))

describe("proxyapi accounts", function()
  local fake, env

  local function run(args, o)
    o = o or {}
    return helper.run(CLEAN .. " XDG_CONFIG_HOME=" .. quote(CONFIG_HOME) .. " " .. (o.env or env) .. " "
      .. (o.host or "lua5.4") .. " scripts/proxyapi " .. args .. (o.stdin and "" or " < /dev/null"), o.stdin)
  end

  local function json(args, o, expected)
    local rc, out, err = run(args .. " --json", o)
    assert.equal(expected or 0, rc, err)
    assert.not_matches(fake.app_key, out .. err, 1, true)
    return cjson.decode(out), err
  end

  -- the POSTs the fake received
  local function posts()
    local list = {}
    for _, e in ipairs(fake:log()) do
      if e.method == "POST" then list[#list + 1] = e end
    end
    return list
  end

  local function names()
    local list = {}
    for name in pairs(fake:accounts()) do list[#list + 1] = name end
    table.sort(list)
    return list
  end

  lazy_setup(function()
    fake = helper.start_fake()
    env = "PROXYAPI_APP_KEY=" .. fake.app_key .. " PROXYAPI_BASE_URL=" .. fake.base_url
  end)

  lazy_teardown(function()
    fake:stop()
    os.execute("rm -rf " .. quote(CONFIG_HOME))
  end)

  before_each(function()
    fake:reset()
  end)

  for _, host in ipairs(HOSTS) do
    it("adds accounts with generated passwords and a remark, and shows them once (" .. host .. ")", function()
      local doc = json("accounts add newa newb --remark team --length 20", { host = host })
      local state = fake:accounts()
      assert.equal(2, #doc.rows)
      for _, row in ipairs(doc.rows) do
        assert.equal("applied", row.outcome)
        assert.matches("^[%a%d]+$", row.password)
        assert.equal(20, #row.password)
        assert.equal(row.password, state[row.username].password)
        assert.equal("team", state[row.username].remark)
      end
      assert.not_equal(doc.rows[1].password, doc.rows[2].password)
      assert.equal(2, doc.summary.applied)
    end)
  end

  it("reads user:pass lines from stdin, and never takes a password on the command line", function()
    local doc = json("accounts add --from -", { stdin = "usr1:Secret111\nusr2\n" })
    local state = fake:accounts()
    assert.equal("Secret111", state.usr1.password)
    assert.equal(doc.rows[2].password, state.usr2.password)
    fake:clear_log()
    local rc, out, err = run("accounts add usr3:Secret333")
    assert.equal(2, rc)
    assert.matches("passwords never go on the command line", err, 1, true)
    assert.equal("", out)
    rc = run("accounts passwd " .. names()[1] .. ":Secret")
    assert.equal(2, rc)
    assert.equal(0, #fake:log(), "nothing was sent")
  end)

  it("sets new passwords from /dev/urandom or from --from, with the journal holding them", function()
    local list = names()
    local doc = json("accounts passwd " .. list[1] .. " " .. list[2])
    local state = fake:accounts()
    for _, row in ipairs(doc.rows) do
      assert.equal("applied", row.outcome)
      assert.equal(state[row.username].password, row.password)
      assert.equal(16, #row.password)
    end
    json("accounts passwd --from -", { stdin = list[3] .. ":Fresh3333\n" })
    assert.equal("Fresh3333", fake:accounts()[list[3]].password)
    local journal = cjson.decode((select(2, run("journal --last --show-secrets --json"))))
    assert.equal(1, #journal.rows)
    assert.equal("Fresh3333", journal.rows[1].params.password)
    journal = cjson.decode((select(2, run("journal --last --json"))))
    assert.equal("***", journal.rows[1].params.password)
  end)

  for _, host in ipairs(HOSTS) do
    it("refuses to delete off a terminal without --yes, and sends nothing (" .. host .. ")", function()
      local victim = names()[1]
      local rc, out, err = run("accounts delete " .. victim, { host = host })
      assert.equal(2, rc)
      assert.equal("", out)
      assert.matches("not on a terminal: add --yes", err, 1, true)
      assert.equal(0, #posts())
      assert.is_table(fake:accounts()[victim])
      local doc = json("accounts delete --yes " .. victim, { host = host })
      assert.equal("applied", doc.rows[1].outcome)
      assert.is_nil(fake:accounts()[victim])
    end)
  end

  it("asks on a terminal before deleting, and deletes only on yes", function()
    local victim = names()[1]
    -- script(1) gives the command a terminal; its input is the answer
    local function on_terminal(answer)
      return helper.run("printf '" .. answer .. "\\n' | " .. CLEAN .. " XDG_CONFIG_HOME=" .. quote(CONFIG_HOME) .. " "
        .. env .. " script -qec " .. quote("lua5.4 scripts/proxyapi accounts delete " .. victim) .. " /dev/null")
    end
    local rc, out = on_terminal("n")
    assert.equal(2, rc)
    assert.matches("accounts delete: 1 account (" .. victim .. "). This cannot be undone. Go on? [y/N]", out, 1, true)
    assert.matches("not confirmed; nothing was sent", out, 1, true)
    assert.equal(0, #posts())
    rc, out = on_terminal("y")
    assert.equal(0, rc, out)
    assert.matches(victim .. "%s+applied", out)
    assert.is_nil(fake:accounts()[victim])
  end)

  it("stops before change N+1 with --max-changes", function()
    local list = names()
    local before = fake:accounts()
    local doc = json("accounts disable --max-changes 2 " .. table.concat(list, " ", 1, 4), nil, 3)
    local outcomes = {}
    for _, row in ipairs(doc.rows) do outcomes[row.username] = row.outcome end
    assert.equal("applied", outcomes[list[1]])
    assert.equal("applied", outcomes[list[2]])
    assert.equal("skipped", outcomes[list[3]])
    assert.equal("skipped", outcomes[list[4]])
    assert.equal(2, doc.summary.skipped)
    local sent = posts()
    assert.equal(1, #sent)
    assert.equal(list[1] .. "," .. list[2], sent[1].params.accounts)
    local state = fake:accounts()
    assert.equal(0, state[list[1]].status)
    assert.equal(before[list[3]].status, state[list[3]].status)
    assert.equal(before[list[4]].status, state[list[4]].status)
    -- one request per account: still nothing beyond N
    fake:clear_log()
    doc = json("accounts limit --gb 7 --max-changes 1 --match '*'", nil, 3)
    assert.equal(1, #posts())
    assert.equal(1, doc.summary.applied)
  end)

  for _, host in ipairs(HOSTS) do
    it("sends nothing in a dry run and says so (" .. host .. ")", function()
      local list = names()
      local doc, err = json("--dry-run accounts passwd --match '*'", { host = host })
      assert.equal(true, doc.dry_run)
      assert.equal(#list, #doc.rows)
      for _, row in ipairs(doc.rows) do
        assert.equal("dry-run", row.outcome)
        assert.equal("***", row.password)
      end
      assert.matches("dry run: would run `accounts passwd` for " .. #list .. " accounts", err, 1, true)
      assert.matches('"password":"***"', err, 1, true)
      assert.equal(0, #posts())
      json("accounts delete " .. list[1] .. " --dry-run", { host = host }) -- no --yes needed
      assert.equal(0, #posts())
    end)
  end

  it("changes limits and remarks, names from a file", function()
    local list = names()
    local file = helper.tempfile(list[1] .. "\n" .. list[2] .. "\n")
    json("accounts limit --gb 20 --from " .. quote(file))
    os.remove(file)
    local state = fake:accounts()
    assert.equal(20, state[list[1]].limit_flow)
    assert.equal(20, state[list[2]].limit_flow)
    json("accounts remark " .. list[1] .. " --remark '价格 monitor'")
    assert.equal("价格 monitor", fake:accounts()[list[1]].remark)
    local rc, _, err = run("accounts limit " .. list[1])
    assert.equal(2, rc)
    assert.matches("--gb", err, 1, true)
    rc, _, err = run("accounts limit " .. list[1] .. " --gb 999999")
    assert.equal(2, rc)
    assert.matches("--gb:", err, 1, true)
    rc, _, err = run("accounts enable")
    assert.equal(2, rc)
    assert.matches("which accounts?", err, 1, true)
  end)

  it("exits 4 when the API refuses, 3 when only some fail, 5 on a network failure", function()
    local list = names()
    local doc = json("accounts passwd " .. list[1] .. " nosuchacct", nil, 3)
    assert.equal("applied", doc.rows[1].outcome)
    assert.equal("failed", doc.rows[2].outcome)
    assert.matches("api code", doc.rows[2].error, 1, true)
    local _
    local rc, out, err = run("accounts disable nosuchacct")
    assert.equal(4, rc, err)
    assert.matches("nosuchacct%s+failed", out)
    fake:config { not_verified = true }
    rc, _, err = run("accounts enable " .. list[1])
    assert.equal(4, rc, err)
    fake:config { not_verified = false }
    local port = helper.refused_port()
    rc, out, err = run("accounts list --json",
      { env = "PROXYAPI_APP_KEY=" .. fake.app_key .. " PROXYAPI_BASE_URL=http://127.0.0.1:" .. port })
    assert.equal(5, rc)
    -- one line on stderr, and one JSON document saying what failed
    assert.equal(1, #helper.lines(err))
    assert.equal("network", cjson.decode(out).error.kind)
    -- an error raised (here a usage error) is one line too; --traceback adds where
    rc, _, err = run("accounts limit " .. list[1] .. " --gb lots")
    assert.equal(2, rc)
    assert.equal(1, #helper.lines(err))
    rc, _, err = run("--traceback accounts limit " .. list[1] .. " --gb lots")
    assert.equal(2, rc)
    assert.matches("stack traceback", err, 1, true)
    assert.not_matches(fake.app_key, err, 1, true)
  end)

  it("asks for a key when none is configured (exit 2)", function()
    local rc, _, err = run("accounts list", { env = "" })
    assert.equal(2, rc)
    assert.matches("PROXYAPI_APP_KEY", err, 1, true)
    assert.matches("--fake", err, 1, true)
  end)
end)
