-- A client with a history store keeps what the provider drops with a
-- deleted account: its usage is stored before the delete is sent, over
-- real HTTP against the fake and a real SQLite file.
local helper = require "helper"
local history = require "proxyapi.history"

local seed = require("watch_helper").seed

local function tmp()
  local path = os.tmpname()
  os.remove(path)
  return path .. ".history"
end

local function usage_kb(h, name)
  local kb = 0
  for _, row in ipairs(assert(h:usage { username = name })) do
    kb = kb + row.flow
  end
  return kb
end

local function deleted_at(h, name)
  for _, a in ipairs(assert(h:accounts {})) do
    if a.username == name then
      return a.deleted_at
    end
  end
end

local function posts(fake, path)
  local n = 0
  for _, e in ipairs(fake:log()) do
    if e.path and e.path:find(path, 1, true) then
      n = n + 1
    end
  end
  return n
end

describe("a client with a history store", function()
  local fake, path
  before_each(function()
    -- the fake at the real time: a sync stores days up to this process's today
    fake = helper.start_fake("--empty")
    path = tmp()
  end)
  after_each(function()
    fake:stop()
    os.remove(path)
  end)

  it("stores an account's whole usage before deleting it, then marks it deleted", function()
    seed(fake, { g1 = { gb = 1 }, g2 = { gb = 2 } })
    local used = fake:accounts().g1.usage_flow
    local api = fake:client { history = path }
    assert.is_true(api:delete_accounts { "g1" })
    assert.is_nil(fake:accounts().g1)
    assert.is_truthy(fake:accounts().g2)
    local h = assert(history.open(path))
    finally(function() h:close() end)
    assert.equal(used, usage_kb(h, "g1")) -- what the provider dropped is kept
    assert.is_number(deleted_at(h, "g1"))
    assert.is_nil(h:accounts {}[2]) -- only the deleted account was synced
  end)

  it("marks only the accounts of the chunks that went through", function()
    seed(fake, { a1 = { gb = 1 }, a2 = { gb = 1 }, a3 = { gb = 1 } })
    local api = fake:client { history = path, batch_size = 1, retries = 0 }
    fake:fault { path = "/openapi/whitelist-account/delete", status = 400, times = 1 }
    local ok, err = api:delete_accounts { "a1", "a2", "a3" }
    assert.is_nil(ok)
    assert.equal(1, #err.failed)
    local h = assert(history.open(path))
    finally(function() h:close() end)
    local marked = 0
    for _, name in ipairs { "a1", "a2", "a3" } do
      assert.is_true(usage_kb(h, name) > 0)
      local gone = fake:accounts()[name] == nil
      assert.equal(gone, deleted_at(h, name) ~= nil)
      marked = marked + (gone and 1 or 0)
    end
    assert.equal(2, marked)
  end)

  it("sends nothing when the usage cannot be stored first", function()
    seed(fake, { g3 = { gb = 1 } })
    local api = fake:client { history = "/dev/null/h.sqlite3" } -- (root writes anywhere else)
    local ok, err = api:delete_accounts "g3"
    assert.is_nil(ok)
    assert.matches("usage history could not be kept first .*nothing was sent", tostring(err))
    assert.same({ "g3" }, err.failed)
    assert.equal(2, require("proxyapi").exit_code(ok, err))
    assert.is_truthy(fake:accounts().g3)
    assert.equal(0, posts(fake, "/whitelist-account/delete"))
  end)

  it("sends nothing when a usage read fails, and says which kind", function()
    seed(fake, { g4 = { gb = 1 } })
    local api = fake:client { history = path, retries = 0 }
    fake:fault { path = "/openapi/user-usage-flow/total", status = 503, times = 1 }
    local ok, err = api:delete_accounts { "g4" }
    assert.is_nil(ok)
    assert.equal("http", err.kind)
    assert.matches("nothing was sent", err.msg)
    assert.is_truthy(fake:accounts().g4)
    assert.equal(0, posts(fake, "/whitelist-account/delete"))
  end)

  it("lets an unknown name through to the provider, which refuses it", function()
    seed(fake, { g5 = { gb = 1 } })
    local api = fake:client { history = path }
    local ok, err = api:delete_accounts { "g5", "nosuch" }
    assert.is_nil(ok)
    assert.equal("api", err.kind)
    assert.is_truthy(fake:accounts().g5) -- the fake's batches are atomic
  end)

  it("writes nothing in a dry run", function()
    seed(fake, { g6 = { gb = 1 } })
    local api = fake:client { history = path, dry_run = function() end }
    assert.is_true(api:delete_accounts "g6")
    assert.is_nil(io.open(path))
  end)

  it("refuses a history option of the wrong type at new", function()
    assert.has_error(function() fake:client { history = 5 } end,
      "bad argument #1 to 'new' (history: a path, true, false or an open history expected, got number)")
  end)
end)
