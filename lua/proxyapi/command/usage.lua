--- `proxyapi usage`: the generated usage command, with a window in days
-- (`--days N`) or dates (`--from D --to D`), totals per account
-- (`--per-account`) or per remark (`--by-remark`), and the stored history
-- instead of the API (`--history`, from proxyapi.history). A `--user`
-- that names no account is a usage error (exit 2), not a page of zeros.
-- @module proxyapi.command.usage

local errors = require "proxyapi.errors"
local output = require "proxyapi.output"
local generate = require "proxyapi.command.generate"
local names = require "proxyapi.command.names"

local ipairs, pairs, tostring, type, require = ipairs, pairs, tostring, type, require
local format, match = string.format, string.match
local sort = table.sort
local os_time, os_date = os.time, os.date
local tointeger, tonumber, max = math.tointeger, tonumber, math.max

local usage_cmd = {}

local usage = generate.usage
local BAR_WIDTH = 40

--- Adds --days, --per-account, --by-remark and --history.
-- @param cmd
-- @tparam table spec
-- @usage usage_cmd.define(cmd, spec)
function usage_cmd.define(cmd, spec) -- luacheck: no unused args
  cmd:option("--days", "the N days up to today (default 7)"):argname("N")
  cmd:flag("--per-account", "totals per account")
  cmd:flag("--by-remark", "totals per remark (accounts grouped by their remark)")
  cmd:flag("--history", "from the stored history (proxyapi history sync), not the API")
end

-- The fields of the window and of the account, from the endpoint's entry.
local function fields_of(member)
  local ep = member.ep
  local window = ep.ordered or {}
  local user
  for _, a in ipairs(ep.args or {}) do
    if a.field and a.rule == "name" then
      user = a
    end
  end
  local function option(field)
    for _, o in ipairs(member.options) do
      if o.arg.field == field then
        return o
      end
    end
  end
  return option(window[1]), option(window[2]), user and option(user.field)
end

local function day_text(text, label)
  local day = text and match(text, "^(%d%d%d%d%-%d%d%-%d%d)")
  if text ~= nil and day == nil then
    usage(label .. ": a date YYYY-MM-DD expected, got " .. text)
  end
  return day
end

-- The window as days (history) and times (API).
local function window(parsed, from_o, to_o)
  local days = parsed.days and tointeger(tonumber(parsed.days))
  if parsed.days and (days == nil or days < 1) then
    usage("--days: a positive integer expected, got " .. tostring(parsed.days))
  end
  local from = from_o and day_text(parsed[from_o.target], from_o.label)
  local to = to_o and day_text(parsed[to_o.target], to_o.label)
  if days and (from or to) then
    usage("--days or --from/--to, not both")
  elseif to and not from then
    usage("--to needs --from")
  end
  local now = os_time()
  if not from then
    from = os_date("%Y-%m-%d", now - ((days or 7) - 1) * 86400)
  end
  to = to or os_date("%Y-%m-%d", now)
  if from > to then
    usage("--from is after --to")
  end
  return from, to
end

local function host_of(api) -- the history loads LuaSQL: only when it is used
  return require("proxyapi.history").base_host(api)
end

local function total(rows)
  local sum, most = 0, 0
  for _, r in ipairs(rows) do
    sum, most = sum + (r.flow or 0), max(most, r.flow or 0)
  end
  return sum, most
end

local function by_remark(rows)
  local groups, list = {}, {}
  for _, r in ipairs(rows) do
    local key = r.remark ~= nil and r.remark ~= "" and r.remark or "(none)"
    local g = groups[key]
    if g == nil then
      g = { remark = key, accounts = 0, flow = 0 }
      groups[key], list[#list + 1] = g, g
    end
    g.accounts, g.flow = g.accounts + 1, g.flow + (r.flow or 0)
  end
  return list
end

local function ranked(rows, key)
  sort(rows, function(a, b)
    if (a.flow or 0) ~= (b.flow or 0) then
      return (a.flow or 0) > (b.flow or 0)
    end
    return tostring(a[key]) < tostring(b[key])
  end)
  return rows
end

-- Per-account totals from the API: one usage read per account, concurrently.
local function per_account(ctx, member, accounts, args_of)
  local results, errs = ctx.api:map(accounts, function(api, a)
    return generate.call(api, member, args_of(a.username))
  end)
  local rows = {}
  for i, a in ipairs(accounts) do
    local sum = 0
    for _, d in ipairs(results[i] or {}) do
      sum = sum + (d.flow or 0)
    end
    rows[i] = { username = a.username, remark = a.remark, flow = results[i] and sum or nil,
                error = errs[i] and tostring(errs[i]) or nil }
  end
  return rows, errors.exit_code(results, errs)
end

local function history_rows(ctx, q, want_accounts)
  local history = require "proxyapi.history"
  local path, perr = history.path_of(ctx.settings and ctx.settings.history) -- the profile's, as sync writes it
  if path == nil then
    usage(perr)
  end
  local f = io.open(path, "rb")
  if f == nil then
    usage("no history at " .. path .. ": run `proxyapi history sync` first")
  end
  f:close()
  local h, err = history.open(path, { readonly = true })
  if h == nil then
    usage("history: " .. tostring(err))
  end
  local rows, rerr = h:usage(q)
  local accounts = want_accounts and h:accounts { base_host = q.base_host } or nil
  h:close()
  if rows == nil then
    usage("history: " .. tostring(rerr))
  end
  return rows, accounts
end

--- Runs `usage`; returns its report and exit status, or nil and an error.
-- @tparam table ctx
-- @tparam table parsed
-- @tparam table spec
-- @treturn table the report
-- @treturn integer the status
-- @usage local report, status = usage_cmd.run(ctx, parsed, spec)
function usage_cmd.run(ctx, parsed, spec)
  local member = spec.members[1]
  local from_o, to_o, user_o = fields_of(member)
  local from, to = window(parsed, from_o, to_o)
  local user = user_o and parsed[user_o.target]
  local grouped = parsed.per_account or parsed.by_remark
  local rows, status, list
  status = 0
  if parsed.history then
    local accounts
    rows, accounts = history_rows(ctx, { base_host = host_of(ctx.api), from = from, to = to, username = user,
                                          per_account = grouped }, grouped or user)
    if user then
      local known = false
      for _, a in ipairs(accounts) do
        known = known or a.username == user
      end
      if not known then
        usage("--user: the history knows no account named " .. user)
      end
    end
    if grouped then
      local remark, sums, order = {}, {}, {}
      for _, a in ipairs(accounts) do
        remark[a.username] = a.remark
      end
      for _, r in ipairs(rows) do
        if sums[r.username] == nil then
          sums[r.username], order[#order + 1] = 0, r.username
        end
        sums[r.username] = sums[r.username] + (r.flow or 0)
      end
      rows = {}
      for i, name in ipairs(order) do
        rows[i] = { username = name, remark = remark[name], flow = sums[name] }
      end
    end
  else
    if grouped or user then
      local err
      list, err = ctx.api[names.roles.accounts](ctx.api)
      if list == nil then
        return nil, err
      end
      if user then
        local only
        for _, a in ipairs(list) do
          only = only or (a.username == user and a or nil)
        end
        if only == nil then
          usage("--user: no account named " .. user)
        end
        list = { only }
      end
    end
    local function args_of(username)
      local given = {}
      given[from_o.arg.wire] = from .. " 00:00:00"
      given[to_o.arg.wire] = to .. (to == os_date("%Y-%m-%d") and os_date(" %H:%M:%S") or " 23:59:59")
      if user_o then
        given[user_o.arg.wire] = username
      end
      return generate.arguments(member, parsed, given)
    end
    if grouped then
      rows, status = per_account(ctx, member, list, args_of)
    else
      local result, err = generate.call(ctx.api, member, args_of(user))
      if result == nil then
        return nil, err
      end
      rows = {}
      for i, d in ipairs(result) do
        rows[i] = { day = d.day, flow = d.flow }
      end
    end
  end
  if parsed.by_remark then
    rows = ranked(by_remark(rows), "remark")
  elseif grouped then
    rows = ranked(rows, "username")
  end
  local sum, most = total(rows)
  local first = parsed.by_remark and "remark" or grouped and "username" or "day"
  local columns = { { key = first } }
  if parsed.by_remark then
    columns[2] = { key = "accounts", right = true }
  elseif grouped then
    columns[2] = { key = "remark" }
  end
  columns[#columns + 1] = { key = "flow", title = "used", right = true, format = function(v)
    return type(v) == "number" and output.human_kb(v) or ""
  end }
  columns[#columns + 1] = { key = "bar", title = "", format = function(_, row)
    return type(row.flow) == "number" and output.bar(row.flow, most, BAR_WIDTH) or tostring(row.error or "")
  end }
  for _, r in pairs(rows) do
    r.flow = r.flow and tointeger(r.flow) or r.flow
  end
  return {
    rows = rows, columns = columns,
    json = { from = from, to = to, total_kb = sum, source = parsed.history and "history" or "api", user = user },
    footer = { format("total: %s, %s to %s", output.human_kb(sum), from, to) },
  }, status
end

return usage_cmd
