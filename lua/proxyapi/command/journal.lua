--- `proxyapi journal`: the runs of the journal (newest first), the
-- entries of one (`--run ID`, `--last`; passwords as *** unless
-- `--show-secrets`), and `journal prune --before DATE`. `scripts/journal.lua`
-- runs the same code under pxlua.
-- @module proxyapi.command.journal

local journal = require "proxyapi.journal"
local errors = require "proxyapi.errors"
local cli = require "proxyapi.cli"

local ipairs, pairs, tostring, type, error = ipairs, pairs, tostring, type, error
local format, find = string.format, string.find
local sort, concat = table.sort, table.concat
local tointeger, tonumber, os_date, io_open = math.tointeger, tonumber, os.date, io.open

local command = { name = "journal", summary = "The journal of changes: runs, their entries, and pruning." }

local function usage(msg)
  error(errors.usage(msg), 0)
end

local function when(t)
  return type(t) == "number" and os_date("%Y-%m-%d %H:%M:%S", t) or ""
end

--- Adds --run, --last, --show-secrets, --account, --outcome and `prune`.
-- @param cmd
-- @usage command.define(cli.command(parser, "journal", command.summary))
function command.define(cmd)
  cmd:require_command(false)
  cmd:mutex(
    cmd:option("--run", "the entries of run ID"):argname("ID"),
    cmd:flag("--last", "the entries of the newest run")
  )
  cmd:flag("--show-secrets", "show the passwords the entries hold (*** otherwise)")
  cmd:option("--account", "only the entries about this account"):argname("NAME")
  cmd:option("--outcome", "only entries with this outcome"):choices { "applied", "failed", "unknown" }
    :argname("OUTCOME")
  local prune = cli.command(cmd, "prune", "Delete the runs started before a date, with their entries.")
  prune:option("--before", "YYYY-MM-DD[ HH:MM:SS]"):argname("DATE"):count(1)
  prune:action(function(result)
    result._prune = true
  end)
end

local RUN_COLUMNS = {
  { key = "id", right = true }, { key = "started", format = when }, { key = "ended", format = when },
  { key = "status" }, { key = "user" }, { key = "host" }, { key = "profile" }, { key = "base_host" },
  { key = "applied", right = true }, { key = "failed", right = true }, { key = "unknown", right = true },
  { key = "command" },
}

local function params_text(params)
  local keys, parts = {}, {}
  for k in pairs(params or {}) do
    keys[#keys + 1] = k
  end
  sort(keys)
  for i, k in ipairs(keys) do
    parts[i] = k .. "=" .. tostring(params[k])
  end
  return concat(parts, " ")
end

local ENTRY_COLUMNS = {
  { key = "id", right = true }, { key = "run", right = true }, { key = "time", format = when },
  { key = "endpoint" }, { key = "accounts", format = function(v)
    return type(v) == "table" and concat(v, ",") or ""
  end }, { key = "outcome" }, { key = "attempts", right = true },
  { key = "params", format = params_text }, { key = "kind" }, { key = "msg" },
}

local function exists(path)
  local f = io_open(path, "rb")
  if f then
    f:close()
  end
  return f ~= nil
end

--- Runs `journal`; returns its report.
-- @tparam table ctx `journal_path` (the fake's under --fake), `format`
-- @tparam table parsed
-- @treturn table the report
-- @usage local report = command.run(ctx, parsed)
function command.run(ctx, parsed)
  local path = ctx.journal_path or journal.default_path()
  if parsed._prune then
    local before = parsed.before
    if not (find(before, "^%d%d%d%d%-%d%d%-%d%d$") or find(before, "^%d%d%d%d%-%d%d%-%d%d %d%d:%d%d:%d%d$")) then
      usage("--before: YYYY-MM-DD or YYYY-MM-DD HH:MM:SS expected, got " .. before)
    end
    if not exists(path) then
      return { rows = {}, json = { deleted = 0, path = path }, footer = { "no journal at " .. path } }
    end
    local j = assert(journal.open(path))
    local n, err = j:prune { before = before }
    j:close()
    if n == nil then
      usage("journal: " .. tostring(err))
    end
    return { rows = {}, json = { deleted = n, path = path },
             footer = { format("deleted %d run%s started before %s", n, n == 1 and "" or "s", before) } }
  end
  if not exists(path) then
    return { rows = {}, columns = RUN_COLUMNS, json = { path = path }, notes = { "proxyapi: no journal at " .. path } }
  end
  local j, oerr = journal.open(path, { readonly = true })
  if j == nil then
    usage("journal: " .. tostring(oerr))
  end
  local run = parsed.run and tointeger(tonumber(parsed.run))
  if parsed.run and (run == nil or run < 1) then
    j:close()
    usage("--run: a run id expected, got " .. parsed.run)
  end
  if parsed.last then
    local last = j:last_run()
    run = last and last.id
    if run == nil then
      j:close()
      return { rows = {}, columns = ENTRY_COLUMNS, json = { path = path },
               notes = { "proxyapi: the journal is empty" } }
    end
  end
  local rows, err
  if run or parsed.account or parsed.outcome then
    rows, err = j:entries { run = run, account = parsed.account, outcome = parsed.outcome,
                            show_secrets = parsed.show_secrets }
  else
    rows, err = j:runs()
  end
  j:close()
  if rows == nil then
    usage("journal: " .. tostring(err))
  end
  local is_entries = run or parsed.account or parsed.outcome
  return { rows = rows, columns = is_entries and ENTRY_COLUMNS or RUN_COLUMNS,
           json = { path = path, run = run } }
end

return command
