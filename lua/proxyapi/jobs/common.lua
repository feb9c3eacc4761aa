--- What the jobs share: option converters, the dry-run header, random
-- passwords, row outcomes (and agreeing with the journal on them), the
-- journal run of a job, and the --max-changes guard rail.
-- @module proxyapi.jobs.common

local errors = require "proxyapi.errors"

local tostring, tonumber, ipairs, pairs = tostring, tonumber, ipairs, pairs
local format, gsub, find, concat = string.format, string.gsub, string.find, table.concat
local tointeger = math.tointeger
local open = io.open

local common = {}

--- An argparse converter to an integer from `min` to `max` (either may
-- be nil); `label` (the option) starts its message.
function common.integer(min, max, label)
  return function(text)
    local n = tointeger(tonumber(text))
    if n == nil or (min and n < min) or (max and n > max) then
      local range = min and max and format("from %d to %d", min, max) or min and format("of at least %d", min)
        or max and format("of at most %d", max) or ""
      return nil, format("%s'%s': an integer %s expected", label and label .. ": " or "", text, range)
    end
    return n
  end
end

--- An argparse converter to a finite number of at least `min`.
function common.number(min, label)
  return function(text)
    local n = tonumber(text)
    if n == nil or n ~= n or n == math.huge or n == -math.huge or (min and n < min) then
      return nil, format("%s'%s': a number%s expected", label and label .. ": " or "", text,
        min and format(" of at least %g", min) or "")
    end
    return n
  end
end

--- The `--max-changes N` option of the jobs that change accounts.
function common.max_changes(cmd)
  cmd:option("--max-changes", "Change at most N accounts: stop before change N+1 (exit status 3 when "
    .. "some were left).")
    :argname("N"):convert(common.integer(0, nil, "--max-changes"))
end

--- A "*" and "?" glob as an anchored Lua pattern.
function common.glob(glob)
  return "^" .. gsub(gsub(gsub(glob, "[%^%$%(%)%%%.%[%]%+%-]", "%%%0"), "%*", ".*"), "%?", ".") .. "$"
end

local SYMBOLS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
local urandom

--- A random password of letters and digits, from /dev/urandom (unbiased:
-- bytes 248..255 are dropped, so 0..247 map evenly onto 62 symbols).
function common.password(length)
  urandom = urandom or assert(open("/dev/urandom", "rb"))
  local out = {}
  while #out < length do
    local bytes = assert(urandom:read(length * 2), "/dev/urandom: short read")
    for i = 1, #bytes do
      local b = bytes:byte(i)
      if b < 248 and #out < length then
        local k = b % 62 + 1
        out[#out + 1] = SYMBOLS:sub(k, k)
      end
    end
  end
  return concat(out)
end

--- A function that writes `name: message` lines on ctx.err.
function common.say(ctx, name)
  return function(fmt, ...)
    ctx.err:write(name, ": ", select("#", ...) > 0 and format(fmt, ...) or fmt, "\n")
  end
end

--- Says on stderr that this is a dry run, before anything else.
function common.dry_run_header(ctx, name)
  if ctx.dry_run then
    ctx.err:write(name, ": dry run: nothing is changed\n")
  end
end

--- Reports a failed call (`name: error`) and returns its exit status.
function common.fail(ctx, name, err)
  ctx.err:write(name, ": ", tostring(err), "\n")
  return errors.exit_code(nil, err)
end

--- What a call's result says of the row it was for, before the journal
-- has its say: applied (or dry-run), not-sent (nothing left: an interrupt
-- came first, or the journal refused), failed (the server answered no),
-- else unknown (it may have reached the server).
function common.outcome(ok, err, dry_run)
  if ok ~= nil and not errors.is_error(ok) then
    return dry_run and "dry-run" or "applied"
  end
  if not errors.is_error(err) then
    return "unknown" -- something raised: we cannot tell
  end
  if (err.attempts or 1) == 0 then
    return "not-sent"
  end
  if err.kind == "api" or err.kind == "http" then
    return "failed"
  end
  return "unknown"
end

--- Per-account outcomes of a batch call (names listed in err.failed and
-- err.succeeded).
function common.batch_outcomes(names, ok, err, dry_run)
  local outcomes = {}
  local failed = common.outcome(ok, err, dry_run)
  for _, name in ipairs(names) do
    outcomes[name] = failed
  end
  if err and errors.is_error(err) then
    for _, name in ipairs(err.succeeded or {}) do
      outcomes[name] = "applied"
    end
  end
  return outcomes
end

--- The recorder of the job's client (its journal, its run), if any.
local function recorder(ctx)
  return require("proxyapi.client").recorder(ctx.api)
end

--- The journal run this job's changes are in, or nil (no journal, or nothing sent yet).
function common.run_id(ctx)
  local rec = recorder(ctx)
  return rec and rec.journal and rec.run or nil
end

--- The base URL host the client records in the journal.
function common.base_host(ctx)
  local rec = recorder(ctx)
  return rec and rec.base_host
end

--- Makes the rows agree with the journal: for each row that was sent
-- (`row.sent`), the outcome the journal holds for its account in this
-- run's entries to one of `paths` (a set). Pending reads unknown.
function common.reconcile(ctx, rows, paths)
  local run, j = common.run_id(ctx), ctx.journal
  if run == nil or j == nil then
    return
  end
  local entries = j:entries { run = run }
  if entries == nil then
    return
  end
  local by_account = {}
  for _, e in ipairs(entries) do
    if paths[e.path] then
      for account, outcome in pairs(e.outcomes) do
        by_account[account] = outcome == "pending" and "unknown" or outcome
      end
    end
  end
  for _, row in ipairs(rows) do
    local outcome = row.sent and by_account[row.username]
    if outcome then
      row.outcome = outcome
    end
  end
end

--- Counts rows by outcome.
function common.count(rows)
  local counts = { applied = 0, failed = 0, unknown = 0, ["not-sent"] = 0, ["dry-run"] = 0, pending = 0, left = 0 }
  for _, row in ipairs(rows) do
    counts[row.outcome] = (counts[row.outcome] or 0) + 1
  end
  return counts
end

--- "3 failed, 1 unknown" from counts, the non-zero ones only.
function common.phrase(counts, keys)
  local parts = {}
  for _, key in ipairs(keys) do
    local n = counts[key[1]]
    if n and n > 0 then
      parts[#parts + 1] = format("%d %s", n, key[2])
    end
  end
  return concat(parts, ", ")
end

--- Whether a shell word is safe bare (for messages that show commands).
function common.is_plain(word)
  return find(word, "^[%w%-%./_=:,@+]+$") ~= nil
end

return common
