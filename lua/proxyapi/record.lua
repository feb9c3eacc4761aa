--- What a client writes down about the requests that change or hand out
-- something: an intent in the journal before the first byte is sent, its
-- attempts, and its outcome after (applied, failed, or unknown when it may
-- have reached the server), per account. Without a journal the outcomes
-- are still counted, for pxlua's summary line after an interrupt.
-- @module proxyapi.record

local core = require "proxyapi.core"
local errors = require "proxyapi.errors"
local request = require "proxyapi.request"

local type, tostring, pcall, rawget = type, tostring, pcall, rawget
local format, gsub, find = string.format, string.gsub, string.find
local concat = table.concat
local stderr = io.stderr
local scrub = core.transfer.scrub

local record = {}

--- The command line of this process as `arg` has it, quoted where needed.
local function command_line()
  local args = rawget(_G, "arg")
  if type(args) ~= "table" then
    return nil
  end
  local parts, first = {}, 0
  while args[first - 1] ~= nil do
    first = first - 1
  end
  for i = first, #args do
    local a = tostring(args[i])
    parts[#parts + 1] = find(a, "^[%w%-%./_=:,@+]+$") and a or "'" .. gsub(a, "'", "'\\''") .. "'"
  end
  return concat(parts, " ")
end

--- A recorder for a client: `option` is the client's `journal` option
-- (true, a path, or a journal object some clients share) or nil.
-- @treturn table the recorder
-- @return[2] nil
-- @treturn[2] string why the journal cannot be used
function record.new(option, settings)
  local rec = { counts = { applied = 0, failed = 0, unknown = 0 }, base_host = settings.host,
                profile = settings.profile }
  if option == nil or option == false then
    return rec
  end
  if type(option) == "table" and type(option.intent) == "function" then
    rec.journal = option
    return rec
  end
  local journal = require "proxyapi.journal"
  local j, err = journal.open(option)
  if j == nil then
    return nil, "journal: " .. tostring(err)
  end
  rec.journal, rec.owned = j, true
  return rec
end

local function journal_error(req, msg)
  return errors.new { kind = "journal", msg = msg .. "; nothing was sent", endpoint = req.route.endpoint,
                      attempts = 0, retryable = false }
end

-- The accounts a request is about.
local function accounts_of(req)
  if req.names then
    return req.names
  end
  local account = req.fields.account or req.fields.username
  return account and { account } or {}
end

--- Writes the intent of `req` before it is sent. Returns the entry id
-- (false without a journal), or nil and an error object: then the request
-- must not be sent.
function record.intent(rec, handle, req)
  local j = rec.journal
  if j == nil then
    return false
  end
  if rec.run == nil then
    local run, err = j:begin_run { command = rec.command or (command_line() and scrub(handle, command_line())),
                                   profile = rec.profile, base_host = rec.base_host }
    if run == nil then
      return nil, journal_error(req, "cannot start a run in the journal: " .. tostring(err))
    end
    rec.run = run
  end
  local route = req.route
  local ok, id, err = pcall(j.intent, j, {
    run = rec.run, endpoint = route.endpoint, method = route.method, path = route.path,
    base_host = rec.base_host, profile = rec.profile, accounts = accounts_of(req),
    params = request.params(req, true), secret = req.secret,
  })
  if not ok or id == nil then
    return nil, journal_error(req, "cannot record the request in the journal: " .. tostring(ok and err or id))
  end
  return id
end

--- Counts a retry of an entry.
function record.attempt(rec, entry)
  if entry then
    local ok, err = rec.journal:attempt(entry)
    if not ok then
      stderr:write(format("proxyapi: warning: journal: cannot count an attempt of entry %d: %s\n", entry,
        tostring(err)))
    end
  end
end

--- What became of a request: applied; failed when it is known not to have
-- been (an answer refused it, or it never left); unknown otherwise.
function record.outcome_of(result, err, reached)
  if result ~= nil then
    return "applied"
  end
  local kind = err.kind
  if kind == "api" or kind == "http" then
    return "failed"
  end
  if reached or (kind == "protocol" and err.status) then
    return "unknown"
  end
  return "failed"
end

--- Writes the outcome of an entry and counts it. If the journal cannot be
-- written now, the call still returns its real result: a warning says so,
-- and the entry reads back as unknown.
function record.outcome(rec, entry, req, result, err, reached)
  local outcome = "applied"
  if result == nil then
    outcome = record.outcome_of(result, err, reached)
    err.outcome = outcome -- what the journal says of it: "failed" or "unknown"
  end
  -- counted per account (a request about none counts once)
  local names = req.names
  local counts = rec.counts
  counts[outcome] = counts[outcome] + (names and #names > 0 and #names or 1)
  if entry then
    local ok, werr = rec.journal:outcome(entry, outcome, err and { kind = err.kind, msg = err.msg } or nil)
    if not ok then
      stderr:write(format("proxyapi: warning: journal: the outcome of entry %d (%s) was not written: %s\n",
        entry, outcome, tostring(werr)))
    end
  end
  return outcome
end

--- Ends the recorder's run (if one began) with its counts.
function record.finish(rec, status)
  if rec.journal and rec.run then
    rec.journal:end_run(rec.run, { status = status or "ok" })
  end
end

--- A line for pxlua after an interrupt: `41 applied, 0 failed, 16 unknown
-- (journal run 17)`, from the journal when there is one.
function record.summary(rec)
  local counts = rec.counts
  if rec.journal and rec.run then
    counts = rec.journal:counts(rec.run) or counts
  end
  local line = format("%d applied, %d failed, %d unknown", counts.applied, counts.failed, counts.unknown)
  if rec.journal and rec.run then
    line = line .. format(" (journal run %d)", rec.run)
  end
  return line
end

return record
