-- luacheck: read globals api proxyapi
-- The README's example, run by `make demo` through pxlua against the fake:
-- list the accounts, disable those whose traffic crossed a threshold, and
-- pull ten fresh IPs as proxy URLs.
local threshold_gb = tonumber(arg and arg[1]) or 20

local accounts = assert(api:list_accounts())
print(string.format("%-12s %-8s %10s  %s", "account", "status", "used GB", "remark"))
local over = {}
for _, a in ipairs(accounts) do
  local used_gb = a.usage_flow / 1024 / 1024 -- usage_flow is in KB
  print(string.format("%-12s %-8s %10.2f  %s", a.username, a.status == 1 and "enabled" or "disabled",
    used_gb, a.remark or ""))
  if a.status == proxyapi.account_status.ENABLED and used_gb > threshold_gb then
    over[#over + 1] = a.username
  end
end

if #over > 0 then
  assert(api:disable_accounts(over))
  print(string.format("\ndisabled %d account(s) over %g GB: %s", #over, threshold_gb, table.concat(over, ", ")))
else
  print(string.format("\nno enabled account is over %g GB", threshold_gb))
end

local user = accounts[1]
print("\nten fresh US IPs:")
for _, addr in ipairs(assert(api:extract_ips { cc = "US", num = 10 })) do
  print(proxyapi.proxy_url(addr, { username = user.username, password = user.password }))
end
