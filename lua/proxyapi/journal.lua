--- The journal: every request that changes or hands out something, as an
-- intent committed before it is sent and an outcome after, grouped in
-- runs (see the README, "Safety"). New passwords are kept, since
-- they are what must not be lost; the app_key never is.
--
-- Write side (the client), here: `begin_run`, `intent`, `attempt`,
-- `outcome`, `end_run`, each one committed transaction, and `counts`.
-- Read side, in proxyapi.journal_read: `runs`, `entries`, `last_run`,
-- `prune`.
-- @module proxyapi.journal

local store = require "proxyapi.store"
local args = require "proxyapi.store_args"
local core = require "proxyapi.core"

local type, pairs, ipairs, format, setmetatable = type, pairs, ipairs, string.format, setmetatable
local math_type, tointeger, os_time, sort = math.type, math.tointeger, os.time, table.sort
local arg_error, optional_string, required_integer = args.arg_error, args.optional_string, args.integer
local string_list = args.names

local journal = {}

local APPLICATION_ID = 0x50584A4C -- "PXJL"

local MIGRATIONS = {
  { -- 1
    [[CREATE TABLE runs (id INTEGER PRIMARY KEY, started INTEGER NOT NULL, ended INTEGER,
        user TEXT, host TEXT, pid INTEGER, node TEXT, command TEXT, profile TEXT, base_host TEXT, status TEXT,
        applied INTEGER, failed INTEGER, unknown INTEGER)]],
    [[CREATE TABLE entries (id INTEGER PRIMARY KEY,
        run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        time INTEGER NOT NULL, endpoint TEXT NOT NULL, method TEXT, path TEXT, base_host TEXT,
        profile TEXT, outcome TEXT NOT NULL DEFAULT 'pending', kind TEXT, msg TEXT,
        attempts INTEGER NOT NULL DEFAULT 1, done_at INTEGER)]],
    "CREATE INDEX entries_by_run ON entries (run_id)",
    "CREATE INDEX entries_by_time ON entries (time)",
    [[CREATE TABLE entry_accounts (entry_id INTEGER NOT NULL REFERENCES entries (id) ON DELETE CASCADE,
        seq INTEGER NOT NULL, account TEXT NOT NULL, outcome TEXT NOT NULL DEFAULT 'pending',
        kind TEXT, msg TEXT, PRIMARY KEY (entry_id, seq))]],
    "CREATE INDEX entry_accounts_by_account ON entry_accounts (account)",
    [[CREATE TABLE entry_params (entry_id INTEGER NOT NULL REFERENCES entries (id) ON DELETE CASCADE,
        name TEXT NOT NULL, value, secret INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (entry_id, name))]],
  },
}

local OUTCOMES = { applied = true, failed = true, unknown = true }

local Journal = {}
Journal.__index = Journal
for name, method in pairs(require "proxyapi.journal_read") do -- runs, last_run, entries, prune
  Journal[name] = method
end

--- `$XDG_STATE_HOME/proxyapi/journal.sqlite3`, else `~/.local/state/proxyapi/journal.sqlite3`.
-- @treturn string
function journal.default_path()
  return store.state_path("journal.sqlite3")
end

--- Opens a journal, creating it (and its folder) unless `readonly`.
-- @tparam[opt] string|boolean path the file; nil or true: `default_path()`
-- @tparam[opt] table opts `readonly` (never writes; writes then fail with
-- `nil, err`), `busy_timeout` (ms a write waits for another process)
-- @return a journal
-- @return[2] nil
-- @treturn[2] string what went wrong (unreadable, readable by others, not a journal, …)
-- @usage local j = assert(journal.open(nil, { readonly = true }))
function journal.open(path, opts)
  if path == nil or path == true then
    path = journal.default_path()
  end
  opts = opts or {}
  local s, err = store.open(path, {
    what = "journal", readonly = opts.readonly, busy_timeout = opts.busy_timeout,
    secure_delete = true, application_id = APPLICATION_ID, migrations = MIGRATIONS,
  })
  if s == nil then
    return nil, err
  end
  return setmetatable({ store = s, path = s.path }, Journal)
end

--- Starts a run. Missing `user` and `host` are this process's.
-- @tparam table run `user`, `host`, `command` (secrets already masked), `profile`, `base_host`
-- @treturn integer the run id
-- @return[2] nil
-- @treturn[2] string what went wrong
-- @usage local run = assert(j:begin_run { command = "proxyapi accounts passwd --from -", base_host = "api.x" })
function Journal:begin_run(run)
  if type(run) ~= "table" then
    arg_error(1, "begin_run", "table expected, got " .. type(run))
  end
  local s = self.store
  local user = optional_string("begin_run", run, "user") or core.user()
  local host = optional_string("begin_run", run, "host") or core.hostname()
  local command, profile = optional_string("begin_run", run, "command"), optional_string("begin_run", run, "profile")
  local base_host = optional_string("begin_run", run, "base_host")
  return s:transaction(function()
    -- pid and node (this host's name, whatever `host` says): is the run still going?
    s:run([[INSERT INTO runs (started, user, host, pid, node, command, profile, base_host)
      VALUES (%d, %s, %s, %d, %s, %s, %s, %s)]], os_time(), user, host, core.pid(), core.hostname(), command,
          profile, base_host)
    return s:last_id()
  end)
end

local function is_app_key(name)
  return name:lower():gsub("[^%a]", "") == "appkey"
end

local function insert_entry(s, e, accounts, names, params, secret)
  s:run([[INSERT INTO entries (run_id, time, endpoint, method, path, base_host, profile)
    VALUES (%d, %d, %s, %s, %s, %s, %s)]], e.run, os_time(), e.endpoint, e.method, e.path, e.base_host, e.profile)
  local id = s:query("SELECT last_insert_rowid() AS id")[1].id
  for seq, account in ipairs(accounts) do
    s:run("INSERT INTO entry_accounts (entry_id, seq, account) VALUES (%d, %d, %s)", id, seq, account)
  end
  for _, name in ipairs(names) do
    local value, hidden = params[name], (secret[name] or name:lower():find("password", 1, true)) and 1 or 0
    s:run(type(value) == "string"
            and "INSERT INTO entry_params (entry_id, name, value, secret) VALUES (%d, %s, %s, %d)"
            or "INSERT INTO entry_params (entry_id, name, value, secret) VALUES (%d, %s, %d, %d)",
          id, name, value, hidden)
  end
  return id
end

--- Records an intent, committed before it returns: send only after.
-- It counts as the entry's first attempt; its outcome is `pending`.
-- @tparam table e `run`, `endpoint` ("POST /openapi/…"), `method`, `path`,
-- `base_host`, `profile`, `accounts` (names), `params` (field -> string or
-- integer, new passwords included; a field named app_key raises), `secret`
-- (field -> true: masked on read; fields named like "password" always are)
-- @treturn integer the entry id
-- @return[2] nil
-- @treturn[2] string why it could not be written (then do not send)
-- @usage local id = assert(j:intent { run = run, endpoint = "POST /openapi/whitelist-account/change-password",
--   accounts = { "u1" }, params = { username = "u1", password = "N3w" }, secret = { password = true } })
function Journal:intent(e)
  if type(e) ~= "table" then
    arg_error(1, "intent", "table expected, got " .. type(e))
  end
  required_integer(1, "intent", e.run, "run")
  if type(e.endpoint) ~= "string" then
    arg_error(1, "intent", "endpoint: string expected, got " .. type(e.endpoint))
  end
  for _, key in ipairs { "method", "path", "base_host", "profile" } do
    optional_string("intent", e, key)
  end
  local accounts = string_list("intent", e.accounts, "accounts")
  local params, secret, names = e.params or {}, e.secret or {}, {}
  if type(params) ~= "table" or type(secret) ~= "table" then
    arg_error(1, "intent", "params and secret: tables expected")
  end
  for name, value in pairs(params) do
    if type(name) ~= "string" then
      arg_error(1, "intent", "params: field names must be strings")
    elseif is_app_key(name) then
      arg_error(1, "intent", "params: the app_key is never journaled")
    elseif type(value) ~= "string" and not (math_type(value) and tointeger(value)) then
      arg_error(1, "intent", format("params.%s: string or integer expected, got %s", name,
                                    math_type(value) or type(value)))
    end
    names[#names + 1] = name
  end
  sort(names)
  local s = self.store
  return s:transaction(insert_entry, s, e, accounts, names, params, secret)
end

--- Counts another attempt (a retry) of an entry.
-- @tparam integer id the entry
-- @return true
-- @return[2] nil
-- @treturn[2] string what went wrong
function Journal:attempt(id)
  required_integer(1, "attempt", id, "entry id")
  local s = self.store
  return s:transaction(function()
    if s:run("UPDATE entries SET attempts = attempts + 1 WHERE id = %d", id) == 0 then
      return nil, format("journal %s: no entry %d", self.path, id)
    end
    return true
  end)
end

local function set_outcome(self, id, outcome, kind, msg, accounts)
  local s = self.store
  if #accounts == 0 then
    s:run("UPDATE entry_accounts SET outcome = %s, kind = %s, msg = %s WHERE entry_id = %d", outcome, kind, msg, id)
  end
  for _, account in ipairs(accounts) do
    s:run("UPDATE entry_accounts SET outcome = %s, kind = %s, msg = %s WHERE entry_id = %d AND account = %s",
          outcome, kind, msg, id, account)
  end
  local seen = s:query("SELECT DISTINCT outcome FROM entry_accounts WHERE entry_id = %d", id)
  local summary = #seen > 1 and "partial" or seen[1] and seen[1].outcome or outcome
  if s:run([[UPDATE entries SET outcome = %s, kind = COALESCE(%s, kind), msg = COALESCE(%s, msg),
      done_at = %d WHERE id = %d]], summary, kind, msg, os_time(), id) == 0 then
    return nil, format("journal %s: no entry %d", self.path, id)
  end
  return true
end

--- Records an entry's outcome: for every account of the entry, or only
-- for `accounts`. An entry whose accounts differ reads back `partial`.
-- @tparam integer id the entry
-- @tparam string outcome "applied", "failed" or "unknown"
-- @tparam[opt] table info `kind`, `msg` (of the error), `accounts` (names)
-- @return true
-- @return[2] nil
-- @treturn[2] string what went wrong (the entry then reads back as unknown)
-- @usage j:outcome(id, "failed", { kind = "api", msg = "account not found", accounts = { "u2" } })
function Journal:outcome(id, outcome, info)
  required_integer(1, "outcome", id, "entry id")
  if not OUTCOMES[outcome] then
    arg_error(2, "outcome", "\"applied\", \"failed\" or \"unknown\" expected")
  end
  info = info or {}
  local kind, msg = optional_string("outcome", info, "kind"), optional_string("outcome", info, "msg")
  local accounts = string_list("outcome", info.accounts, "accounts")
  return self.store:transaction(set_outcome, self, id, outcome, kind, msg, accounts)
end

--- A run's outcomes, counted per account (per entry for entries without
-- accounts); pending counts as unknown.
-- @tparam integer run_id
-- @treturn table `{ applied =, failed =, unknown = }`
-- @return[2] nil
-- @treturn[2] string what went wrong
function Journal:counts(run_id)
  required_integer(1, "counts", run_id, "run id")
  local rows, err = self.store:rows([[SELECT o AS outcome, COUNT(*) AS n FROM (
      SELECT a.outcome AS o FROM entry_accounts a JOIN entries e ON e.id = a.entry_id WHERE e.run_id = %d
      UNION ALL SELECT e.outcome FROM entries e WHERE e.run_id = %d
        AND NOT EXISTS (SELECT 1 FROM entry_accounts a WHERE a.entry_id = e.id)) GROUP BY o]], run_id, run_id)
  if not rows then
    return nil, err
  end
  local counts = { applied = 0, failed = 0, unknown = 0 }
  for _, row in ipairs(rows) do
    local key = OUTCOMES[row.outcome] and row.outcome or "unknown"
    counts[key] = counts[key] + row.n
  end
  return counts
end

--- Ends a run. Counts not given are counted from its entries (`counts`).
-- @tparam integer run_id
-- @tparam[opt] table info `status` ("ok" by default, "interrupted", …), `applied`, `failed`, `unknown`
-- @return true
-- @return[2] nil
-- @treturn[2] string what went wrong
-- @usage j:end_run(run, { status = "interrupted" })
function Journal:end_run(run_id, info)
  required_integer(1, "end_run", run_id, "run id")
  info = info or {}
  local status = optional_string("end_run", info, "status") or "ok"
  local s = self.store
  return s:transaction(function()
    local counts, err = self:counts(run_id)
    if not counts then
      return nil, err
    end
    for _, key in ipairs { "applied", "failed", "unknown" } do
      if info[key] ~= nil then
        counts[key] = required_integer(2, "end_run", info[key], key)
      end
    end
    if s:run("UPDATE runs SET ended = %d, status = %s, applied = %d, failed = %d, unknown = %d WHERE id = %d",
             os_time(), status, counts.applied, counts.failed, counts.unknown, run_id) == 0 then
      return nil, format("journal %s: no run %d", self.path, run_id)
    end
    return true
  end)
end

--- Closes the journal; a second close does nothing. Also `__close` and `__gc`.
function Journal:close()
  self.store:close()
end
Journal.__close = Journal.close
Journal.__gc = Journal.close

function Journal:__tostring()
  return "proxyapi.journal " .. self.path
end

return journal
