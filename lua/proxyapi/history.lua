--- The history: accounts (never their passwords), per-account per-day
-- usage and products, kept in SQLite by base URL host, idempotently; and
-- watch's fired-state, so that a rule fires once per subject and period
-- (see API.md, "Watch, history and metrics").
-- @module proxyapi.history

local store = require "proxyapi.store"
local args = require "proxyapi.store_args"
local core = require "proxyapi.core"

local type, ipairs, pcall, select, format, setmetatable = type, ipairs, pcall, select, string.format, setmetatable
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
    [[CREATE TABLE fired (id TEXT PRIMARY KEY, rule TEXT NOT NULL, subject TEXT NOT NULL,
        period_key TEXT NOT NULL, fired_at INTEGER NOT NULL, data TEXT, UNIQUE (rule, subject, period_key))]],
    [[CREATE TABLE deliveries (firing_id TEXT NOT NULL REFERENCES fired (id) ON DELETE CASCADE,
        channel TEXT NOT NULL, delivered_at INTEGER NOT NULL, PRIMARY KEY (firing_id, channel))]],
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

local function host_of(api)
  local url = api:settings().base_url
  return url:match("^%a[%w+.-]*://[^/@]*@([^/?#]+)") or url:match("^%a[%w+.-]*://([^/?#]+)") or url
end

local function day_of(time)
  return os_date("%Y-%m-%d", time)
end

-- The days of a sync: `from`..`to`, or the `days` days ending today.
local function window(fname, opts)
  local today = day_of(os_time())
  local to = args.day(fname, opts.to, "to") or today
  local from = args.day(fname, opts.from, "from")
  if from == nil then
    local days = opts.days == nil and 7 or args.integer(2, fname, opts.days, "days")
    if days < 1 then
      arg_error(2, fname, "days: at least 1 expected")
    end
    local y, m, d = to:match("^(%d+)-(%d+)-(%d+)$")
    from = day_of(os_time { year = tointeger(y), month = tointeger(m), day = tointeger(d) - days + 1, hour = 12 })
  end
  if from > to then
    arg_error(2, fname, "from is after to")
  end
  return from, to, today
end

local function upsert_account(s, base_host, a, now)
  s:run(UPSERT_ACCOUNT, base_host, a.username, text(a.remark), int(a.product_type), int(a.limit_flow),
        int(a.usage_flow), int(a.status), text(a.created_at), now, now)
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

local function fetch_usage(api, accounts, from_of, to)
  return api:map(accounts, function(client, account)
    return client:usage_flow { username = account.username, start_time = from_of(account) .. " 00:00:00",
                               end_time = to .. " 23:59:59" }
  end)
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
-- @treturn table `{ accounts =, days =, changed =, failed = {names}, errs = {…} }`:
-- accounts synced, usage rows seen, rows inserted or changed; `failed`
-- names the accounts whose usage could not be read (`errs[i]` their errors)
-- @return[2] nil
-- @return[2] the error (listing failed, every usage call failed, or the database)
-- @usage local summary = assert(h:sync(api, { days = 30 }))
function History:sync(api, opts)
  checked_api("sync", api)
  opts = opts or {}
  local base_host = optional_string("sync", opts, "base_host") or host_of(api)
  local from, to, today = window("sync", opts)
  local only = opts.accounts and {}
  for _, name in ipairs(args.names("sync", opts.accounts, "accounts")) do
    only[name] = true
  end
  local list, err = api:list_accounts()
  if not list then
    return nil, err
  end
  local accounts, listed = {}, {}
  for _, a in ipairs(list) do
    if text(a.username) and (not only or only[a.username]) then
      accounts[#accounts + 1], listed[a.username] = a, true
    end
  end
  local usage, errs = fetch_usage(api, accounts, function() return from end, to)
  local products, perr = {}, nil
  if not only then
    local ok, e = pcall(function()
      for p in api:each_product {} do
        products[#products + 1] = p
      end
    end)
    perr = not ok and e or nil
  end
  local summary = { accounts = #accounts, days = 0, changed = 0, failed = {}, errs = {}, products_err = perr }
  for i, a in ipairs(accounts) do
    if errs[i] then
      summary.failed[#summary.failed + 1] = a.username
      summary.errs[#summary.errs + 1] = errs[i]
    end
  end
  if #accounts > 0 and #summary.failed == #accounts then
    return nil, summary.errs[1]
  end
  local s, now = self.store, os_time()
  local ok
  ok, err = s:transaction(function()
    for i, a in ipairs(accounts) do
      upsert_account(s, base_host, a, now)
      local seen, changed = store_days(s, base_host, a.username, usage[i], today)
      summary.days, summary.changed = summary.days + seen, summary.changed + changed
    end
    for _, known in ipairs(only and {} or s:query("SELECT username FROM accounts WHERE base_host = %s "
                                                   .. "AND deleted_at IS NULL", base_host)) do
      if not listed[known.username] then
        s:run("UPDATE accounts SET deleted_at = %d WHERE base_host = %s AND username = %s", now, base_host,
              known.username)
      end
    end
    for _, p in ipairs(perr and {} or products) do
      if text(p.trade_no) then
        s:run(UPSERT_PRODUCT, base_host, p.trade_no, int(p.product_type), text(type(p.order) == "table"
              and p.order.title), text(p.created_at), text(p.expired_at), now, now)
      end
    end
    return true
  end)
  if not ok then
    return nil, err
  end
  return summary
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
  checked_api("sync_account", api)
  if type(base_host) ~= "string" or type(username) ~= "string" then
    arg_error(2, "sync_account", "base_host and username: strings expected")
  end
  local list, err = api:list_accounts()
  if not list then
    return nil, err
  end
  local account
  for _, a in ipairs(list) do
    account = account or (a.username == username and a) or nil
  end
  if not account then
    return nil, format("history %s: no account %s at %s", self.path, username, base_host)
  end
  local today = day_of(os_time())
  local created = text(account.created_at) and account.created_at:match("^%d%d%d%d%-%d%d%-%d%d") or today
  local usage, errs = fetch_usage(api, { account }, function() return created end, today)
  if errs[1] then
    return nil, errs[1]
  end
  local s = self.store
  return s:transaction(function()
    upsert_account(s, base_host, account, os_time())
    local seen, changed = store_days(s, base_host, username, usage[1], today)
    return { accounts = 1, days = seen, changed = changed }
  end)
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

-- watch's fired-state

local function random_id()
  local f = io.open("/dev/urandom", "rb")
  local bytes = f and f:read(16)
  if f then
    f:close()
  end
  if type(bytes) ~= "string" or #bytes ~= 16 then
    bytes = string.pack("<i8i8", math.random(math.mininteger, math.maxinteger), os_time() ~ core.pid())
  end
  return (bytes:gsub(".", function(c) return format("%02x", c:byte()) end))
end

local function firing_of(s, row, created)
  local delivered = {}
  for _, d in ipairs(s:query("SELECT channel, delivered_at FROM deliveries WHERE firing_id = %s", row.id)) do
    delivered[d.channel] = d.delivered_at
  end
  local ok, values = pcall(core.json_decode, row.data or "{}")
  return { id = row.id, rule = row.rule, subject = row.subject, period_key = row.period_key,
           fired_at = row.fired_at, values = ok and values or {}, delivered = delivered, created = created }
end

local FIRED = "SELECT * FROM fired WHERE rule = %s AND subject = %s AND period_key = %s"

local function strings(fname, ...)
  for i = 1, select("#", ...) do
    if type(select(i, ...)) ~= "string" then
      arg_error(i, fname, "string expected, got " .. type(select(i, ...)))
    end
  end
end

--- A period's key: the day ("2025-03-01"), the month ("2025-03") or "ever".
-- @tparam string period "day", "month" or "ever"
-- @tparam[opt] integer time an epoch (default now)
-- @treturn string
-- @usage history.period_key("month") --> "2025-03"
function history.period_key(period, time)
  local pattern = ({ day = "%Y-%m-%d", month = "%Y-%m", ever = "ever" })[period]
  if not pattern then
    arg_error(1, "period_key", "\"day\", \"month\" or \"ever\" expected")
  end
  return os_date(pattern, time or os_time())
end

--- The firing of a rule for a subject (an account, a package) in a
-- period, or false when it has not fired.
-- @tparam string rule
-- @tparam string subject
-- @tparam string period_key see `period_key`
-- @return `{ id =, rule =, subject =, period_key =, fired_at =, values =, delivered = { channel = time } }` or false
-- @return[2] nil
-- @treturn[2] string what went wrong
function History:fired_get(rule, subject, period_key)
  strings("fired_get", rule, subject, period_key)
  local s = self.store
  return s:snapshot(function()
    local row = s:query(FIRED, rule, subject, period_key)[1]
    return row and firing_of(s, row) or false
  end)
end

--- Fires a rule once: the first call stores a firing with a new random
-- id (`created = true`); later calls return that one (`created = false`),
-- so a retried notification keeps its id.
-- @tparam string rule
-- @tparam string subject
-- @tparam string period_key
-- @tparam[opt] table values what the notification carries (kept as JSON)
-- @return the firing (see `fired_get`), with `created`
-- @return[2] nil
-- @treturn[2] string what went wrong
-- @usage local firing = assert(h:fire("near-cap", "u1", history.period_key("month"), { usage_percent = 93 }))
function History:fire(rule, subject, period_key, values)
  strings("fire", rule, subject, period_key)
  local ok, data = pcall(core.json_encode, values or {})
  if not ok or type(values or {}) ~= "table" then
    arg_error(4, "fire", "values: a table of numbers, strings and booleans expected")
  end
  local s = self.store
  return s:transaction(function()
    local row = s:query(FIRED, rule, subject, period_key)[1]
    if row then
      return firing_of(s, row, false)
    end
    row = { id = random_id(), rule = rule, subject = subject, period_key = period_key, fired_at = os_time(),
            data = data }
    s:run("INSERT INTO fired (id, rule, subject, period_key, fired_at, data) VALUES (%s, %s, %s, %s, %d, %s)",
          row.id, rule, subject, period_key, row.fired_at, data)
    return firing_of(s, row, true)
  end)
end

--- Records that a firing was delivered on a channel ("webhook", "command", …).
-- @tparam string firing_id
-- @tparam string channel
-- @return true
-- @return[2] nil
-- @treturn[2] string what went wrong (no such firing, …)
function History:delivered(firing_id, channel)
  strings("delivered", firing_id, channel)
  local s = self.store
  return s:transaction(function()
    if not s:query("SELECT id FROM fired WHERE id = %s", firing_id)[1] then
      return nil, format("history %s: no firing %s", self.path, firing_id)
    end
    s:run("INSERT INTO deliveries (firing_id, channel, delivered_at) VALUES (%s, %s, %d) ON CONFLICT DO NOTHING",
          firing_id, channel, os_time())
    return true
  end)
end

--- Re-arms a rule for a subject whose condition has cleared: its
-- firings (every period) are forgotten, so it can fire again.
-- @tparam string rule
-- @tparam string subject
-- @treturn integer how many firings were forgotten
-- @return[2] nil
-- @treturn[2] string what went wrong
function History:rearm(rule, subject)
  strings("rearm", rule, subject)
  local s = self.store
  return s:transaction(function()
    return s:run("DELETE FROM fired WHERE rule = %s AND subject = %s", rule, subject)
  end)
end

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
