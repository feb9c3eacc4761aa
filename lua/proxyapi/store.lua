--- SQLite storage under the journal and the history: files only their
-- owner can read, durable settings, versioned schemas, transactions.
-- LuaSQL has no bound parameters: every statement is a constant template
-- whose `%d` and `%s` only `store.format` fills in.
-- @module proxyapi.store

local driver = require "luasql.sqlite3"
local core = require "proxyapi.core"
local sql = require "proxyapi.store_sql"

local type, error, pcall, next, ipairs = type, error, pcall, next, ipairs
local setmetatable, getmetatable = setmetatable, getmetatable
local format, gsub, byte, sub = string.format, string.gsub, string.byte, string.sub
local tointeger = math.tointeger
local shown = sql.shown
local pack, unpack = table.pack, table.unpack

local store = {}

--- How long a statement waits for another process's lock, in ms.
store.BUSY_TIMEOUT = 5000

--- Fills in a statement template: the one place SQL is built
-- (proxyapi.store_sql: strings quoted with the connection's `escape`,
-- integers written with `%d`).
-- @function format
store.format = sql.format

local Store = {}
Store.__index = Store

local function failure(self, msg)
  msg = gsub(msg or "unknown error", "^LuaSQL: ", "")
  return format("%s %s: %s", self.what, self.path, msg)
end

local function live(self, fname)
  if self.conn == nil then
    error(format("proxyapi.store: %s called on a closed %s", fname, self.what), 3)
  end
  return self.conn
end

--- Runs one statement; for an INSERT, UPDATE or DELETE, how many rows it changed.
-- @tparam string template see `store.format`
-- @param ... its values
-- @treturn integer rows changed (0 for other statements)
-- @return[2] nil
-- @treturn[2] string what went wrong (locked, disk full, read-only, …)
-- @usage assert(s:exec("DELETE FROM runs WHERE id = %d", id))
function Store:exec(template, ...)
  local conn = live(self, "exec")
  local result, err = conn:execute(store.format(conn, template, ...))
  if result == nil then
    return nil, failure(self, err)
  elseif type(result) == "number" then
    return tointeger(result) or 0
  end
  result:close() -- a statement that answered rows (a PRAGMA)
  return 0
end

--- Runs a query: every row, as a table keyed by column name (NULL columns absent).
-- @tparam string template see `store.format`
-- @param ... its values
-- @treturn table array of rows
-- @return[2] nil
-- @treturn[2] string what went wrong
-- @usage for _, run in ipairs(assert(s:rows("SELECT id FROM runs"))) do print(run.id) end
function Store:rows(template, ...)
  local conn = live(self, "rows")
  local cursor, err = conn:execute(store.format(conn, template, ...))
  if cursor == nil then
    return nil, failure(self, err)
  elseif type(cursor) == "number" then
    return {}
  end
  local list = {}
  while true do
    local row, ferr = cursor:fetch({}, "a")
    if row == nil then
      cursor:close() -- LuaSQL has finalized it already: this returns false
      if ferr ~= nil then
        return nil, failure(self, ferr)
      end
      return list
    end
    list[#list + 1] = row
  end
end

--- The rowid of the last row this connection inserted.
-- @treturn integer
-- @return[2] nil
-- @treturn[2] string what went wrong
function Store:last_id()
  local list, err = self:rows("SELECT last_insert_rowid() AS id")
  return list and list[1].id, err
end

-- A failed `run` or `query`: `transaction` (and `open`) return it as nil, msg.
local Failure = {}

--- Like `exec`, inside `transaction` only: a failure ends the
-- transaction, which then returns `nil, msg`.
-- @tparam string template see `store.format`
-- @param ... its values
-- @treturn integer rows changed
function Store:run(template, ...)
  local n, err = self:exec(template, ...)
  if n == nil then
    error(setmetatable({ msg = err }, Failure), 0)
  end
  return n
end

--- Like `rows`, inside `transaction` only (see `run`).
-- @tparam string template see `store.format`
-- @param ... its values
-- @treturn table array of rows
function Store:query(template, ...)
  local list, err = self:rows(template, ...)
  if list == nil then
    error(setmetatable({ msg = err }, Failure), 0)
  end
  return list
end

-- pcall's results, with a Failure turned into nil, msg; other errors raised again
local function caught(ok, ...)
  if ok then
    return ...
  end
  local e = ...
  if getmetatable(e) == Failure then
    return nil, e.msg
  end
  error(e, 0)
end

local function transact(self, begin, fn, ...)
  if self.depth > 0 then
    return fn(...)
  end
  local began, err = self:exec(begin)
  if not began then
    return nil, err
  end
  self.depth = 1
  local results = pack(pcall(fn, ...))
  self.depth = 0
  local committed = results[1] and results[2] ~= nil
  if committed then
    committed, err = self:exec("COMMIT")
  end
  if not committed then
    self:exec("ROLLBACK") -- SQLite may have rolled back already (disk full): an error then
    if not results[1] then
      return caught(false, results[2])
    end
    return nil, results[2] == nil and results[3] or err
  end
  return unpack(results, 2, results.n)
end

--- Runs fn(...) in one `BEGIN IMMEDIATE … COMMIT` transaction (inside
-- another, just runs it). When fn returns nil (and a message), or a
-- `run` or `query` in it fails, it is rolled back and `nil, msg`
-- returned; any other error is raised again after the rollback.
-- @tparam function fn
-- @param ... its arguments
-- @return fn's results once committed
-- @return[2] nil
-- @treturn[2] string why it was not committed
-- @usage local id = assert(s:transaction(function() s:run("INSERT …") return s:last_id() end))
function Store:transaction(fn, ...)
  live(self, "transaction")
  return transact(self, "BEGIN IMMEDIATE", fn, ...)
end

--- Like `transaction` for reading: a deferred `BEGIN`, so that several
-- queries see one state of the database (works read-only too).
-- @tparam function fn
-- @param ... its arguments
-- @return fn's results
-- @return[2] nil
-- @treturn[2] string what went wrong
function Store:snapshot(fn, ...)
  live(self, "snapshot")
  return transact(self, "BEGIN", fn, ...)
end

--- Closes the connection; a second close does nothing. Also `__close` and `__gc`.
function Store:close()
  local conn, env = self.conn, self.env
  self.conn, self.env = nil, nil
  if conn ~= nil then
    conn:close()
    env:close()
  end
end
Store.__close = Store.close
Store.__gc = Store.close

function Store:__tostring()
  return format("proxyapi.store %s %s%s", self.what, self.path, self.conn and "" or " (closed)")
end

-- The database and its WAL companions: made here 0600 when missing,
-- refused when group or others may read them.
local SUFFIXES = { "", "-wal", "-shm" }

local function private(what, file, must_exist)
  local st, err = core.stat(file)
  if st == nil then -- a -wal or -shm may go away as another process closes
    return not must_exist, must_exist and format("%s %s", what, err) or nil
  elseif st.type ~= "file" then
    return nil, format("%s file %s is a %s, not a file", what, file, st.type)
  elseif st.mode & 63 ~= 0 then -- 0077: group and others
    return nil, format("%s file %s can be read by group or others (mode %03o); allow only its owner: chmod 600 %s",
                       what, file, st.mode & 511, file)
  end
  return true
end

local function prepare_files(path, what, readonly)
  if not readonly then
    local dir = path:match("^(.*)/[^/]*$")
    if dir ~= nil and dir ~= "" then
      local ok, err = core.mkdir_private(dir)
      if not ok then
        return nil, format("cannot make the %s folder %s", what, err)
      end
    end
  end
  for i, suffix in ipairs(SUFFIXES) do
    local file = path .. suffix
    if not (readonly and i == 1) then -- read-only: never a new database
      local made, err = core.create_private(file)
      if not made and err ~= "exists" and not readonly then
        return nil, format("cannot create the %s %s", what, err)
      end
    end
    local ok, err = private(what, file, i == 1)
    if not ok then
      return nil, err
    end
  end
  return true
end

local function pragma(self, statement)
  local _, value = next(self:query(statement)[1] or {})
  return value
end

local function schema_version(self)
  local version = pragma(self, "PRAGMA user_version")
  if self.application_id and version > 0 and pragma(self, "PRAGMA application_id") ~= self.application_id then
    error(setmetatable({ msg = failure(self, "not a " .. self.what .. " database") }, Failure), 0)
  end
  return version
end

local function migrate(self, migrations)
  local version, latest = schema_version(self), #migrations
  if version > latest then
    return nil, failure(self, format("schema version %d is newer than this proxyapi knows (%d)", version, latest))
  elseif version < latest and self.readonly then
    return nil, failure(self, version == 0 and "not a " .. self.what .. " database (empty)"
                          or format("schema version %d is older than %d; open it once for writing", version, latest))
  end
  return version == latest or self:transaction(function()
    for v = schema_version(self) + 1, latest do -- another process may have just migrated it
      for _, statement in ipairs(migrations[v]) do
        self:run(statement)
      end
    end
    if self.application_id then
      self:run("PRAGMA application_id = %d", self.application_id)
    end
    return self:run("PRAGMA user_version = %d", latest)
  end)
end

local function setup(self, opts)
  self:run("PRAGMA busy_timeout = %d", opts.busy_timeout or store.BUSY_TIMEOUT)
  self:run("PRAGMA synchronous = FULL")
  self:run("PRAGMA foreign_keys = ON")
  self:run(opts.secure_delete and "PRAGMA secure_delete = ON" or "PRAGMA secure_delete = OFF")
  self:run(opts.readonly and "PRAGMA query_only = ON" or "PRAGMA query_only = OFF") -- belt and braces
  if not opts.readonly and pragma(self, "PRAGMA journal_mode") ~= "wal"
      and pragma(self, "PRAGMA journal_mode = WAL") ~= "wal" then
    return nil, failure(self, "cannot switch to WAL journal mode")
  end
  for i, suffix in ipairs(SUFFIXES) do -- SQLite made them, if it did, with the database's mode
    local ok, err = private(self.what, self.path .. suffix, i == 1)
    if not ok then
      return nil, err
    end
  end
  return migrate(self, opts.migrations or {})
end

--- Opens (and, unless read-only, creates) a database: the folder made
-- 0700, the file and its -wal and -shm made 0600 before SQLite opens it,
-- one that group or others can read refused; WAL, `synchronous = FULL`,
-- a busy timeout, foreign keys; migrations applied in order.
-- @tparam string path the database file (`~/` is the home folder)
-- @tparam[opt] table opts `what` (names it in messages: "journal"),
-- `readonly`, `busy_timeout` (ms), `secure_delete`, `application_id`
-- (an integer marking the kind of database), `migrations` (an array;
-- item v is an array of the statements that take version v-1 to v)
-- @return a store
-- @return[2] nil
-- @treturn[2] string what went wrong
-- @usage local s = assert(store.open("/tmp/x.sqlite3", { what = "test", migrations = { { "CREATE TABLE t (a)" } } }))
function store.open(path, opts)
  opts = opts or {}
  local what = opts.what or "database"
  if type(path) ~= "string" or path == "" then
    error(format("bad argument #1 to 'open' (%s path expected, got %s)", what, shown(path)), 2)
  end
  if sub(path, 1, 2) == "~/" then
    path = (os.getenv("HOME") or "") .. sub(path, 2)
  elseif sub(path, 1, 5) == "file:" then
    path = "./" .. path -- a path, never an SQLite URI
  end
  local ok, err = prepare_files(path, what, opts.readonly)
  if not ok then
    return nil, err
  end
  local env = driver.sqlite3()
  local conn
  conn, err = env:connect(path, opts.busy_timeout or store.BUSY_TIMEOUT, opts.readonly and true or false)
  if conn == nil then
    env:close()
    return nil, format("%s %s: %s", what, path, gsub(err or "cannot open", "^LuaSQL: ", ""))
  end
  local self = setmetatable({
    conn = conn, env = env, path = path, what = what, depth = 0,
    readonly = opts.readonly and true or false, application_id = opts.application_id,
  }, Store)
  ok, err = caught(pcall(setup, self, opts))
  if not ok then
    self:close()
    return nil, err
  end
  return self
end

--- `$XDG_STATE_HOME/proxyapi/NAME`, else `~/.local/state/proxyapi/NAME`.
-- @tparam string name the file's name
-- @treturn string
-- @usage store.state_path("journal.sqlite3") --> "/home/me/.local/state/proxyapi/journal.sqlite3"
function store.state_path(name)
  local state = os.getenv("XDG_STATE_HOME")
  if state == nil or byte(state) ~= byte("/") then -- relative values are ignored, as the spec says
    state = (os.getenv("HOME") or "") .. "/.local/state"
  end
  return state .. "/proxyapi/" .. name
end

return store
