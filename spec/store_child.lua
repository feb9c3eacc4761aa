-- A second process for the storage specs (store, journal, history):
-- `lua5.4 spec/store_child.lua MODE ARGS...`, run from the checkout.
-- Every wait is bounded; output is one line per fact, for the spec to read.
package.path = "./lua/?.lua;./lua/?/init.lua;" .. package.path
package.cpath = "./build/?.so;" .. package.cpath

local store = require "proxyapi.store"
local core = require "proxyapi.core"

local child = {}

-- the schema the store spec uses
child.MIGRATIONS = { { "CREATE TABLE items (id INTEGER PRIMARY KEY, writer TEXT NOT NULL, n INTEGER NOT NULL)" } }

local function exists(path)
  return core.stat(path) ~= nil
end

-- Polls until ready() or about `seconds` have passed; returns ready()'s last answer.
local function wait_for(ready, seconds)
  for _ = 1, (seconds or 10) * 100 do
    local ok = ready()
    if ok then
      return ok
    end
    core.sleep(0.01)
  end
  return ready()
end
child.wait_for = wait_for

local modes = {}

-- Writes item 1, waits until the other writer has written one too (so
-- the two really write at the same time), then the rest, one
-- transaction each.
function modes.write(db, writer, count, other)
  local s = assert(store.open(db, { what = "test", migrations = child.MIGRATIONS }))
  local function put(n)
    assert(s:transaction(function()
      s:run("INSERT INTO items (writer, n) VALUES (%s, %d)", writer, n)
      return true
    end))
  end
  put(1)
  assert(wait_for(function()
    return #assert(s:rows("SELECT id FROM items WHERE writer = %s", other)) > 0
  end), "the other writer never wrote")
  for n = 2, math.tointeger(count) do
    put(n)
  end
  s:close()
  print("done " .. writer)
end

-- Holds an exclusive lock until the release file appears.
function modes.lock(db, release)
  local env = require("luasql.sqlite3").sqlite3()
  local conn = assert(env:connect(db))
  assert(conn:execute("BEGIN EXCLUSIVE"))
  assert(conn:execute("CREATE TABLE IF NOT EXISTS held (x)"))
  print("locked")
  io.stdout:flush()
  wait_for(function() return exists(release) end, 20)
  conn:execute("ROLLBACK")
  conn:close()
  env:close()
end

-- Opens a store (under the shell's umask) and prints the files' modes.
function modes.open(db)
  local s = assert(store.open(db, { what = "test", migrations = child.MIGRATIONS }))
  assert(s:exec("INSERT INTO items (writer, n) VALUES ('x', 1)"))
  for _, suffix in ipairs { "", "-wal", "-shm" } do
    print(string.format("%s %o", suffix == "" and "db" or suffix, core.stat(db .. suffix).mode))
  end
  s:close()
end

-- Fills a store on a small file system until a write fails.
function modes.full(db)
  local s = assert(store.open(db, { what = "test", migrations = child.MIGRATIONS }))
  local chunk = ("x"):rep(4000)
  for i = 1, 1000 do
    local ok, err = s:transaction(function()
      s:run("INSERT INTO items (writer, n) VALUES (%s, %d)", chunk, i)
      return true
    end)
    if not ok then
      print("failed after " .. i .. ": " .. err)
      return
    end
  end
  print("never failed")
end

-- Creates a store with one row, for a file system made read-only after.
function modes.create(db)
  local s = assert(store.open(db, { what = "test", migrations = child.MIGRATIONS }))
  assert(s:exec("INSERT INTO items (writer, n) VALUES ('x', 1)"))
  s:close()
  print("created")
end

-- Opens a store on a read-only file system.
function modes.readonly(db)
  local s, err = store.open(db, { what = "test", migrations = child.MIGRATIONS })
  print("open: " .. tostring(s and "ok" or err))
end

-- The journal: a run of `count` intents and outcomes, overlapping with
-- the other writer's run (it waits for the other's first intent).
function modes.journal(path, name, count, other)
  local journal = require "proxyapi.journal"
  local j = assert(journal.open(path))
  local run = assert(j:begin_run { command = name, base_host = "h" })
  for i = 1, math.tointeger(count) do
    local id = assert(j:intent { run = run, endpoint = "POST /x", accounts = { name .. i },
                                 params = { password = "P" .. i } })
    assert(j:outcome(id, "applied"))
    if i == 1 then
      assert(wait_for(function()
        for _, r in ipairs(assert(j:runs())) do
          if r.command == other and #assert(j:entries { run = r.id }) > 0 then
            return true
          end
        end
      end), "the other run never wrote")
    end
  end
  assert(j:end_run(run))
  print("run " .. run)
end

-- The journal: an intent, then the process dies without an outcome.
function modes.crash(path)
  local journal = require "proxyapi.journal"
  local j = assert(journal.open(path))
  local run = assert(j:begin_run { command = "crash" })
  local id = assert(j:intent { run = run, endpoint = "POST /x", accounts = { "u1" }, params = { password = "Pw1" } })
  print("intent " .. run .. " " .. id)
  io.stdout:flush()
  os.exit(9, false) -- no close, no end_run, no garbage collection
end

-- The history: fire a rule at the same time as another process.
function modes.fire(path, go)
  local history = require "proxyapi.history"
  local h = assert(history.open(path))
  wait_for(function() return exists(go) end)
  local firing = assert(h:fire("near-cap", "u1", "2025-03", { usage_percent = 91 }))
  print(firing.id .. " " .. tostring(firing.created))
end

if arg and arg[0] and arg[0]:find("store_child%.lua$") then
  local mode = table.remove(arg, 1)
  modes[mode](table.unpack(arg))
  os.exit(0)
end

return child
