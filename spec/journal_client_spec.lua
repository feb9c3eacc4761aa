-- The client writes every change down before it is sent and its outcome
-- after, per account, over real HTTP against the fake and a real SQLite
-- journal; a journal that cannot be written stops the change unsent.
local helper = require "helper"
local journal = require "proxyapi.journal"

local function tempdir()
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir -m 700 " .. helper.quote(dir)))
  return dir
end

describe("the client's journal", function()
  local fake, dir, names

  setup(function()
    fake = helper.start_fake()
    names = {}
    for name in pairs(fake:accounts()) do
      names[#names + 1] = name
    end
    table.sort(names)
  end)

  teardown(function()
    fake:stop()
  end)

  before_each(function()
    dir = tempdir()
    fake:reset()
    fake:clear_log()
  end)

  local function entries(path, filter)
    local j = assert(journal.open(path, { readonly = true }))
    local list = assert(j:entries(filter or {}))
    j:close()
    return list
  end

  it("records nothing for reads, and an intent and outcome for each change", function()
    local path = dir .. "/j.sqlite3"
    local api = fake:client { journal = path }
    assert(api:list_accounts())
    assert(api:change_password(names[1], "N3wPassw0rd"))
    api:close()
    local list = entries(path, { show_secrets = true })
    assert.equal(1, #list)
    local e = list[1]
    assert.equal("POST /openapi/whitelist-account/change-password", e.endpoint)
    assert.same({ names[1] }, e.accounts)
    assert.equal("applied", e.outcome)
    assert.equal("N3wPassw0rd", e.params.password) -- kept: it must not be lost
    assert.equal(1, e.attempts)
    local masked = entries(path)[1]
    assert.equal("***", masked.params.password)
  end)

  it("never writes the app_key into the database", function()
    local path = dir .. "/j.sqlite3"
    local api = fake:client { journal = path }
    assert(api:add_accounts { "jr1:Pw1", "jr2:Pw2" })
    api:close()
    for _, suffix in ipairs { "", "-wal" } do
      local f = io.open(path .. suffix, "rb")
      if f then
        local bytes = f:read("a")
        f:close()
        assert.is_nil(bytes:find(fake.app_key, 1, true))
      end
    end
  end)

  it("records a split batch per account, failed where the API refused", function()
    local path = dir .. "/j.sqlite3"
    local api = fake:client { journal = path, batch_size = 2, concurrency = 1 }
    local ok, err = api:disable_accounts { names[1], names[2], "nosuchone1", names[3] }
    assert.is_nil(ok)
    assert.same({ "nosuchone1", names[3] }, err.failed)
    api:close()
    local by_account = {}
    for _, e in ipairs(entries(path)) do
      for _, a in ipairs(e.accounts) do
        by_account[a] = e.outcome
      end
    end
    assert.same({ [names[1]] = "applied", [names[2]] = "applied", nosuchone1 = "failed", [names[3]] = "failed" },
      by_account)
    assert.equal(0, fake:accounts()[names[1]].status)
  end)

  it("counts retries as attempts of the same entry", function()
    local path = dir .. "/j.sqlite3"
    fake:fault { path = "/openapi/whitelist-account/change-limit", status = 503, times = 1 }
    local api = fake:client { journal = path }
    assert(api:change_limit(names[1], 7))
    api:close()
    local list = entries(path)
    assert.equal(1, #list)
    assert.equal(2, list[1].attempts)
    assert.equal("applied", list[1].outcome)
  end)

  it("records unknown when the request may have reached the server", function()
    local path = dir .. "/j.sqlite3"
    fake:fault { path = "/openapi/whitelist-account/add", action = "drop_reply", times = 1 }
    local api = fake:client { journal = path }
    local ok, err = api:add_accounts { "jr3:Pw3" }
    assert.is_nil(ok)
    assert.is_true(err.maybe_applied)
    api:close()
    assert.equal("unknown", entries(path)[1].outcome)
    assert.truthy(fake:accounts().jr3) -- it did reach the server
  end)

  it("records nothing and sends nothing in a dry run", function()
    local path = dir .. "/j.sqlite3"
    local api = fake:client { journal = path, dry_run = function() end }
    assert(api:change_limit(names[1], 9))
    assert.same({}, assert(api:extract_ips { num = 2 }))
    api:close()
    assert.same({}, fake:log())
    local j = journal.open(path, { readonly = true })
    assert.same({}, j and assert(j:entries {}) or {})
  end)

  it("stops a change with a clear error, unsent, when the journal cannot be written", function()
    local path = dir .. "/j.sqlite3"
    local j = assert(journal.open(path))
    assert(j.store:exec("PRAGMA query_only = ON"))
    local api = fake:client { journal = j }
    local ok, err = api:change_limit(names[1], 11)
    assert.is_nil(ok)
    assert.equal("journal", err.kind)
    assert.matches("nothing was sent", tostring(err), 1, true)
    assert.same({}, fake:log())
    assert.equal(2, require("proxyapi").exit_code(nil, err))
    assert(api:list_accounts()) -- reads go on
    api:close()
    j:close()
  end)

  it("stops a change when the journal stays locked past its busy timeout", function()
    local path = dir .. "/j.sqlite3"
    assert(journal.open(path)):close()
    local script = helper.tempfile([[
      local driver = require "luasql.sqlite3"
      local conn = driver.sqlite3():connect(arg[1])
      assert(conn:execute("BEGIN EXCLUSIVE"))
      assert(conn:execute("CREATE TABLE hold (x)"))
      local f = assert(io.open(arg[1] .. ".locked", "w")) f:close()
      os.execute("sleep 2")
    ]])
    assert.equal(0, (helper.run("lua5.4 " .. script .. " " .. helper.quote(path) .. " > /dev/null 2>&1 &")))
    for _ = 1, 100 do -- until the other process holds the lock
      if io.open(path .. ".locked") then break end
      os.execute("sleep 0.02")
    end
    os.remove(script)
    local j = assert(journal.open(path, { busy_timeout = 100 }))
    local api = fake:client { journal = j }
    local ok, err = api:enable_accounts(names[1])
    assert.is_nil(ok)
    assert.equal("journal", err.kind)
    assert.same({}, fake:log())
    api:close()
    j:close()
  end)

  it("refuses a journal that group or others can read", function()
    local path = dir .. "/j.sqlite3"
    assert(journal.open(path)):close()
    assert(os.execute("chmod 644 " .. helper.quote(path)))
    assert.has_error(function() fake:client { journal = path } end)
    local ok, msg = pcall(fake.client, fake, { journal = path })
    assert.is_false(ok)
    assert.matches("journal", msg, 1, true)
  end)
end)

describe("the module's lazy fields", function()
  it("proxyapi.journal and proxyapi.history are their modules, loaded on first use", function()
    local proxyapi = require "proxyapi"
    assert.equal(require("proxyapi.journal"), proxyapi.journal)
    assert.equal(require("proxyapi.history"), proxyapi.history)
    assert.is_function(proxyapi.journal.open)
    assert.is_nil(proxyapi.no_such_field)
  end)
end)

describe("what became of a failed change", function()
  local fake
  before_each(function() fake = helper.start_fake() end)
  after_each(function() fake:stop() end)

  local function two_names()
    local names = {}
    for name in pairs(fake:accounts()) do
      names[#names + 1] = name
      if #names == 2 then break end
    end
    table.sort(names)
    return names
  end

  it("is unknown when the request reached the server and the reply was lost", function()
    local names = two_names()
    local api = fake:client { retries = 0, batch_size = 1 }
    fake:fault { path = "/openapi/whitelist-account/disable", action = "drop_reply", times = 1 }
    local ok, err = api:disable_accounts(names)
    assert.is_nil(ok)
    assert.equal("unknown", err.outcome)
    -- the chunks run concurrently: either may meet the fault
    assert.equal(1, #err.failed)
    assert.same(err.failed, err.unknown) -- the fake applied it: the journal would say unknown too
    assert.equal(1, #err.succeeded)
    local both = { err.failed[1], err.succeeded[1] }
    table.sort(both)
    assert.same(names, both)
  end)

  it("is failed when an answer refused it, and no name is unknown", function()
    local names = two_names()
    local api = fake:client { retries = 0 }
    fake:fault { path = "/openapi/whitelist-account/disable", status = 400, times = 1 }
    local ok, err = api:disable_accounts(names)
    assert.is_nil(ok)
    assert.equal("failed", err.outcome)
    assert.same(names, err.failed)
    assert.same({}, err.unknown)
  end)
end)
