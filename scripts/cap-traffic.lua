-- luacheck: read globals api proxyapi
-- Finds the accounts whose traffic reached a threshold and disables them,
-- or caps their traffic limit; prints what it did (or would do).
local cli = require "proxyapi.cli"

local KB_PER_GB = 1024 * 1024

local spec = {
  name = "cap-traffic",
  usage = "pxlua [--dry-run] cap-traffic.lua --threshold GB [--action disable|cap] [--limit GB]",
  description = "Finds the accounts whose used traffic is at or over --threshold GB and\n"
    .. "disables them (--action disable; accounts already disabled are skipped) or\n"
    .. "sets their traffic limit to --limit GB (--action cap; accounts already capped\n"
    .. "at or below that limit are skipped). Prints a table of the affected accounts\n"
    .. "and a summary; exits 1 when a change failed. Under pxlua --dry-run (or with\n"
    .. "--dry-run) nothing is changed and the output says what would be done.",
  options = {
    { name = "--threshold", value = "GB", type = "number", min = 0, required = true,
      help = "traffic threshold in GB" },
    { name = "--action", value = "ACTION", type = "string", choices = { "disable", "cap" }, default = "disable",
      help = "disable or cap" },
    { name = "--limit", value = "GB", type = "integer", min = 1, max = 102400,
      help = "the cap in GB, for --action cap" },
    { name = "--dry-run", type = "flag", help = "change nothing; show what would be done" },
  },
  max_args = 0,
}
local opts = cli.parse(arg, spec)

if opts.action == "cap" and opts.limit == nil then cli.usage_error(spec, "--action cap needs --limit GB") end
if opts.action ~= "cap" and opts.limit ~= nil then cli.usage_error(spec, "--limit is only for --action cap") end

-- pxlua's own --dry-run (given before the script) makes every POST a no-op.
local dry_run = opts.dry_run or api:settings().dry_run

local accounts, err = api:list_accounts()
if not accounts then cli.die("cap-traffic: " .. tostring(err)) end

local DISABLED = proxyapi.account_status.DISABLED
local over, skipped = {}, 0
for _, account in ipairs(accounts) do
  if account.usage_flow >= opts.threshold * KB_PER_GB then
    local done
    if opts.action == "disable" then
      done = account.status == DISABLED
    else
      done = account.limit_flow ~= 0 and account.limit_flow <= opts.limit
    end
    if done then
      skipped = skipped + 1
    else
      over[#over + 1] = account
    end
  end
end

-- Apply the action; `failed` maps usernames to their error.
local failed = {}
if #over > 0 and not opts.dry_run then
  if opts.action == "disable" then
    local names = {}
    for i, account in ipairs(over) do names[i] = account.username end
    local ok, disable_err = api:disable_accounts(names)
    if not ok then
      for _, name in ipairs(disable_err.failed or names) do failed[name] = disable_err end
    end
  else
    local _, errs = api:map(over, function(client, account)
      return client:change_limit(account.username, opts.limit)
    end)
    for i, account in ipairs(over) do failed[account.username] = errs[i] end
  end
end

local verb = opts.action == "disable" and "disable" or ("cap at " .. opts.limit .. " GB")
local past = opts.action == "disable" and "disabled" or ("capped at " .. opts.limit .. " GB")
local failed_names = {}
for _, account in ipairs(over) do
  if failed[account.username] then
    account.action = "FAILED: " .. verb
    failed_names[#failed_names + 1] = account.username
  else
    account.action = dry_run and "would " .. verb or past
  end
end

if #over > 0 then
  io.stdout:write(cli.table({
    { key = "username" },
    { key = "usage_flow", title = "used", right = true, format = cli.human_kb },
    { key = "limit_flow", title = "limit", right = true,
      format = function(gb) return gb == 0 and "unlimited" or gb .. " GB" end },
    { key = "action" },
  }, over), "\n")
end
io.stdout:write(string.format("%d account(s) at or over %g GB: %d %s%s, %d skipped (already %s), %d failed\n",
  #over + skipped, opts.threshold, #over - #failed_names, dry_run and "to " .. verb or past,
  dry_run and " (dry run: nothing changed)" or "", skipped,
  opts.action == "disable" and "disabled" or "capped", #failed_names))

if #failed_names > 0 then
  local first = failed[failed_names[1]]
  cli.die(string.format("cap-traffic: failed: %s: %s", table.concat(failed_names, ", "), tostring(first)))
end
