--- The journal's read side: its runs and entries as they read back, and
-- pruning. proxyapi.journal adds these methods to the journals it opens
-- (its write side is there). A run that was never ended is "running"
-- while its process lives and "unfinished" after; an entry left pending
-- by a process that is gone reads "unknown".
-- @module proxyapi.journal_read

local args = require "proxyapi.store_args"
local core = require "proxyapi.core"

local type, pairs, ipairs = type, pairs, ipairs
local arg_error, optional_string, required_integer = args.arg_error, args.optional_string, args.integer
local epoch = args.epoch

local hostname
local function alive(run)
  -- a run that was never ended is still going while its process lives
  hostname = hostname or core.hostname()
  if run.ended ~= nil or run.pid == nil or run.node ~= hostname then
    return false
  end
  return core.stat("/proc/self") == nil or core.stat("/proc/" .. run.pid) ~= nil
end

--- The methods of proxyapi.journal's journals that read.
local Journal = {}

--- Runs, newest first: `{ id=, started=, ended=, user=, host=, pid=, command=,
-- profile=, base_host=, status=, applied=, failed=, unknown= }` (status
-- "running", or "unfinished" when its process is gone without ending it).
-- @tparam[opt] table opts `limit`
-- @treturn table array of runs
-- @return[2] nil
-- @treturn[2] string what went wrong
function Journal:runs(opts)
  local limit = opts and opts.limit
  local rows, err = self.store:rows("SELECT * FROM runs ORDER BY id DESC LIMIT %d",
                                    limit and required_integer(1, "runs", limit, "limit") or -1)
  for _, row in ipairs(rows or {}) do
    row.status = row.ended == nil and (alive(row) and "running" or "unfinished") or row.status
  end
  return rows, err
end

--- The newest run, or nil when there is none.
-- @return a run (as `runs` gives it), or nil
-- @return[2] nil
-- @treturn[2] string what went wrong
function Journal:last_run()
  local rows, err = self:runs { limit = 1 }
  return rows and rows[1], err
end

local MATCH = [[ JOIN runs r ON r.id = e.run_id WHERE (%d IS NULL OR e.run_id = %d) AND (%d IS NULL OR e.time >= %d)
  AND (%s IS NULL OR EXISTS (SELECT 1 FROM entry_accounts x WHERE x.entry_id = e.id AND x.account = %s))]]
local ENTRIES = "SELECT e.*, r.ended AS run_ended, r.pid AS run_pid, r.node AS run_node FROM entries e" .. MATCH
  .. " ORDER BY e.id"
local ACCOUNTS = "SELECT a.* FROM entry_accounts a JOIN entries e ON e.id = a.entry_id" .. MATCH
  .. " ORDER BY a.entry_id, a.seq"
local PARAMS = "SELECT p.* FROM entry_params p JOIN entries e ON e.id = p.entry_id" .. MATCH

local function settled(outcome, row)
  -- no outcome, and nobody left to write one
  if outcome == "pending" and not alive { ended = row.run_ended, pid = row.run_pid, node = row.run_node } then
    return "unknown"
  end
  return outcome
end

--- Entries in order: `{ id=, run=, time=, endpoint=, method=, path=, base_host=,
-- profile=, accounts={…}, outcomes={ name = outcome }, params={…}, outcome=,
-- kind=, msg=, attempts= }`. Secret params read `***` unless `show_secrets`;
-- `pending` reads `unknown` once its run is over.
-- @tparam[opt] table filter `run`, `since` (epoch or "YYYY-MM-DD[ HH:MM:SS]"),
-- `account` (its own outcome then), `outcome`, `show_secrets`
-- @treturn table array of entries
-- @return[2] nil
-- @treturn[2] string what went wrong
-- @usage for _, e in ipairs(assert(j:entries { run = 17, outcome = "unknown" })) do print(e.id) end
function Journal:entries(filter)
  filter = filter or {}
  local run = filter.run and required_integer(1, "entries", filter.run, "run")
  local since = epoch("entries", filter.since, "since")
  local account = optional_string("entries", filter, "account")
  local s, list, by_id = self.store, {}, {}
  -- one read transaction, so that the three queries see the same entries
  local rows, accounts, params = s:snapshot(function()
    return s:query(ENTRIES, run, run, since, since, account, account),
      s:query(ACCOUNTS, run, run, since, since, account, account),
      s:query(PARAMS, run, run, since, since, account, account)
  end)
  if not rows then
    return nil, accounts
  end
  for _, row in ipairs(rows) do
    by_id[row.id] = { id = row.id, run = row.run_id, time = row.time, endpoint = row.endpoint, method = row.method,
                      path = row.path, base_host = row.base_host, profile = row.profile, accounts = {},
                      outcomes = {}, params = {}, outcome = settled(row.outcome, row), kind = row.kind,
                      msg = row.msg, attempts = row.attempts, row = row }
  end
  for _, a in ipairs(accounts) do
    local e = by_id[a.entry_id]
    local outcome = settled(a.outcome, e.row)
    e.accounts[#e.accounts + 1], e.outcomes[a.account] = a.account, outcome
    if a.account == account then
      e.outcome, e.kind, e.msg = outcome, a.kind, a.msg
    end
  end
  for _, p in ipairs(params) do
    by_id[p.entry_id].params[p.name] = (p.secret ~= 0 and not filter.show_secrets) and "***" or p.value
  end
  for _, row in ipairs(rows) do
    local e = by_id[row.id]
    e.row = nil
    local keep = filter.outcome == nil or e.outcome == filter.outcome
    for _, outcome in pairs(account == nil and e.outcomes or {}) do
      keep = keep or outcome == filter.outcome
    end
    list[#list + 1] = keep and e or nil
  end
  return list
end

--- Deletes the runs started before a date (not one still running), with
-- their entries, and wipes them from the file.
-- @tparam table opts `before` (epoch or "YYYY-MM-DD[ HH:MM:SS]")
-- @treturn integer how many runs were deleted
-- @return[2] nil
-- @treturn[2] string what went wrong
-- @usage j:prune { before = "2024-01-01" }
function Journal:prune(opts)
  local before = epoch("prune", type(opts) == "table" and opts.before or nil, "before")
  if before == nil then
    arg_error(1, "prune", "before: a date expected")
  end
  local s = self.store
  local deleted, err = s:transaction(function()
    local n = 0
    for _, run in ipairs(s:query("SELECT id, ended, pid, node FROM runs WHERE started < %d", before)) do
      n = n + (alive(run) and 0 or s:run("DELETE FROM runs WHERE id = %d", run.id))
    end
    return n
  end)
  if deleted then
    s:exec("PRAGMA wal_checkpoint(TRUNCATE)") -- the deleted pages leave the WAL too (best effort)
  end
  return deleted, err
end

return Journal
