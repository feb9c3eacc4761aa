--- demo (scripts/demo.lua): the README's example against any API (`make
-- demo` runs it on the fake): list the accounts, disable the enabled ones
-- whose traffic crossed a threshold, and pull ten fresh IPs as proxy URLs.
-- @module proxyapi.jobs.demo

local common = require "proxyapi.jobs.common"
local errors = require "proxyapi.errors"

local ipairs = ipairs
local format, concat = string.format, table.concat

local NAME = "demo"

local demo = {
  name = "demo",
  script = "demo",
  summary = "The README's example: list accounts, disable those over a threshold, pull ten IPs.",
}

function demo.define(cmd)
  cmd:argument("threshold", "Traffic threshold in GB (default: 20).")
    :argname("GB"):args("?"):convert(common.number(0, "threshold"))
  cmd:epilog("Run it on the fake first: pxlua --fake demo.lua; pxlua --dry-run shows what it would change.")
end

function demo.run(ctx, args)
  local out, api = ctx.out, ctx.api
  local threshold_gb = args.threshold or 20
  common.dry_run_header(ctx, NAME)
  local accounts, err = api:list_accounts()
  if not accounts then
    return common.fail(ctx, NAME, err)
  end
  out:write(format("%-12s %-8s %10s  %s\n", "account", "status", "used GB", "remark"))
  local over = {}
  for _, a in ipairs(accounts) do
    local used_gb = a.usage_flow / 1024 / 1024 -- usage_flow is in KB
    out:write(format("%-12s %-8s %10.2f  %s\n", a.username, a.status == 1 and "enabled" or "disabled", used_gb,
      a.remark or ""))
    if a.status == 1 and used_gb > threshold_gb then
      over[#over + 1] = a.username
    end
  end
  local status = 0
  if #over > 0 then
    local ok, derr = api:disable_accounts(over)
    if not ok then
      return common.fail(ctx, NAME, derr)
    end
    out:write(format("\n%s %d account(s) over %g GB: %s\n", ctx.dry_run and "would disable" or "disabled", #over,
      threshold_gb, concat(over, ", ")))
  else
    out:write(format("\nno enabled account is over %g GB\n", threshold_gb))
  end
  local user = accounts[1]
  local addrs, xerr = api:extract_ips { cc = "US", num = 10 }
  if not addrs then
    return common.fail(ctx, NAME, xerr)
  end
  if ctx.dry_run then
    out:write("\n(dry run: no IPs extracted)\n")
    return status
  end
  out:write("\nten fresh US IPs:\n")
  for _, addr in ipairs(addrs) do
    out:write(require("proxyapi").proxy_url(addr, user and { username = user.username, password = user.password }
      or nil), "\n")
  end
  return errors.exit_code(true)
end

return demo
