-- proxyapi.journal: intents committed before they return, outcomes per
-- account, runs, reading back with secrets masked, pruning, two
-- processes at once, failures as nil, msg, and never the app_key.
local journal = require "proxyapi.journal"
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

local function spawn(args)
  return assert(io.popen("exec lua5.4 spec/store_child.lua " .. args, "r"))
end

local CHANGE = "POST /openapi/whitelist-account/change-password"

describe("journal", function()
  local dir, path, j
  before_each(function()
    dir = tempdir()
    path = dir .. "/state/proxyapi/journal.sqlite3"
    j = assert(journal.open(path))
  end)
  after_each(function()
    j:close()
    os.execute("rm -rf " .. quote(dir))
  end)

  it("has its default path under $XDG_STATE_HOME, else ~/.local/state, and makes it private", function()
    local code, out = helper.run("umask 022 && XDG_STATE_HOME=" .. quote(dir .. "/xdg") .. " lua5.4 -e "
      .. quote("package.path='./lua/?.lua;'..package.path package.cpath='./build/?.so;'..package.cpath "
               .. "local journal = require 'proxyapi.journal' io.write(journal.default_path()) "
               .. "local j = assert(journal.open(true)) assert(j:begin_run{}) j:close()"))
    assert.equal(0, code)
    assert.equal(dir .. "/xdg/proxyapi/journal.sqlite3", out)
    assert.equal(tonumber("700", 8), core.stat(dir .. "/xdg").mode)
    assert.equal(tonumber("700", 8), core.stat(dir .. "/xdg/proxyapi").mode)
    assert.equal(tonumber("600", 8), core.stat(out).mode)
    code, out = helper.run("XDG_STATE_HOME= HOME=/home/op lua5.4 -e "
      .. quote("package.path='./lua/?.lua;'..package.path package.cpath='./build/?.so;'..package.cpath "
               .. "io.write(require('proxyapi.journal').default_path())"))
    assert.equal(0, code)
    assert.equal("/home/op/.local/state/proxyapi/journal.sqlite3", out)
  end)

  it("records a run's intents, attempts and outcomes, and reads them back", function()
    local run = assert(j:begin_run { user = "op", host = "box", command = "proxyapi accounts passwd --from -",
                                     profile = "acme", base_host = "api.acme.example" })
    assert.equal("integer", math.type(run))
    local e1 = assert(j:intent { run = run, endpoint = CHANGE, method = "POST",
                                 path = "/openapi/whitelist-account/change-password", base_host = "api.acme.example",
                                 profile = "acme", accounts = { "u1" },
                                 params = { username = "u1", password = "N3wPass1" }, secret = { password = true } })
    assert(j:attempt(e1))
    assert(j:attempt(e1))
    assert(j:outcome(e1, "applied"))
    local e2 = assert(j:intent { run = run, endpoint = "POST /openapi/whitelist-account/disable",
                                 accounts = { "u2", "u3", "u4" }, params = { usernames = "u2,u3,u4" } })
    assert(j:outcome(e2, "failed", { kind = "api", msg = "account u3 not found", accounts = { "u3" } }))
    assert(j:outcome(e2, "applied", { accounts = { "u2", "u4" } }))
    local e3 = assert(j:intent { run = run, endpoint = "GET /openapi/ip/v3", params = { num = 5, cc = "US" } })

    local entries = assert(j:entries { run = run })
    assert.equal(3, #entries)
    local first = entries[1]
    assert.same({ e1, run, CHANGE, "POST", "api.acme.example", "acme", { "u1" }, "applied", 3 },
                { first.id, first.run, first.endpoint, first.method, first.base_host, first.profile,
                  first.accounts, first.outcome, first.attempts })
    assert.same({ username = "u1", password = "***" }, first.params)
    assert.equal("integer", math.type(first.time))
    assert.truthy(math.abs(first.time - os.time()) < 60)
    assert.same({ "u2", "u3", "u4" }, entries[2].accounts)
    assert.same({ u2 = "applied", u3 = "failed", u4 = "applied" }, entries[2].outcomes)
    assert.same({ "partial", "api", "account u3 not found", 1 },
                { entries[2].outcome, entries[2].kind, entries[2].msg, entries[2].attempts })
    assert.same({ e3, "pending", { num = 5, cc = "US" } }, { entries[3].id, entries[3].outcome, entries[3].params })

    -- one account's view, and filters
    local u3 = assert(j:entries { account = "u3" })
    assert.same({ { e2, "failed", "api" } }, { { u3[1].id, u3[1].outcome, u3[1].kind } })
    assert.same({ e2 }, { assert(j:entries { account = "u4" })[1].id })
    assert.equal(0, #assert(j:entries { account = "nobody" }))
    local failed = assert(j:entries { outcome = "failed" })
    assert.same({ e2 }, { failed[1].id, failed[2] and failed[2].id })
    assert.equal(0, #assert(j:entries { since = os.time() + 3600 }))
    assert.equal(3, #assert(j:entries { since = os.date("%Y-%m-%d", os.time() - 86400) }))
    assert.equal(3, #assert(j:entries { since = os.date("%Y-%m-%d %H:%M:%S", os.time() - 60) }))
    assert.equal("N3wPass1", assert(j:entries { run = run, show_secrets = true })[1].params.password)

    -- the run: still going while this process lives; pending reads pending
    local last = assert(j:last_run())
    assert.same({ run, "op", "box", "proxyapi accounts passwd --from -", "acme", "api.acme.example", "running" },
                { last.id, last.user, last.host, last.command, last.profile, last.base_host, last.status })
    assert.same({ applied = 3, failed = 1, unknown = 1 }, assert(j:counts(run)))
    assert(j:end_run(run, { status = "interrupted" }))
    last = assert(j:last_run())
    assert.same({ "interrupted", 3, 1, 1 }, { last.status, last.applied, last.failed, last.unknown })
    assert.truthy(last.ended >= last.started)
    -- the run is over: no outcome means unknown
    assert.equal("unknown", assert(j:entries { run = run })[3].outcome)
    assert.same({ e3 }, { assert(j:entries { outcome = "unknown" })[1].id })
  end)

  it("masks every param named like a password, and those the caller marks", function()
    local run = assert(j:begin_run {})
    assert(j:intent { run = run, endpoint = "POST /openapi/whitelist-account/add", accounts = { "n1", "n2" },
                      params = { accounts = "n1:Pw1,n2:Pw2", remark = "x", new_password = "Pw3" },
                      secret = { accounts = true } })
    local e = assert(j:entries {})[1]
    assert.same({ accounts = "***", remark = "x", new_password = "***" }, e.params)
    assert.same({ accounts = "n1:Pw1,n2:Pw2", remark = "x", new_password = "Pw3" },
                assert(j:entries { show_secrets = true })[1].params)
  end)

  it("lists runs newest first, with a limit", function()
    local ids = {}
    for i = 1, 4 do
      ids[i] = assert(j:begin_run { command = "c" .. i })
    end
    assert(j:end_run(ids[1]))
    local runs = assert(j:runs())
    assert.same({ ids[4], ids[3], ids[2], ids[1] }, { runs[1].id, runs[2].id, runs[3].id, runs[4].id })
    assert.same({ "ok", "running" }, { runs[4].status, runs[1].status })
    assert.equal(2, #assert(j:runs { limit = 2 }))
    assert.equal(ids[4], assert(j:last_run()).id)
    assert.equal(core.user(), runs[1].user)
    assert.equal(core.hostname(), runs[1].host)
  end)

  it("has the intent on disk before it returns: a process killed right after loses nothing", function()
    local code, out = helper.run("lua5.4 spec/store_child.lua crash " .. quote(path))
    assert.equal(9, code)
    local run, id = out:match("^intent (%d+) (%d+)\n$")
    run, id = math.tointeger(run), math.tointeger(id)
    local e = assert(j:entries { run = run })
    assert.same({ id }, { e[1].id })
    local shown = assert(j:entries { run = run, show_secrets = true })[1]
    assert.same({ "unknown", "Pw1" }, { e[1].outcome, shown.params.password })
    assert.equal("unfinished", assert(j:last_run()).status)
  end)

  it("takes two runs of two processes writing at the same time", function()
    local a = spawn("journal " .. quote(path) .. " ra 150 rb")
    local b = spawn("journal " .. quote(path) .. " rb 150 ra")
    local run_a, run_b = a:read("l"), b:read("l")
    assert(a:close())
    assert(b:close())
    for _, line in ipairs { run_a, run_b } do
      local run = math.tointeger(line:match("^run (%d+)$"))
      local entries = assert(j:entries { run = run })
      assert.equal(150, #entries)
      for _, e in ipairs(entries) do
        assert.equal("applied", e.outcome)
      end
      assert.same({ applied = 150, failed = 0, unknown = 0 }, assert(j:counts(run)))
    end
  end)

  it("never holds the app_key: refuses a field named so, and adds it nowhere", function()
    local key = "AK7f3e9c1d2b4a6e8f0a1b2c3d4e5f6a7"
    local run = assert(j:begin_run { command = "pxlua --app-key-file k.key script.lua" })
    for _, name in ipairs { "app_key", "APP_KEY", "appKey", "app-key" } do
      assert.has_error(function()
        j:intent { run = run, endpoint = CHANGE, params = { [name] = key, password = "Pw" } }
      end, "bad argument #1 to 'intent' (params: the app_key is never journaled)")
    end
    local id = assert(j:intent { run = run, endpoint = CHANGE, accounts = { "u1" },
                                 params = { username = "u1", password = "Unl0stPassw0rd" } })
    assert(j:outcome(id, "failed", { kind = "api", msg = "api code 3: invalid app_key" }))
    -- the file and its WAL while the journal is open, then after close
    local function raw()
      return slurp(path) .. slurp(path .. "-wal")
    end
    assert.truthy(raw():find("Unl0stPassw0rd", 1, true), "the search sees what is written")
    assert.falsy(raw():find(key, 1, true))
    assert(j:end_run(run))
    j:close()
    assert.falsy(raw():find(key, 1, true))
    j = assert(journal.open(path))
    assert.falsy(tostring(j):find(key, 1, true))
  end)

  it("prunes runs started before a date, wiping them from the file, but not one still running", function()
    local old = assert(j:begin_run { command = "old" })
    local id = assert(j:intent { run = old, endpoint = CHANGE, accounts = { "u9" },
                                 params = { username = "u9", password = "Pruned0ldPass" } })
    assert(j:outcome(id, "applied"))
    assert(j:end_run(old))
    local running = assert(j:begin_run { command = "running" })
    assert(j:intent { run = running, endpoint = CHANGE, params = { password = "Kept" } })
    assert.equal(0, j:prune { before = "2000-01-01" })
    assert.equal(1, j:prune { before = os.time() + 10 })
    local runs = assert(j:runs())
    assert.same({ running }, { runs[1].id, runs[2] and runs[2].id })
    assert.equal(0, #assert(j:entries { run = old }))
    assert.equal(0, #assert(j:entries { account = "u9" }))
    assert.equal(1, #assert(j:entries { run = running }))
    j:close()
    local raw = slurp(path) .. slurp(path .. "-wal")
    assert.falsy(raw:find("Pruned0ldPass", 1, true))
    assert.truthy(raw:find("Kept", 1, true))
    j = assert(journal.open(path))
  end)

  it("refuses bad arguments before writing anything", function()
    local run = assert(j:begin_run {})
    assert.has_error(function() j:intent { run = run } end,
                     "bad argument #1 to 'intent' (endpoint: string expected, got nil)")
    assert.has_error(function() j:intent { run = "1", endpoint = "x" } end,
                     "bad argument #1 to 'intent' (run: integer expected, got '1')")
    assert.has_error(function() j:intent { run = run, endpoint = "x", params = { t = {} } } end,
                     "bad argument #1 to 'intent' (params.t: string or integer expected, got table)")
    assert.has_error(function() j:intent { run = run, endpoint = "x", params = { t = 1.5 } } end,
                     "bad argument #1 to 'intent' (params.t: string or integer expected, got float)")
    assert.has_error(function() j:intent { run = run, endpoint = "x", accounts = { "a", 5 } } end,
                     "bad argument #1 to 'intent' (accounts[2]: string expected, got integer)")
    assert.has_error(function() j:outcome(1, "done") end,
                     "bad argument #2 to 'outcome' (\"applied\", \"failed\" or \"unknown\" expected)")
    assert.has_error(function() j:entries { since = "2024-02-30" } end,
                     "bad argument #1 to 'entries' (since: a date \"YYYY-MM-DD[ HH:MM:SS]\" or an epoch expected, "
                     .. "got '2024-02-30')")
    assert.has_error(function() j:prune {} end, "bad argument #1 to 'prune' (before: a date expected)")
    assert.equal(0, #assert(j:entries {}))
  end)

  it("is a to-be-closed value, and says only its path", function()
    local kept
    do
      local k <close> = assert(journal.open(path))
      kept = k
      assert.equal("proxyapi.journal " .. path, tostring(k))
    end
    assert.has_error(function() kept:runs() end, "proxyapi.store: rows called on a closed journal")
    kept:close() -- again: nothing happens
  end)

  it("answers nil, msg for an entry or run that is not there", function()
    assert.same({ nil, "journal " .. path .. ": no entry 42" }, { j:attempt(42) })
    assert.same({ nil, "journal " .. path .. ": no entry 42" }, { j:outcome(42, "applied") })
    assert.same({ nil, "journal " .. path .. ": no run 42" }, { j:end_run(42) })
    local ok, err = j:intent { run = 42, endpoint = "x" }
    assert.is_nil(ok)
    assert.equal("journal " .. path .. ": FOREIGN KEY constraint failed", err)
    assert.is_nil(j:last_run())
  end)
end)

describe("a journal that cannot be written", function()
  local dir, path
  before_each(function()
    dir = tempdir()
    path = dir .. "/journal.sqlite3"
    assert(journal.open(path)):close()
  end)
  after_each(function()
    os.execute("rm -rf " .. quote(dir))
  end)

  it("is refused when group or others can read it", function()
    assert(os.execute("chmod 640 " .. quote(path)))
    assert.same({ nil, "journal file " .. path .. " can be read by group or others (mode 640); "
                       .. "allow only its owner: chmod 600 " .. path }, { journal.open(path) })
  end)

  it("read-only: every write answers nil, msg; reading works", function()
    local w = assert(journal.open(path))
    local run = assert(w:begin_run {})
    w:close()
    local j = assert(journal.open(path, { readonly = true }))
    local ro = "journal " .. path .. ": attempt to write a readonly database"
    assert.same({ nil, ro }, { j:begin_run {} })
    assert.same({ nil, ro }, { j:intent { run = run, endpoint = CHANGE, params = { password = "x" } } })
    assert.same({ nil, ro }, { j:end_run(run) })
    assert.equal(run, assert(j:last_run()).id)
    j:close()
  end)

  it("full: the intent answers nil, msg and nothing half-written remains", function()
    local j = assert(journal.open(path))
    local run = assert(j:begin_run {})
    local pages = assert(j.store:rows("PRAGMA page_count"))[1].page_count
    assert(j.store:exec("PRAGMA max_page_count = %d", pages))
    local ok, err
    for i = 1, 50 do
      ok, err = j:intent { run = run, endpoint = CHANGE, accounts = { "u" .. i },
                           params = { password = ("p"):rep(3000) } }
      if not ok then
        break
      end
    end
    assert.is_nil(ok)
    assert.equal("journal " .. path .. ": database or disk is full", err)
    for _, e in ipairs(assert(j:entries { show_secrets = true })) do
      assert.equal(3000, #e.params.password, "every entry is whole")
      assert.equal(1, #e.accounts)
    end
    j:close()
  end)

  it("locked by another process past the busy timeout: nil, msg", function()
    local release = dir .. "/release"
    local holder = spawn("lock " .. quote(path) .. " " .. quote(release))
    assert.equal("locked", holder:read("l"))
    local j = assert(journal.open(path, { busy_timeout = 100 }))
    assert.same({ nil, "journal " .. path .. ": database is locked" }, { j:begin_run {} })
    assert(core.create_private(release))
    assert(holder:close())
    assert(j:begin_run {})
    j:close()
  end)
end)
