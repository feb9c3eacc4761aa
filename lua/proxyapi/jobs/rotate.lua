--- rotate (scripts/rotate-passwords.lua): a new random password for every
-- account, or those matching a glob, with the credentials written ahead
-- (proxyapi.jobs.secrets) and `--resume RUN` to finish a cut-short run
-- from the journal without changing any account twice.
-- @module proxyapi.jobs.rotate

local common = require "proxyapi.jobs.common"
local errors = require "proxyapi.errors"
local output = require "proxyapi.output"
local resume = require "proxyapi.jobs.resume"
local secrets = require "proxyapi.jobs.secrets"

local ipairs, pairs, tostring = ipairs, pairs, tostring
local format = string.format

local NAME = "rotate-passwords"

local rotate = {
  name = "rotate",
  script = "rotate-passwords",
  summary = "New random passwords for all (or matching) accounts.",
  all_profiles = false, -- it changes (or hands out) one profile at a time
}

local EPILOG = [[
Passwords are letters and digits from /dev/urandom, set concurrently. Every
row (username,password,outcome) is written before the request that sets it:
with --output, to FILE (mode 0600, rewritten atomically as outcomes land:
pending, applied, failed, unknown, not-sent); else to stdout as outcomes
land. The journal holds every intent too, so an interrupted or killed run
loses no password: --resume RUN finishes it (applied changes are kept; an
unknown or failed one is re-sent with the same password unless the account
already has it; accounts the run never reached get a new one; nothing is
changed twice). Exit status: 0 all changed, 3 some failed or were left,
4 the API refused, 5 network, 130/143 interrupted.]]

function rotate.define(cmd)
  cmd:option("--match", "Only accounts whose username matches GLOB (* and ?).")
    :argname("GLOB")
  cmd:option("--length", "Length of the new passwords (default: 16).")
    :argname("N"):convert(common.integer(8, 64, "--length"))
  cmd:option("--output", "Write the rows to FILE (mode 0600) instead of stdout.")
    :argname("FILE")
  cmd:option("--resume", "Finish the cut-short rotation of journal run RUN.")
    :argname("RUN"):convert(common.integer(1, nil, "--resume"))
  common.max_changes(cmd)
  cmd:epilog(EPILOG)
end

--- The rows: one per account to rotate, with `send` for those that need
-- a request; `left` counts those held back by --max-changes.
local function plan(args, accounts, prior, say)
  local glob = args.match
  local selects = true
  if prior then
    -- the accounts the cut-short run meant: its own --match, and none
    -- beyond its journal entries when something else started it
    selects = resume.started_by(prior, rotate)
    glob = resume.option(prior.command, "--match")
    if not selects then
      say("journal run %d was not started by %s: only the accounts it changed are finished", prior.runs[1],
        NAME)
    end
  end
  local pattern = glob and common.glob(glob)
  local length = args.length or 16
  local rows, seen, sends, left = {}, {}, 0, 0
  local max = args.max_changes
  for _, account in ipairs(accounts) do
    local name = account.username
    seen[name] = true
    local before = prior and prior.passwords[name]
    if before and prior.changed_since[name] then
      say("%s: changed since by journal run %d: left alone", name, prior.changed_since[name])
    elseif before then
      local row = { username = name, password = before.password, before = before.outcome }
      if before.outcome == "applied" or account.password == before.password then
        row.outcome, row.done = "applied", true
      elseif max and sends >= max then
        row.outcome, left = "not-sent", left + 1
      else
        row.outcome, row.send, sends = "pending", true, sends + 1
      end
      rows[#rows + 1] = row
    elseif selects and (not pattern or name:find(pattern)) then
      if max and sends >= max then
        left = left + 1
      else
        rows[#rows + 1] = { username = name, password = common.password(length), outcome = "pending", send = true }
        sends = sends + 1
      end
    end
  end
  for name in pairs(prior and prior.passwords or {}) do
    if not seen[name] then
      say("%s: in journal run %d but no longer an account: skipped", name, prior.passwords[name].run)
    end
  end
  return rows, left, glob
end

local function summary(ctx, rows, left, resumed)
  local counts = common.count(rows)
  local done, run = 0, common.run_id(ctx)
  for _, row in ipairs(rows) do
    if row.done then done = done + 1 end
  end
  local text
  if ctx.dry_run then
    text = format("would rotate %d", counts["dry-run"])
  else
    text = format("%d rotated", counts.applied - done)
    local rest = common.phrase(counts, { { "failed", "failed" }, { "unknown", "unknown" },
                                         { "not-sent", "not sent" } })
    text = text .. (rest ~= "" and ", " .. rest or "")
  end
  if done > 0 then
    text = text .. format(", %d already applied in journal run %s", done, table.concat(resumed, ", "))
  end
  if left > 0 then
    text = text .. format(", %d left by --max-changes", left)
  end
  if run then
    text = text .. format(" (journal run %d)", run)
    if counts.failed + counts.unknown + counts["not-sent"] + left > 0 then
      text = text .. format("; finish with --resume %d", run)
    end
  end
  return text, counts
end

function rotate.run(ctx, args)
  local say = common.say(ctx, NAME)
  common.dry_run_header(ctx, NAME)
  if args.resume and args.match then
    say("--resume takes the run's own --match; leave --match out")
    return 2
  end
  local started, status = secrets.begin(ctx, args, NAME, say)
  if not started then
    return status
  end
  local prior, sink = started.prior, started.sink
  local rows, left = plan(args, started.accounts, prior, say)
  if #rows == 0 and left == 0 then
    say("no account matches")
    return 0
  end
  local ok, werr = sink:plan(rows)
  if not ok then
    say("cannot write %s: %s; nothing was changed", args.output, werr)
    return 2
  end
  local to_send = {}
  for _, row in ipairs(rows) do
    if row.send then
      to_send[#to_send + 1] = row
    else
      sink:settled(row)
    end
  end
  local results, errs = ctx.api:map(to_send, function(client, row)
    row.sent = true
    local done, cerr = client:change_password(row.username, row.password)
    row.outcome, row.error = common.outcome(done, cerr, ctx.dry_run), cerr
    sink:landed(row)
    return done, cerr
  end)
  local paths = ctx.api:settings().paths
  common.reconcile(ctx, rows, { [paths.change_password] = true })
  local fine, ferr = sink:finish()
  if not fine then
    say("cannot write %s: %s (the journal holds every password)", args.output, ferr)
  end
  for _, row in ipairs(to_send) do
    if row.error and row.outcome ~= "applied" and row.outcome ~= "not-sent" then
      ctx.err:write(row.username, ": ", tostring(row.error), "\n")
    end
  end
  if ctx.format == "json" then
    ctx.out:write(output.json { dry_run = ctx.dry_run, run = common.run_id(ctx), resumed = prior and prior.runs,
                                output = sink:to_file() and args.output or nil, accounts = sink:listed(rows),
                                left = left }, "\n")
  end
  local text = summary(ctx, rows, left, prior and prior.runs or {})
  say("%s", text)
  status = errors.exit_code(results, errs)
  if status == 0 and (left > 0 or not fine) then
    status = 3
  end
  return status
end

return rotate
