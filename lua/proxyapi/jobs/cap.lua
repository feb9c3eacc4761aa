--- cap (scripts/cap-traffic.lua): the accounts whose traffic reached a
-- threshold are disabled, or get a traffic limit; a table of what was
-- done (or would be) and a summary.
-- @module proxyapi.jobs.cap

local common = require "proxyapi.jobs.common"
local errors = require "proxyapi.errors"
local output = require "proxyapi.output"

local ipairs, tostring = ipairs, tostring
local format, concat = string.format, table.concat

local NAME = "cap-traffic"
local KB_PER_GB = 1024 * 1024
local DISABLED = 0

local cap = {
  name = "cap",
  script = "cap-traffic",
  summary = "Disable, or cap, the accounts whose traffic reached a threshold.",
  all_profiles = false, -- it changes (or hands out) one profile at a time
}

local EPILOG = [[
Accounts at or over --threshold GB of used traffic are disabled (--action
disable, the default; those already disabled are skipped) or get a traffic
limit of --limit GB (--action cap; those already capped at or below it are
skipped). Prints a table of the affected accounts and a summary line. Every
change goes through the journal. Exit status: 0 all done, 3 some failed or
were left by --max-changes, 4 the API refused, 5 network, 130/143
interrupted. A second run finishes a cut-short one (it skips what is done).]]

function cap.define(cmd)
  cmd:option("--threshold", "Traffic threshold in GB (required).")
    :argname("GB"):convert(common.number(0, "--threshold")):count(1)
  cmd:option("--action", "disable or cap (default: disable).")
    :argname("ACTION"):choices { "disable", "cap" }
  cmd:option("--limit", "The traffic limit in GB, for --action cap.")
    :argname("GB"):convert(common.integer(1, 102400, "--limit"))
  common.max_changes(cmd)
  cmd:epilog(EPILOG)
end

local function usage(ctx, msg)
  ctx.err:write(NAME, ": ", msg, "\n")
  return 2
end

-- The accounts over the threshold that need the action, and how many were skipped.
local function select_over(accounts, args)
  local over, skipped = {}, 0
  for _, account in ipairs(accounts) do
    if account.usage_flow >= args.threshold * KB_PER_GB then
      local done
      if args.action == "disable" then
        done = account.status == DISABLED
      else
        done = account.limit_flow ~= 0 and account.limit_flow <= args.limit
      end
      if done then
        skipped = skipped + 1
      else
        over[#over + 1] = account
      end
    end
  end
  return over, skipped
end

-- Applies the action to the rows; returns the exit status of the calls.
local function apply(ctx, args, rows)
  if #rows == 0 then
    return 0
  end
  if args.action == "disable" then
    local names = {}
    for i, row in ipairs(rows) do
      names[i], row.sent = row.username, true
    end
    local ok, err = ctx.api:disable_accounts(names)
    local outcomes = common.batch_outcomes(names, ok, err, ctx.dry_run)
    for _, row in ipairs(rows) do
      row.outcome = outcomes[row.username]
      row.error = row.outcome ~= "applied" and row.outcome ~= "dry-run" and err or nil
    end
    return errors.exit_code(ok, err)
  end
  local results, errs = ctx.api:map(rows, function(client, row)
    row.sent = true
    local ok, err = client:change_limit(row.username, args.limit)
    row.outcome, row.error = common.outcome(ok, err, ctx.dry_run), err
    return ok, err
  end)
  return errors.exit_code(results, errs)
end

local function action_text(row, verb, past)
  local outcome = row.outcome
  if outcome == "applied" then
    return past
  elseif outcome == "dry-run" then
    return "would " .. verb
  elseif outcome == "failed" then
    return "FAILED: " .. verb
  elseif outcome == "unknown" then
    return "UNKNOWN: " .. verb
  elseif outcome == "left" then
    return "left (--max-changes)"
  end
  return "not sent"
end

function cap.run(ctx, args)
  common.dry_run_header(ctx, NAME)
  if args.threshold == nil then
    return usage(ctx, "--threshold GB is required")
  end
  args.action = args.action or "disable"
  if args.action == "cap" and args.limit == nil then
    return usage(ctx, "--action cap needs --limit GB")
  elseif args.action ~= "cap" and args.limit ~= nil then
    return usage(ctx, "--limit is only for --action cap")
  end
  local accounts, err = ctx.api:list_accounts()
  if not accounts then
    return common.fail(ctx, NAME, err)
  end
  local over, skipped = select_over(accounts, args)
  local rows, to_change = {}, {}
  for i, account in ipairs(over) do
    rows[i] = { username = account.username, usage_flow = account.usage_flow, limit_flow = account.limit_flow,
                outcome = "left" }
    if args.max_changes == nil or i <= args.max_changes then
      to_change[#to_change + 1] = rows[i]
    end
  end
  local status = apply(ctx, args, to_change)
  local paths = ctx.api:settings().paths
  common.reconcile(ctx, rows, { [paths.disable_accounts] = true, [paths.change_limit] = true })

  local verb = args.action == "disable" and "disable" or format("cap at %d GB", args.limit)
  local past = args.action == "disable" and "disabled" or format("capped at %d GB", args.limit)
  for _, row in ipairs(rows) do
    row.action = action_text(row, verb, past)
  end
  local counts = common.count(rows)
  local changed = ctx.dry_run and counts["dry-run"] or counts.applied
  local at = args.action == "cap" and format(" at %d GB", args.limit) or ""
  local done_text = ctx.dry_run and format("would %s %d%s", args.action, changed, at)
    or format("%d %s", changed, past)
  local rest = common.phrase(counts, { { "unknown", "unknown" }, { "not-sent", "not sent" },
                                       { "left", "left by --max-changes" } })
  local line = format("%d account(s) at or over %g GB: %s, %d skipped (already %s), %d failed%s", #over + skipped,
    args.threshold, done_text, skipped, args.action == "disable" and "disabled" or "capped", counts.failed,
    rest ~= "" and ", " .. rest or "")
  local run = common.run_id(ctx)
  if ctx.format == "json" then
    local list = {}
    for i, row in ipairs(rows) do
      list[i] = { username = row.username, usage_kb = row.usage_flow, limit_gb = row.limit_flow,
                  outcome = row.outcome }
    end
    ctx.out:write(output.json { dry_run = ctx.dry_run, run = run, threshold_gb = args.threshold,
                                action = args.action, limit_gb = args.limit, accounts = output.array(list),
                                skipped = skipped, summary = line }, "\n")
  elseif #rows > 0 or ctx.format == "csv" then
    output.emit(ctx.format, {
      { key = "username" },
      { key = "usage_flow", title = "used", right = true, format = output.human_kb },
      { key = "limit_flow", title = "limit", right = true,
        format = function(gb) return gb == 0 and "unlimited" or gb .. " GB" end },
      { key = "action" },
    }, rows, nil, ctx.out)
    if ctx.format == "table" then
      ctx.out:write("\n")
    end
  end
  if ctx.format == "table" then
    ctx.out:write(line, run and format(" (journal run %d)", run) or "", "\n")
  else
    ctx.err:write(NAME, ": ", line, "\n")
  end

  local failed = {}
  for _, row in ipairs(rows) do
    if row.outcome == "failed" or row.outcome == "unknown" then
      failed[#failed + 1] = row.username
    end
  end
  if #failed > 0 then
    local first
    for _, row in ipairs(rows) do
      first = first or row.error
    end
    ctx.err:write(format("%s: failed: %s: %s\n", NAME, concat(failed, ", "), tostring(first)))
  end
  if status == 0 and counts.left > 0 then
    status = 3
  end
  return status
end

return cap
