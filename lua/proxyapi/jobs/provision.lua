--- provision (scripts/provision.lua): makes the accounts of a CSV file
-- (username,password,remark,limit) exist as listed, idempotently; bad rows
-- are reported by line. New passwords (the file's, or random ones for an
-- empty password) are written ahead like rotate's (proxyapi.jobs.secrets),
-- and `--resume RUN` finishes a cut-short run from the journal.
-- @module proxyapi.jobs.provision

local common = require "proxyapi.jobs.common"
local errors = require "proxyapi.errors"
local output = require "proxyapi.output"
local plan = require "proxyapi.jobs.provision_plan"
local secrets = require "proxyapi.jobs.secrets"

local ipairs, pairs, tostring = ipairs, pairs, tostring
local format, gsub = string.format, string.gsub
local open = io.open

local NAME = "provision"

local provision = {
  name = "provision",
  script = "provision",
  summary = "Accounts from a CSV of username,password,remark,limit, idempotently.",
  all_profiles = false, -- it changes (or hands out) one profile at a time
}

local EPILOG = [[
FILE ('-' reads stdin) holds username,password,remark,limit rows (the header
row is optional; remark and limit may be empty or left out: remark "",
limit 0 = unlimited, in GB otherwise). Missing accounts are added (one
add_accounts call per distinct remark, then change_limit where the limit is
not 0); existing ones get change_password / change_remark / change_limit
only where a value differs, so a second run sends nothing. An empty password
means a random one for a new account and no change for an existing one.
Accounts not in FILE are left alone. Bad rows are reported as FILE:LINE: ...
and skipped; the others still go through. The passwords this run sets are
written ahead of the requests, as rotate-passwords does (--output FILE, mode
0600; else stdout). --resume RUN finishes a cut-short run: an add whose
outcome is unknown is looked up first (present: applied; absent: sent again
with the same password). Exit status: 0, 2 unreadable file or no good row,
3 bad rows or some changes failed, 4 the API refused, 5 network, 130/143
interrupted.]]

function provision.define(cmd)
  cmd:argument("file", "The CSV file, or - for stdin.")
    :argname("FILE")
  cmd:option("--output", "Write the new credentials to FILE (mode 0600) instead of stdout.")
    :argname("FILE")
  cmd:option("--resume", "Finish the cut-short provisioning of journal run RUN.")
    :argname("RUN"):convert(common.integer(1, nil, "--resume"))
  cmd:option("--length", "Length of generated passwords (default: 16).")
    :argname("N"):convert(common.integer(8, 64, "--length"))
  common.max_changes(cmd)
  cmd:epilog(EPILOG)
end

local function read_text(ctx, path)
  if path == "-" then
    return ctx.stdin:read("a")
  end
  local file, err = open(path, "rb")
  if not file then
    return nil, err
  end
  local text = file:read("a")
  file:close()
  return text
end

-- Runs one phase of jobs; failures[username] = the first error, and the
-- calls' results and errors join `all` (for the exit status).
local function run_phase(ctx, list, sink, failures, all)
  if #list == 0 then
    return
  end
  local dry = ctx.dry_run
  local results, errs = ctx.api:map(list, function(client, job)
    if job.call == "add" then
      local accounts, names = {}, {}
      for i, row in ipairs(job.rows) do
        accounts[i], names[i] = { username = row.username, password = row.new_password }, row.username
        row.credential.sent = true
      end
      local ok, err = client:add_accounts(accounts, { remark = job.remark ~= "" and job.remark or nil })
      local outcomes = common.batch_outcomes(names, ok, err, dry)
      for _, row in ipairs(job.rows) do
        local outcome = outcomes[row.username]
        row.credential.outcome = outcome
        if outcome ~= "applied" and outcome ~= "dry-run" then
          failures[row.username] = failures[row.username] or err
        end
        sink:landed(row.credential)
      end
      return ok, err
    end
    local row = job.row
    local cred = job.call == "change_password" and row.credential
    if cred then
      cred.sent = true
    end
    local ok, err = client[job.call](client, row.username, job.value)
    if cred then
      cred.outcome = common.outcome(ok, err, dry)
      sink:landed(cred)
    end
    if not ok then
      failures[row.username] = failures[row.username] or err
    end
    return ok, err
  end)
  for i = 1, results.n do
    all.n = all.n + 1
    all.results[all.n], all.errs[all.n] = results[i], errs[i]
  end
end

local function summary(ctx, p, failures, bad)
  local added, updated, failed, not_sent = 0, 0, 0, 0
  for _, row in ipairs(p.added) do
    added = added + (failures[row.username] and 0 or 1)
  end
  for _, row in ipairs(p.changed) do
    updated = updated + (failures[row.username] and 0 or 1)
  end
  for _, err in pairs(failures) do
    if errors.is_error(err) and err.attempts == 0 then
      not_sent = not_sent + 1
    else
      failed = failed + 1
    end
  end
  local text = format(ctx.dry_run and "would add %d, would update %d, unchanged %d, bad rows %d"
    or "added %d, updated %d, unchanged %d, bad rows %d", added, updated, p.unchanged, bad)
  if failed > 0 then text = text .. ", failed " .. failed end
  if not_sent > 0 then text = text .. ", not sent " .. not_sent end
  if p.left > 0 then text = text .. format(", %d change(s) left by --max-changes", p.left) end
  local run = common.run_id(ctx)
  if run then
    text = text .. format(" (journal run %d)", run)
    if failed + not_sent + p.left > 0 then
      text = text .. format("; finish with --resume %d", run)
    end
  end
  return text, { added = added, updated = updated, unchanged = p.unchanged, bad_rows = bad, failed = failed,
                 not_sent = not_sent, left = p.left, run = run }
end

function provision.run(ctx, args)
  local say = common.say(ctx, NAME)
  common.dry_run_header(ctx, NAME)
  local path = args.file
  local text, rerr = read_text(ctx, path)
  if text == nil then
    say("cannot open %s", tostring(rerr))
    return 2
  end
  local rows, bad = plan.read(text)
  if rows == nil then
    ctx.err:write(format("%s:%s\n", path, (gsub(bad, "^line ", ""))))
    return 2
  end
  for _, b in ipairs(bad) do
    ctx.err:write(format("%s:%d: %s\n", path, b.line, b.problem))
  end
  local started, status = secrets.begin(ctx, args, NAME, say)
  if not started then
    return status
  end
  local prior, sink, accounts = started.prior, started.sink, started.accounts
  local p = plan.make(rows, accounts, prior, { max_changes = args.max_changes, length = args.length or 16 })
  local ok, werr = sink:plan(p.credentials)
  if not ok then
    say("cannot write %s: %s; nothing was changed", args.output, werr)
    return 2
  end
  for _, cred in ipairs(p.credentials) do
    if cred.done then sink:settled(cred) end
  end
  local failures, all = {}, { n = 0, results = {}, errs = {} }
  run_phase(ctx, p.jobs, sink, failures, all)
  local limits = {}
  for _, job in ipairs(p.limits) do
    if not failures[job.row.username] then limits[#limits + 1] = job end
  end
  run_phase(ctx, limits, sink, failures, all)
  local paths = ctx.api:settings().paths
  common.reconcile(ctx, p.credentials, { [paths.add_accounts] = true, [paths.change_password] = true })
  local fine, ferr = sink:finish()
  if not fine then
    say("cannot write %s: %s (the journal holds every password)", args.output, ferr)
  end
  for _, row in ipairs(rows) do
    local e = failures[row.username]
    if e and not (errors.is_error(e) and e.attempts == 0) then
      ctx.err:write(row.username, ": ", tostring(e), "\n")
    end
  end
  local line, counts = summary(ctx, p, failures, #bad)
  if ctx.format == "json" then
    counts.dry_run, counts.credentials, counts.bad = ctx.dry_run, sink:listed(p.credentials), output.array(bad)
    ctx.out:write(output.json(counts), "\n")
  end
  say("%s", line)
  status = all.n > 0 and errors.exit_code({ n = all.n }, all.errs) or 0
  if #bad > 0 then
    if #rows == 0 then
      return 2
    end
    status = status == 0 and 3 or status
  end
  if status == 0 and (p.left > 0 or not fine) then
    status = 3
  end
  return status
end

return provision
