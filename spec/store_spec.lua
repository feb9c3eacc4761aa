-- proxyapi.store: the SQL formatter, file protections, settings,
-- migrations, transactions, two writers at once, and how failures of the
-- database (full, read-only, locked) come back: as nil, msg.
local store = require "proxyapi.store"
local core = require "proxyapi.core"
local helper = require "helper"
local child = require "store_child"

local quote = helper.quote

local function tempdir()
  local dir = os.tmpname()
  os.remove(dir)
  assert(core.mkdir_private(dir))
  return dir
end

local function mode(path)
  local st = core.stat(path)
  return st and string.format("%o", st.mode)
end

local function spawn(args)
  return assert(io.popen("exec lua5.4 spec/store_child.lua " .. args, "r"))
end

local function open(path, opts)
  opts = opts or {}
  opts.what = opts.what or "test"
  opts.migrations = opts.migrations or child.MIGRATIONS
  return store.open(path, opts)
end

local FUZZ = { { "CREATE TABLE v (id INTEGER PRIMARY KEY, t TEXT, i INTEGER, x)" } }

describe("store.format", function()
  local dir, s
  before_each(function()
    dir = tempdir()
    s = assert(open(dir .. "/f.sqlite3", { migrations = FUZZ }))
  end)
  after_each(function()
    s:close()
    os.execute("rm -rf " .. quote(dir))
  end)

  it("quotes strings, writes integers with %d and nil as NULL", function()
    assert.equal("SELECT 'o''neil', 5, NULL, NULL, 100%",
                 store.format(s.conn, "SELECT %s, %d, %s, %d, 100%%", "o'neil", 5.0, nil, nil))
    assert.equal("SELECT -9223372036854775808", store.format(s.conn, "SELECT %d", math.mininteger))
  end)

  it("refuses every value that is not what the placeholder takes", function()
    local bad = {
      { "%d", 1.5, "value #1: integer expected, got a number without an integer value" },
      { "%d", 0 / 0, "value #1: integer expected, got a number without an integer value" },
      { "%d", math.huge, "value #1: integer expected, got a number without an integer value" },
      { "%d", -math.huge, "value #1: integer expected, got a number without an integer value" },
      { "%d", 2.0 ^ 63, "value #1: integer expected, got a number without an integer value" },
      { "%d", "5", "value #1: integer expected, got string" },
      { "%d", true, "value #1: integer expected, got boolean" },
      { "%s", 5, "value #1: string expected, got integer" },
      { "%s", 1.5, "value #1: string expected, got float" },
      { "%s", false, "value #1: string expected, got boolean" },
      { "%s", {}, "value #1: string expected, got table" },
      { "%s", print, "value #1: string expected, got function" },
      { "%s", io.stdout, "value #1: string expected, got userdata" },
    }
    for _, case in ipairs(bad) do
      assert.has_error(function() store.format(s.conn, "SELECT " .. case[1], case[2]) end,
                       "proxyapi.store: " .. case[3])
    end
    assert.has_error(function() store.format(s.conn, "SELECT %d, %d", 1) end,
                     "proxyapi.store: the template wants more than the 1 values given")
    assert.has_error(function() store.format(s.conn, "SELECT %d", 1, 2) end,
                     "proxyapi.store: the template takes 1 values, 2 given")
    assert.has_error(function() store.format(s.conn, "SELECT %q", 1) end,
                     "proxyapi.store: unknown placeholder '%q' in a template")
    assert.has_error(function() s:exec("INSERT INTO v (i) VALUES (%d)", 0.5) end)
    assert.same({}, assert(s:rows("SELECT * FROM v")), "nothing was written")
  end)

  it("writes hostile text and edge integers that read back exactly", function()
    local texts = {
      "", "'", "''", "\\", "%", "%d", "%s", "%%", "'; DROP TABLE v; --", "x'); DELETE FROM v; --",
      "\0", "a\0b", "\0'\0", "\255\254\128", "\192\175", "\237\160\128", "é中文", "\n\r\t", "\26",
      ("'"):rep(1000), ("\0"):rep(1000), ("x"):rep(1024 * 1024), ("'\0%\\"):rep(256 * 1024),
    }
    local rand = math.random
    math.randomseed(20240501)
    for _ = 1, 300 do -- random bytes, every byte value, bounded
      local bytes = {}
      for i = 1, rand(0, 64) do
        bytes[i] = string.char(rand(0, 255))
      end
      texts[#texts + 1] = table.concat(bytes)
    end
    local integers = { 0, 1, -1, math.maxinteger, math.mininteger, math.maxinteger - 1, math.mininteger + 1,
                       5000000000, -5000000000, 2 ^ 53, -(2 ^ 53), (1 << 53) + 1, -(1 << 53) - 1, 1 << 62 }
    for _ = 1, 100 do
      integers[#integers + 1] = rand(math.mininteger, math.maxinteger)
    end
    for _, t in ipairs(texts) do
      assert(s:exec("INSERT INTO v (t, x) VALUES (%s, %s)", t, t))
    end
    for _, i in ipairs(integers) do
      assert(s:exec("INSERT INTO v (i, x) VALUES (%d, %d)", i, i))
    end
    local rows = assert(s:rows("SELECT t, i, x, typeof(t) AS tt, typeof(x) AS tx FROM v ORDER BY id"))
    assert.equal(#texts + #integers, #rows)
    for n, t in ipairs(texts) do
      local row = rows[n]
      assert(row.t == t and row.x == t, "text #" .. n .. " did not read back byte for byte")
      assert.equal("text", row.tt)
    end
    for n, i in ipairs(integers) do
      local row = rows[#texts + n]
      local want = math.tointeger(i)
      assert(row.i == want and math.type(row.i) == "integer", "integer #" .. n .. " did not read back exactly")
      assert(row.x == want and math.type(row.x) == "integer" and row.tx == "integer")
    end
    -- what looked like SQL stayed data
    assert.equal(#texts + #integers, assert(s:rows("SELECT count(*) AS n FROM v"))[1].n)
    assert.equal(1, #assert(s:rows("SELECT * FROM v WHERE t = %s", "'; DROP TABLE v; --")))
  end)
end)

describe("store.open", function()
  local dir
  before_each(function()
    dir = tempdir()
  end)
  after_each(function()
    os.execute("rm -rf " .. quote(dir))
  end)

  it("makes the missing folders 0700 and the files 0600, whatever the umask", function()
    for _, umask in ipairs { "022", "000" } do
      local db = dir .. "/u" .. umask .. "/a/b/t.sqlite3"
      local code, out = helper.run("umask " .. umask .. " && lua5.4 spec/store_child.lua open " .. quote(db))
      assert.equal(0, code)
      assert.same({ "db 600", "-wal 600", "-shm 600" }, helper.lines(out))
      for _, folder in ipairs { "/u" .. umask, "/u" .. umask .. "/a", "/u" .. umask .. "/a/b" } do
        assert.equal("700", mode(dir .. folder))
      end
    end
    -- a folder that was there keeps its mode
    assert(os.execute("mkdir -m 755 " .. quote(dir .. "/open")))
    local s = assert(open(dir .. "/open/t.sqlite3"))
    s:close()
    assert.equal("755", mode(dir .. "/open"))
    assert.equal("600", mode(dir .. "/open/t.sqlite3"))
  end)

  it("refuses a database, -wal or -shm that group or others can read", function()
    local db = dir .. "/t.sqlite3"
    assert(open(db)):close()
    for _, suffix in ipairs { "", "-wal", "-shm" } do
      local f = db .. suffix
      if not core.stat(f) then
        assert(core.create_private(f))
      end
      for _, m in ipairs { "644", "640", "604", "660", "620" } do
        assert(os.execute("chmod " .. m .. " " .. quote(f)))
        local s, err = open(db)
        assert.is_nil(s)
        assert.equal(string.format("test file %s can be read by group or others (mode %s); "
                                   .. "allow only its owner: chmod 600 %s", f, m, f), err)
      end
      assert(os.execute("chmod 600 " .. quote(f)))
    end
    assert(open(db)):close()
  end)

  it("refuses a folder where the database should be, and a missing one read-only", function()
    assert(core.mkdir_private(dir .. "/d.sqlite3"))
    local s, err = open(dir .. "/d.sqlite3")
    assert.is_nil(s)
    assert.equal("test file " .. dir .. "/d.sqlite3 is a directory, not a file", err)
    s, err = open(dir .. "/none.sqlite3", { readonly = true })
    assert.is_nil(s)
    assert.equal("test " .. dir .. "/none.sqlite3: No such file or directory", err)
    assert.is_nil(core.stat(dir .. "/none.sqlite3"), "a read-only open created nothing")
  end)

  it("sets WAL, synchronous = FULL, a busy timeout and foreign keys", function()
    local s = assert(open(dir .. "/t.sqlite3", { busy_timeout = 1234 }))
    local function pragma(name)
      local _, v = next(assert(s:rows("PRAGMA " .. name))[1])
      return v
    end
    assert.equal("wal", pragma("journal_mode"))
    assert.equal(2, pragma("synchronous"))
    assert.equal(1234, pragma("busy_timeout"))
    assert.equal(1, pragma("foreign_keys"))
    s:close()
    s:close() -- a second close does nothing
    assert.has_error(function() s:exec("SELECT 1") end, "proxyapi.store: exec called on a closed test")
  end)

  it("upgrades an older database in place, and refuses a newer or foreign one", function()
    local db = dir .. "/t.sqlite3"
    local v1 = { { "CREATE TABLE a (x)" } }
    local v2 = { v1[1], { "ALTER TABLE a ADD COLUMN y", "CREATE TABLE b (z)" } }
    local s = assert(open(db, { migrations = v1, application_id = 77 }))
    assert(s:exec("INSERT INTO a (x) VALUES (%s)", "kept"))
    s:close()
    local r, err = open(db, { migrations = v2, application_id = 77, readonly = true })
    assert.is_nil(r)
    assert.equal("test " .. db .. ": schema version 1 is older than 2; open it once for writing", err)
    s = assert(open(db, { migrations = v2, application_id = 77 }))
    assert.same({ { x = "kept" } }, assert(s:rows("SELECT * FROM a")))
    assert(s:exec("INSERT INTO b (z) VALUES (1)"))
    assert.equal(2, assert(s:rows("PRAGMA user_version"))[1].user_version)
    s:close()
    s, err = open(db, { migrations = v1, application_id = 77 })
    assert.is_nil(s)
    assert.equal("test " .. db .. ": schema version 2 is newer than this proxyapi knows (1)", err)
    s, err = open(db, { migrations = v2, application_id = 78 })
    assert.is_nil(s)
    assert.equal("test " .. db .. ": not a test database", err)
  end)

  it("reads $XDG_STATE_HOME, else ~/.local/state", function()
    local function path_with(env)
      local _, out = helper.run(env .. " lua5.4 -e 'package.path=\"./lua/?.lua;\"..package.path; "
                                .. "package.cpath=\"./build/?.so;\"..package.cpath; "
                                .. "io.write(require(\"proxyapi.store\").state_path(\"j.sqlite3\"))'")
      return out
    end
    assert.equal("/x/state/proxyapi/j.sqlite3", path_with("XDG_STATE_HOME=/x/state HOME=/home/u"))
    assert.equal("/home/u/.local/state/proxyapi/j.sqlite3", path_with("XDG_STATE_HOME= HOME=/home/u"))
    assert.equal("/home/u/.local/state/proxyapi/j.sqlite3", path_with("XDG_STATE_HOME=rel HOME=/home/u"))
  end)
end)

describe("store transactions", function()
  local dir, s
  before_each(function()
    dir = tempdir()
    s = assert(open(dir .. "/t.sqlite3"))
  end)
  after_each(function()
    s:close()
    os.execute("rm -rf " .. quote(dir))
  end)

  local function count()
    return assert(s:rows("SELECT count(*) AS n FROM items"))[1].n
  end

  it("commits what fn returned, and rolls back nil, msg, a failed statement or a raise", function()
    assert.same({ 7, "x" }, { s:transaction(function()
      s:run("INSERT INTO items (writer, n) VALUES ('a', 1)")
      return 7, "x"
    end) })
    assert.equal(1, count())
    assert.same({ nil, "no" }, { s:transaction(function()
      s:run("INSERT INTO items (writer, n) VALUES ('a', 2)")
      return nil, "no"
    end) })
    local ok, err = s:transaction(function()
      s:run("INSERT INTO items (writer, n) VALUES ('a', 3)")
      s:run("INSERT INTO items (writer, n) VALUES (NULL, 4)") -- NOT NULL
      return true
    end)
    assert.is_nil(ok)
    assert.equal("test " .. dir .. "/t.sqlite3: NOT NULL constraint failed: items.writer", err)
    assert.has_error(function()
      s:transaction(function()
        s:run("INSERT INTO items (writer, n) VALUES ('a', 5)")
        error("a bug", 0)
      end)
    end, "a bug")
    assert.equal(1, count())
    -- nested: one transaction
    assert(s:transaction(function()
      return s:transaction(function()
        return s:run("INSERT INTO items (writer, n) VALUES ('a', 6)")
      end)
    end))
    assert.equal(2, count())
  end)

  it("keeps every row of two processes writing at once", function()
    local db = dir .. "/t.sqlite3"
    local a = spawn("write " .. quote(db) .. " a 300 b")
    local b = spawn("write " .. quote(db) .. " b 300 a")
    assert.equal("done a", a:read("l"))
    assert.equal("done b", b:read("l"))
    assert(a:close())
    assert(b:close())
    for _, writer in ipairs { "a", "b" } do
      local rows = assert(s:rows("SELECT n FROM items WHERE writer = %s ORDER BY n", writer))
      assert.equal(300, #rows)
      for n, row in ipairs(rows) do
        assert.equal(n, row.n)
      end
    end
  end)
end)

describe("a database that cannot be written", function()
  local dir, db
  before_each(function()
    dir = tempdir()
    db = dir .. "/t.sqlite3"
  end)
  after_each(function()
    os.execute("rm -rf " .. quote(dir))
  end)

  it("full: nil and 'database or disk is full'", function()
    local s = assert(open(db))
    local pages = assert(s:rows("PRAGMA page_count"))[1].page_count
    assert(s:exec("PRAGMA max_page_count = %d", pages + 1))
    local ok, err
    for i = 1, 100 do
      ok, err = s:transaction(function()
        return s:run("INSERT INTO items (writer, n) VALUES (%s, %d)", ("x"):rep(2000), i)
      end)
      if not ok then
        break
      end
    end
    assert.is_nil(ok)
    assert.equal("test " .. db .. ": database or disk is full", err)
    ok, err = s:exec("INSERT INTO items (writer, n) VALUES (%s, 0)", ("y"):rep(8000))
    assert.is_nil(ok)
    assert.equal("test " .. db .. ": database or disk is full", err)
    s:close()
  end)

  it("read-only: nil and 'attempt to write a readonly database'", function()
    assert(open(db)):close()
    local s = assert(open(db, { readonly = true }))
    assert.equal(0, #assert(s:rows("SELECT * FROM items")))
    local ok, err = s:exec("INSERT INTO items (writer, n) VALUES ('a', 1)")
    assert.is_nil(ok)
    assert.equal("test " .. db .. ": attempt to write a readonly database", err)
    ok, err = s:transaction(function() return s:run("INSERT INTO items (writer, n) VALUES ('a', 1)") end)
    assert.is_nil(ok)
    assert.truthy(err:find("readonly database", 1, true))
    s:close()
    s = assert(open(db))
    assert(s:exec("PRAGMA query_only = ON"))
    ok, err = s:exec("INSERT INTO items (writer, n) VALUES ('a', 1)")
    assert.is_nil(ok)
    assert.equal("test " .. db .. ": attempt to write a readonly database", err)
    s:close()
  end)

  it("locked past the busy timeout: nil and 'database is locked'", function()
    assert(open(db)):close()
    local release = dir .. "/release"
    local holder = spawn("lock " .. quote(db) .. " " .. quote(release))
    assert.equal("locked", holder:read("l"))
    local s = assert(open(db, { busy_timeout = 100 }))
    local ok, err = s:transaction(function() return s:run("INSERT INTO items (writer, n) VALUES ('a', 1)") end)
    assert.is_nil(ok)
    assert.equal("test " .. db .. ": database is locked", err)
    ok, err = s:exec("INSERT INTO items (writer, n) VALUES ('a', 1)")
    assert.is_nil(ok)
    assert.equal("test " .. db .. ": database is locked", err)
    assert(core.create_private(release))
    assert(holder:close())
    assert.equal(1, s:exec("INSERT INTO items (writer, n) VALUES ('a', 1)"), "writes again once released")
    s:close()
  end)

  -- real file systems, in a private mount namespace where one can be made
  local can_mount = os.execute("unshare -rm sh -c 'mount -t tmpfs tmpfs /mnt' 2>/dev/null")
  local mount_it = can_mount and it or pending

  mount_it("a full file system: nil and the error, never a raise", function()
    local code, out = helper.run("unshare -rm sh -c " .. quote("mount -t tmpfs -o size=192k tmpfs " .. quote(dir)
      .. " && exec lua5.4 spec/store_child.lua full " .. quote(db)))
    assert.equal(0, code)
    assert.equal("test " .. db .. ": database or disk is full", out:match("^failed after %d+: (.*)\n$"))
  end)

  mount_it("a read-only file system: nil and the error at open", function()
    local code, out = helper.run("unshare -rm sh -c " .. quote("mount -t tmpfs tmpfs " .. quote(dir)
      .. " && lua5.4 spec/store_child.lua create " .. quote(db)
      .. " && mount -o remount,ro " .. quote(dir)
      .. " && exec lua5.4 spec/store_child.lua readonly " .. quote(db)))
    assert.equal(0, code)
    assert.same({ "created", "open: cannot create the test " .. db .. "-wal: Read-only file system" },
                helper.lines(out))
  end)
end)

describe("proxyapi.core's system calls", function()
  local dir
  before_each(function()
    dir = tempdir()
  end)
  after_each(function()
    os.execute("rm -rf " .. quote(dir))
  end)

  it("mkdir_private makes missing folders 0700 and checks the others", function()
    assert.is_true(core.mkdir_private(dir .. "/a//b/c/"))
    assert.equal("700", mode(dir .. "/a/b/c"))
    assert.is_true(core.mkdir_private(dir .. "/a/b"), "existing folders are fine")
    assert(io.open(dir .. "/file", "w")):close()
    assert.same({ nil, dir .. "/file: Not a directory", 20 }, { core.mkdir_private(dir .. "/file/x") })
    assert.same({ nil, dir .. "/file: Not a directory", 20 }, { core.mkdir_private(dir .. "/file") })
    assert.has_error(function() core.mkdir_private() end)
  end)

  it("create_private makes a new 0600 file, or says it exists", function()
    local f = dir .. "/new"
    assert.is_true(core.create_private(f))
    assert.equal("600", mode(f))
    local h = assert(io.open(f, "w"))
    h:write("kept")
    h:close()
    assert.same({ nil, "exists", 17 }, { core.create_private(f) })
    assert.equal("kept", assert(io.open(f)):read("a"), "never truncated")
    assert.same({ nil, dir .. "/none/x: No such file or directory", 2 }, { core.create_private(dir .. "/none/x") })
  end)

  it("stat, fsync and rename", function()
    local f = dir .. "/f"
    local h = assert(io.open(f, "w"))
    h:write("12345")
    h:close()
    local st = assert(core.stat(f))
    assert.same({ "file", 5, core.uid() }, { st.type, st.size, st.uid })
    assert.equal("integer", math.type(st.mode))
    assert.truthy(math.abs(st.mtime - os.time()) < 60)
    assert.equal("directory", core.stat(dir).type)
    assert.same({ nil, dir .. "/none: No such file or directory", 2 }, { core.stat(dir .. "/none") })
    assert.is_true(core.fsync(f))
    assert.is_true(core.fsync(dir))
    assert.same({ nil, dir .. "/none: No such file or directory", 2 }, { core.fsync(dir .. "/none") })
    assert.is_true(core.rename(f, dir .. "/g"))
    assert.is_nil(core.stat(f))
    assert.same({ nil, f .. ": No such file or directory", 2 }, { core.rename(f, dir .. "/g") })
  end)

  it("says who and where we are", function()
    assert.equal("integer", math.type(core.uid()))
    local _, id = helper.run("id -u")
    assert.equal(math.tointeger(id:match("%d+")), core.uid())
    local _, name = helper.run("id -un")
    assert.equal(name:match("[^\n]+"), core.user())
    local _, host = helper.run("uname -n")
    assert.equal(host:match("[^\n]+"), core.hostname())
    local _, pid = helper.run("lua5.4 -e 'package.cpath=\"./build/?.so;\"..package.cpath "
                              .. "io.write(require(\"proxyapi.core\").pid())'")
    assert.truthy(math.tointeger(pid) and math.tointeger(pid) ~= core.pid())
  end)

  it("read_secret_file reads a key only its owner can read, with the key file's messages", function()
    local f = dir .. "/k.key"
    local h = assert(io.open(f, "w"))
    h:write("  \tK3y-value\n\n")
    h:close()
    assert(os.execute("chmod 600 " .. quote(f)))
    assert.equal("K3y-value", core.read_secret_file(f))
    assert(os.execute("chmod 400 " .. quote(f)))
    assert.equal("K3y-value", core.read_secret_file(f, "journal key"))
    for _, m in ipairs { "644", "640", "604", "610" } do
      assert(os.execute("chmod " .. m .. " " .. quote(f)))
      assert.same({ nil, "app_key file " .. f .. " can be read by group or others (mode " .. m .. "); "
                         .. "allow only its owner: chmod 600 " .. f }, { core.read_secret_file(f) })
    end
    assert.same({ nil, "brand2 key file " .. f .. " can be read by group or others (mode 610); "
                       .. "allow only its owner: chmod 600 " .. f }, { core.read_secret_file(f, "brand2 key") })
    assert.same({ nil, "app_key file " .. dir .. " is a directory" }, { core.read_secret_file(dir) })
    assert.same({ nil, "cannot open app_key file " .. dir .. "/none: No such file or directory" },
                { core.read_secret_file(dir .. "/none") })
    for name, text in pairs { empty = "", blank = " \n\t \n", long = ("k"):rep(4096) } do
      local g = dir .. "/" .. name
      h = assert(io.open(g, "w"))
      h:write(text)
      h:close()
      assert(os.execute("chmod 600 " .. quote(g)))
      assert.same({ nil, "app_key file " .. g .. (name == "long" and " is too long" or " is empty") },
                  { core.read_secret_file(g) })
    end
    h = assert(io.open(dir .. "/edge", "w"))
    h:write(("k"):rep(4095))
    h:close()
    assert(os.execute("chmod 600 " .. quote(dir .. "/edge")))
    assert.equal(4095, #core.read_secret_file(dir .. "/edge"))
    assert.has_error(function() core.read_secret_file() end)
    assert.has_error(function() core.read_secret_file(f, {}) end)
  end)
end)
