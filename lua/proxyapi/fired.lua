--- Watch's fired-state, kept in the history database: a rule fires at
-- most once per subject (an account, a package) and period, with an id
-- that stays the same on every retry of its notification, and re-arms
-- when its condition clears. These are methods of a history
-- (`proxyapi.history`): `h:fire`, `h:fired_get`, `h:delivered`, `h:rearm`.
-- @module proxyapi.fired

local args = require "proxyapi.store_args"
local core = require "proxyapi.core"

local type, ipairs, pcall, select, format = type, ipairs, pcall, select, string.format
local os_time, os_date = os.time, os.date
local arg_error = args.arg_error

local fired = {}
local History = {}
--- The methods a history gains (`h:fire`, …).
fired.methods = History

--- The tables, in the history's first schema version.
fired.SCHEMA = {
  [[CREATE TABLE fired (id TEXT PRIMARY KEY, rule TEXT NOT NULL, subject TEXT NOT NULL,
      period_key TEXT NOT NULL, fired_at INTEGER NOT NULL, data TEXT, UNIQUE (rule, subject, period_key))]],
  [[CREATE TABLE deliveries (firing_id TEXT NOT NULL REFERENCES fired (id) ON DELETE CASCADE,
      channel TEXT NOT NULL, delivered_at INTEGER NOT NULL, PRIMARY KEY (firing_id, channel))]],
}

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
-- @usage fired.period_key("month") --> "2025-03"
function fired.period_key(period, time)
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
-- @tparam string period_key see `fired.period_key`
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
-- @usage local firing = assert(h:fire("near-cap", "u1", fired.period_key("month"), { usage_percent = 93 }))
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

return fired
