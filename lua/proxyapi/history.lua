--- The history: accounts (never their passwords), per-account per-day
-- usage and products, kept in SQLite by base URL host, idempotently; and
-- watch's fired-state, so that a rule fires once per subject and period
-- (see the README, "Watching a fleet").
-- @module proxyapi.history

local store = require "proxyapi.store"
local net = require "proxyapi.net"
local args = require "proxyapi.store_args"
local fired = require "proxyapi.fired"

local type, ipairs, pairs, pcall, format, setmetatable = type, ipairs, pairs, pcall, string.format, setmetatable
local math_type, tointeger, os_time, os_date = math.type, math.tointeger, os.time, os.date
local arg_error, optional_string = args.arg_error, args.optional_string

local history = {}

local APPLICATION_ID = 0x50584853 -- "PXHS"

local MIGRATIONS = {
  { -- 1
    [[CREATE TABLE accounts (base_host TEXT NOT NULL, username TEXT NOT NULL, remark TEXT,
        product_type INTEGER, limit_flow INTEGER, usage_flow INTEGER, status INTEGER, created_at TEXT,
        first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL, deleted_at INTEGER,
        PRIMARY KEY (base_host, username))]],
    [[CREATE TABLE usage_days (base_host TEXT NOT NULL, username TEXT NOT NULL, day TEXT NOT NULL,
        flow INTEGER NOT NULL, PRIMARY KEY (base_host, username, day))]],
    [[CREATE TABLE products (base_host TEXT NOT NULL, trade_no TEXT NOT NULL, product_type INTEGER,
        title TEXT, created_at TEXT, expired_at TEXT, first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL,
        PRIMARY KEY (base_host, trade_no))]],
    fired.SCHEMA[1], fired.SCHEMA[2],
  },
}

local UPSERT_ACCOUNT = [[INSERT INTO accounts (base_host, username, remark, product_type, limit_flow,
    usage_flow, status, created_at, first_seen, last_seen) VALUES (%s, %s, %s, %d, %d, %d, %d, %s, %d, %d)
  ON CONFLICT (base_host, username) DO UPDATE SET remark = excluded.remark,
    product_type = excluded.product_type, limit_flow = excluded.limit_flow, usage_flow = excluded.usage_flow,
    status = excluded.status, created_at = excluded.created_at, last_seen = excluded.last_seen, deleted_at = NULL]]
-- a day already stored with the same flow is not touched (and not counted)
local UPSERT_DAY = [[INSERT INTO usage_days (base_host, username, day, flow) VALUES (%s, %s, %s, %d)
  ON CONFLICT (base_host, username, day) DO UPDATE SET flow = excluded.flow WHERE flow IS NOT excluded.flow]]
local UPSERT_PRODUCT = [[INSERT INTO products (base_host, trade_no, product_type, title, created_at,
    expired_at, first_seen, last_seen) VALUES (%s, %s, %d, %s, %s, %s, %d, %d)
  ON CONFLICT (base_host, trade_no) DO UPDATE SET product_type = excluded.product_type, title = excluded.title,
    created_at = excluded.created_at, expired_at = excluded.expired_at, last_seen = excluded.last_seen]]

local History = {}
History.__index = History

--- `$XDG_STATE_HOME/proxyapi/history.sqlite3`, else `~/.local/state/proxyapi/history.sqlite3`.
-- @treturn string
function history.default_path()
  return store.state_path("history.sqlite3")
end

--- The database a profile's `history` setting names: a path, a table
-- with `path`, or nil/true for `default_path()`; nil and why for anything else.
-- @param setting
-- @treturn string
function history.path_of(setting)
  if type(setting) == "table" then
    setting = setting.path
  end
  if setting == nil or setting == true then
    return history.default_path()
  elseif type(setting) ~= "string" or setting == "" then
    return nil, "history: a path expected, got " .. type(setting)
  end
  return setting
end

--- Opens a history database, protected like the journal.
-- @tparam[opt] string|boolean path the file; nil or true: `default_path()`
-- @tparam[opt] table opts `readonly`, `busy_timeout` (ms)
-- @return a history
-- @return[2] nil
-- @treturn[2] string what went wrong
-- @usage local h = assert(history.open())
function history.open(path, opts)
  if path == nil or path == true then
    path = history.default_path()
  end
  opts = opts or {}
  local s, err = store.open(path, { what = "history", readonly = opts.readonly, busy_timeout = opts.busy_timeout,
                                    application_id = APPLICATION_ID, migrations = MIGRATIONS })
  if s == nil then
    return nil, err
  end
  return setmetatable({ store = s, path = s.path }, History)
end

-- Provider values as stored: integers and strings, anything else NULL.
local function int(v)
  return math_type(v) and tointeger(v) or nil
end
local function text(v)
  return type(v) == "string" and v or nil
end

--- The name a client's service has in the history: its base URL's host[:port].
-- @param api a client
-- @treturn string
function history.base_host(api)
  return net.url_host(api:settings().base_url)
end
local host_of = history.base_host

local function day_of(time)
  return os_date("%Y-%m-%d", time)
end

-- The days of a sync: `from`..`to`, or the `days` days ending today.
local function window(opts)
  local to = args.day("sync", opts.to, "to") or day_of(os_time())
  local from = args.day("sync", opts.from, "from")
  if from == nil then
    local days = opts.days == nil and 7 or args.integer(2, "sync", opts.days, "days")
    if days < 1 then
      arg_error(2, "sync", "days: at least 1 expected")
    end
    local y, m, d = to:match("^(%d+)-(%d+)-(%d+)$")
    from = day_of(os_time { year = tointeger(y), month = tointeger(m), day = tointeger(d) - days + 1, hour = 12 })
  end
  if from > to then
    arg_error(2, "sync", "from is after to")
  end
  return from, to
end

-- Stores one account's days; returns how many it saw and how many changed.
local function store_days(s, base_host, username, list, today)
  local seen, changed = 0, 0
  for _, entry in ipairs(type(list) == "table" and list or {}) do
    local day, flow = text(entry.day), int(entry.flow)
    -- days after today are placeholders (0), not usage
    if day and day:match("^%d%d%d%d%-%d%d%-%d%d$") and day <= today and flow then
      seen, changed = seen + 1, changed + s:run(UPSERT_DAY, base_host, username, day, flow)
    end
  end
  return seen, changed
end

-- Reads the accounts' usage (concurrently) and stores both, with what
-- more(s, now) adds, in one transaction.
local function store_accounts(self, api, base_host, accounts, from_of, to, more)
  local usage, errs = api:map(accounts, function(client, account)
    return client:usage_flow { username = account.username, start_time = from_of(account) .. " 00:00:00",
                               end_time = to .. " 23:59:59" }
  end)
  local summary = { accounts = #accounts, days = 0, changed = 0, failed = {}, errs = {} }
  for i, a in ipairs(accounts) do
    if errs[i] then
      summary.failed[#summary.failed + 1], summary.errs[#summary.errs + 1] = a.username, errs[i]
    end
  end
  if #accounts > 0 and #summary.failed == #accounts then
    return nil, summary.errs[1]
  end
  local s, now = self.store, os_time()
  local ok, err = s:transaction(function()
    for i, a in ipairs(accounts) do
      s:run(UPSERT_ACCOUNT, base_host, a.username, text(a.remark), int(a.product_type), int(a.limit_flow),
            int(a.usage_flow), int(a.status), text(a.created_at), now, now)
      local seen, changed = store_days(s, base_host, a.username, usage[i], day_of(now))
      summary.days, summary.changed = summary.days + seen, summary.changed + changed
    end
    return true, more and more(s, now)
  end)
  return ok and summary, err
end

local function checked_api(fname, api)
  if type(api) ~= "table" and type(api) ~= "userdata" then
    arg_error(1, fname, "client expected, got " .. type(api))
  end
end

--- Stores what the API says now: accounts, their usage per day, and
-- (when all accounts are synced) products; accounts no longer listed are
-- marked deleted. Running it twice over the same days changes nothing.
-- @param api a proxyapi client
-- @tparam[opt] table opts `base_host` (default: the client's base URL
-- host[:port]), `days` (the N days ending today; default 7) or `from`,
-- `to` ("YYYY-MM-DD"), `accounts` (only these names)
-- @treturn table `{ accounts =, days =, changed =, failed = {names}, errs = {…}, products_err = }`:
-- accounts synced, usage rows seen, rows inserted or changed; `failed`
-- names the accounts whose usage could not be read (`errs[i]` their errors)
-- @return[2] nil
-- @return[2] the error (listing failed, every usage call failed, or the database)
-- @usage local summary = assert(h:sync(api, { days = 30 }))
function History:sync(api, opts)
  checked_api("sync", api)
  opts = opts or {}
  local base_host = optional_string("sync", opts, "base_host") or host_of(api)
  local from, to = window(opts)
  local only = opts.accounts and {}
  for _, name in ipairs(args.names("sync", opts.accounts, "accounts")) do
    only[name] = true
  end
  local list, err = api:list_accounts()
  if not list then
    return nil, err
  end
  local accounts, listed, products = {}, {}, {}
  for _, a in ipairs(list) do
    if text(a.username) and (not only or only[a.username]) then
      accounts[#accounts + 1], listed[a.username] = a, true
    end
  end
  local ok, perr = true, nil
  if not only then
    ok, perr = pcall(function()
      for p in api:each_product {} do
        products[#products + 1] = p
      end
    end)
  end
  local summary
  summary, err = store_accounts(self, api, base_host, accounts, function() return from end, to, function(s, now)
    local known = only and {} or s:query("SELECT username FROM accounts WHERE base_host = %s AND deleted_at IS NULL",
                                         base_host)
    for _, a in ipairs(known) do
      if not listed[a.username] then
        s:run("UPDATE accounts SET deleted_at = %d WHERE base_host = %s AND username = %s", now, base_host, a.username)
      end
    end
    for _, p in ipairs(ok and products or {}) do
      if text(p.trade_no) then
        s:run(UPSERT_PRODUCT, base_host, p.trade_no, int(p.product_type),
              text(type(p.order) == "table" and p.order.title), text(p.created_at), text(p.expired_at), now, now)
      end
    end
  end)
  if summary then
    summary.products_err = not ok and perr or nil
  end
  return summary, err
end

--- Stores one account's whole usage (from the day it was created), as
-- a delete must do first: the provider drops an account's usage with it.
-- @param api a proxyapi client
-- @tparam string base_host
-- @tparam string username
-- @treturn table `{ accounts = 1, days =, changed = }`
-- @return[2] nil
-- @return[2] the error (or a message when the account is not listed)
-- @usage assert(h:sync_account(api, "api.example", "u1")); api:delete_accounts("u1")
function History:sync_account(api, base_host, username)
  if type(username) ~= "string" then
    arg_error(3, "sync_account", "username: string expected, got " .. type(username))
  end
  local summary, err = self:sync_accounts(api, base_host, { username })
  if summary and summary.missing[1] then
    return nil, format("history %s: no account %s at %s", self.path, username, base_host)
  end
  return summary, err
end

--- Stores the whole usage (from the day each was created) of several
-- accounts with one listing; what a delete does first. Every account's
-- usage must be read, or nothing is stored and the first error returned.
-- @param api a proxyapi client
-- @tparam string base_host
-- @tparam {string,...} names
-- @treturn table `{ accounts =, days =, changed =, missing = {names not listed} }`
-- @return[2] nil
-- @return[2] the error (listing, a usage read, or the database)
-- @usage assert(h:sync_accounts(api, history.base_host(api), { "u1", "u2" }))
function History:sync_accounts(api, base_host, names)
  checked_api("sync_accounts", api)
  if type(base_host) ~= "string" then
    arg_error(2, "sync_accounts", "base_host: string expected, got " .. type(base_host))
  end
  local wanted = {}
  for _, name in ipairs(args.names("sync_accounts", names, "names")) do
    wanted[name] = true
  end
  local list, err = api:list_accounts()
  if not list then
    return nil, err
  end
  local accounts, today = {}, day_of(os_time())
  for _, a in ipairs(list) do
    if wanted[a.username] then
      accounts[#accounts + 1], wanted[a.username] = a, nil
    end
  end
  local missing = {}
  for _, name in ipairs(names) do
    if wanted[name] then
      missing[#missing + 1], wanted[name] = name, nil
    end
  end
  local function created(a)
    return text(a.created_at) and a.created_at:match("^%d%d%d%d%-%d%d%-%d%d") or today
  end
  local summary, serr = store_accounts(self, api, base_host, accounts, created, today)
  if summary and summary.failed[1] then
    return nil, summary.errs[1] -- an account whose usage was not read would lose it
  end
  if summary then
    summary.missing = missing
  end
  return summary, serr
end

--- Marks an account deleted (it stays, with its usage).
-- @tparam string base_host
-- @tparam string username
-- @return true
-- @return[2] nil
-- @treturn[2] string what went wrong
function History:record_account_deleted(base_host, username)
  if type(base_host) ~= "string" or type(username) ~= "string" then
    arg_error(1, "record_account_deleted", "base_host and username: strings expected")
  end
  local s, now = self.store, os_time()
  return s:transaction(function()
    s:run([[INSERT INTO accounts (base_host, username, first_seen, last_seen, deleted_at) VALUES (%s, %s, %d, %d, %d)
      ON CONFLICT (base_host, username) DO UPDATE SET deleted_at = COALESCE(deleted_at, excluded.deleted_at)]],
          base_host, username, now, now, now)
    return true
  end)
end

--- Usage per day (summed over accounts, or per account), oldest first.
-- @tparam[opt] table q `base_host`, `from`, `to` ("YYYY-MM-DD"), `username`, `per_account`
-- @treturn table rows `{ day =, flow = KB }` (and `username =` per account)
-- @return[2] nil
-- @treturn[2] string what went wrong
-- @usage for _, row in ipairs(assert(h:usage { from = "2025-01-01", per_account = true })) do print(row.day) end
function History:usage(q)
  q = q or {}
  local base_host, username = optional_string("usage", q, "base_host"), optional_string("usage", q, "username")
  local from, to = args.day("usage", q.from, "from"), args.day("usage", q.to, "to")
  local where = [[ FROM usage_days WHERE (%s IS NULL OR base_host = %s) AND (%s IS NULL OR day >= %s)
    AND (%s IS NULL OR day <= %s) AND (%s IS NULL OR username = %s) ]]
  return self.store:rows(q.per_account and "SELECT day, username, SUM(flow) AS flow" .. where
                           .. "GROUP BY day, username ORDER BY day, username"
                           or "SELECT day, SUM(flow) AS flow" .. where .. "GROUP BY day ORDER BY day",
                         base_host, base_host, from, from, to, to, username, username)
end

--- The accounts stored (deleted ones too, with `deleted_at`), by host and name.
-- @tparam[opt] table q `base_host`
-- @treturn table rows with the columns of the accounts table
-- @return[2] nil
-- @treturn[2] string what went wrong
function History:accounts(q)
  local base_host = optional_string("accounts", q or {}, "base_host")
  return self.store:rows("SELECT * FROM accounts WHERE (%s IS NULL OR base_host = %s) ORDER BY base_host, username",
                         base_host, base_host)
end

--- The products stored, by host and trade_no.
-- @tparam[opt] table q `base_host`
-- @treturn table rows `{ base_host =, trade_no =, product_type =, title =, created_at =, expired_at =, … }`
-- @return[2] nil
-- @treturn[2] string what went wrong
function History:products(q)
  local base_host = optional_string("products", q or {}, "base_host")
  return self.store:rows("SELECT * FROM products WHERE (%s IS NULL OR base_host = %s) ORDER BY base_host, trade_no",
                         base_host, base_host)
end

for name, fn in pairs(fired.methods) do
  History[name] = fn
end
history.period_key = fired.period_key

--- Closes the history; a second close does nothing. Also `__close` and `__gc`.
function History:close()
  self.store:close()
end
History.__close = History.close
History.__gc = History.close

function History:__tostring()
  return "proxyapi.history " .. self.path
end

return history
