--- One watch round: a profile's rules over its accounts and packages,
-- decided against the history's fired-state, and acted on.
--
-- At least once, and at most once per period: every firing of a round is
-- stored (with its id) before anything is done about it; each channel of
-- a firing (`disable`, `cap`, `webhook`, `command`) is marked delivered
-- only after it succeeded; and every round first retries the channels of
-- earlier firings that are not marked (same id, same body). A process
-- killed at any point leaves firings that are either delivered or retried
-- by the next round, and a (rule, subject, period) never fires twice. A
-- rule re-arms when its condition is false (not merely unknown) and all
-- its firings for that subject are delivered. `disable` and `cap` are the
-- client's calls, so its journal records them.
--
-- A dry run stores nothing: it reads the fired-state, reports what would
-- fire, be retried or re-armed ("would disable", …), and sends nothing,
-- so it can never suppress a later real firing.
-- @module proxyapi.watch

local core = require "proxyapi.core"
local rules = require "proxyapi.rules"
local variables = require "proxyapi.variables"
local history = require "proxyapi.history"
local notify = require "proxyapi.notify"
local errors = require "proxyapi.errors"
local act = require "proxyapi.watch_act"

local type, pairs, ipairs, pcall, tostring, tonumber = type, pairs, ipairs, pcall, tostring, tonumber
local format, gmatch, setmetatable = string.format, string.gmatch, setmetatable
local os_date, os_time, tointeger = os.date, os.time, math.tointeger

local watch = {}

--- The base URL host[:port] of a client, as the history keys it.
-- @param api a client
-- @treturn string
watch.base_host = history.base_host

--- "Now" for a round: `opts.now` (a function returning epoch seconds, or
-- a number), else `PROXYAPI_NOW` (epoch seconds, or "YYYY-MM-DD HH:MM:SS"
-- in local time: for specs against the fake's clock), else `os.time()`.
-- @tparam[opt] table opts
-- @treturn integer epoch seconds
-- @return[2] nil
-- @treturn[2] string why PROXYAPI_NOW cannot be read
function watch.now(opts)
  local now = opts and opts.now
  if type(now) == "function" then
    now = now()
  elseif now == nil then
    local env = os.getenv("PROXYAPI_NOW")
    if env == nil or env == "" then
      return os_time()
    end
    now = tointeger(tonumber(env)) or variables.epoch(env)
    if not now then
      return nil, "PROXYAPI_NOW: epoch seconds or \"YYYY-MM-DD HH:MM:SS\" expected, got " .. env
    end
  end
  return math.floor(now)
end

--- Opens the history a job uses: `path` (its `--history`) when given,
-- else the one the profile names: `settings.history` is a path, or
-- `{ path = … }`, or absent (`history.default_path()`).
-- @tparam[opt] table settings the profile's table
-- @tparam[opt] string path the job's own choice
-- @return a history
-- @return[2] nil
-- @treturn[2] string what went wrong
function watch.open_history(settings, path)
  local err
  if path == nil then
    path, err = history.path_of(settings and settings.history)
  end
  if path == nil then
    return nil, err
  end
  return history.open(path)
end

-- The channels a firing of a rule is delivered on, in order.
local function channels_of(rule)
  if rule.action ~= "notify" then
    return { rule.action }
  end
  local list = {}
  list[#list + 1] = rule.webhook and "webhook" or nil
  list[#list + 1] = rule.command and "command" or nil
  return list
end
watch.channels_of = channels_of

-- The fired-state's subject: host and account, or host, "package" and trade_no.
local function subject_key(host, subject)
  if subject.account then
    return host .. " " .. subject.account
  end
  return host .. " package " .. tostring(subject.trade_no)
end

-- A stored firing's channels not yet delivered.
local function missing(rule, delivered)
  local list = {}
  for _, ch in ipairs(channels_of(rule)) do
    if not delivered[ch] then
      list[#list + 1] = ch
    end
  end
  return list
end

-- Firings of this host with an undelivered channel of a rule still configured.
local function undelivered(h, host, by_name)
  local prefix = host .. " "
  local rows, err = h.store:rows([[SELECT f.id, f.rule, f.subject, f.data,
      (SELECT group_concat(channel, ' ') FROM deliveries d WHERE d.firing_id = f.id) AS channels
    FROM fired f WHERE substr(f.subject, 1, %d) = %s ORDER BY f.fired_at, f.id]], #prefix, prefix)
  if not rows then
    return nil, err
  end
  local list = {}
  for _, row in ipairs(rows) do
    local rule = by_name[row.rule]
    local delivered = {}
    for ch in gmatch(row.channels or "", "%S+") do
      delivered[ch] = true
    end
    local ok, firing = pcall(core.json_decode, row.data or "")
    local todo = rule and missing(rule, delivered) or {}
    if rule and ok and type(firing) == "table" and type(firing.subject) == "table" and #todo > 0 then
      firing.id = row.id
      list[#list + 1] = { rule = rule, firing = firing, key = row.subject, channels = todo, retry = true }
    end
  end
  return list
end

local Round = setmetatable({}, { __index = act.Round })
Round.__index = Round

function Round:subjects(list)
  local want_accounts, want_usage, want_products = false, false, false
  for _, rule in ipairs(list) do
    if rule.kind == "product" then
      want_products = true
    else
      want_accounts = true
      for _, v in ipairs(rule.when:variables()) do
        want_usage = want_usage or v == "day_gb" or v == "month_gb"
      end
    end
  end
  local accounts, usage, usage_errs, products = {}, {}, {}, {}
  if want_accounts then
    local got, err = self.api:list_accounts()
    if not got then
      return nil, err
    end
    accounts = got
    self.listed = {}
    for _, a in ipairs(got) do
      self.listed[a.username or ""] = true
    end
  end
  if want_usage and #accounts > 0 then
    local start, stop = variables.month_start(self.today), self.today .. " 23:59:59"
    usage, usage_errs = self.api:map(accounts, function(client, a)
      return client:usage_flow { username = a.username, start_time = start, end_time = stop }
    end)
  end
  if want_products then
    local ok, err = pcall(function()
      for p in self.api:each_product {} do
        products[#products + 1] = p
      end
    end)
    if not ok then
      return nil, err
    end
  end
  return accounts, usage, usage_errs, products
end

-- Decides one rule for one subject; returns a pending item to deliver, if any.
function Round:decide(rule, subject, values, blocked)
  local key = subject_key(self.host, subject)
  local pkey = rules.period_key(rule.period, self.today)
  local state, err = self.h:fired_get(rule.name, key, pkey)
  if state == nil then
    return self:problem(err)
  end
  local decision = rules.decide(rule, subject, values, state)
  if decision == "fire" then
    local firing = rules.firing { rule = rule, subject = subject, values = values, profile = self.profile,
                                  period_key = pkey, time = self.now }
    local item = { rule = rule, firing = firing, key = key, channels = channels_of(rule) }
    if self.dry then
      firing.id = nil
      return item
    end
    firing.id = nil
    local stored, ferr = self.h:fire(rule.name, key, pkey, firing)
    if not stored then
      return self:problem(ferr)
    elseif not stored.created then
      return nil -- another process fired it just now: it delivers
    end
    firing.id = stored.id
    return item
  elseif decision == "rearm" and not blocked[rule.name .. "\0" .. key] and #missing(rule, state.delivered) == 0 then
    local item = { rule = rule, firing = rules.firing { rule = rule, subject = subject, values = values,
                                                        profile = self.profile, period_key = pkey, time = self.now } }
    item.firing.id = state.id
    if self.dry then
      return self:action(item, "rearm", "would", "would re-arm")
    end
    local ok, rerr = self.h:rearm(rule.name, key)
    if not ok then
      return self:problem(rerr)
    end
    self:action(item, "rearm", "rearmed")
  end
end

local function status_of(round)
  if #round.failures == 0 then
    return 0
  end
  local first = round.failures[1]
  local code = errors.is_error(first) and errors.exit_code(first) or 5
  return round.successes > 0 and 3 or code
end

--- One round over a profile's rules.
-- @tparam table ctx the job context: `api`, `settings.rules`, `profile`, `dry_run`
-- @tparam table opts `history` (an open history, required), `rules` (a
-- rules list instead of `ctx.settings.rules`), `now` (see `watch.now`),
-- `notifier` (default `notify.new()`), `dry_run` (default ctx.dry_run or
-- the client's), `command_output` (a file notify commands append to)
-- @treturn table report `{ time, day, profile, dry_run, accounts, packages,
-- actions = { {rule, action, channel, outcome, subject, kind, id, period, retry, detail} },
-- errors = {msg}, status, interrupted }`; outcome is `applied`, `failed`,
-- `would` or `rearmed`; `status` an exit code (0, 3, 4, 5, 130/143)
-- @return[2] nil
-- @treturn[2] string a configuration problem (bad rules, PROXYAPI_NOW)
-- @treturn[2] integer 2
function watch.round(ctx, opts)
  opts = opts or {}
  local settings = ctx.settings or {}
  local list, why = rules.check(opts.rules or settings.rules, ctx.profile and "profile '" .. ctx.profile .. "'")
  if not list then
    return nil, why, 2
  end
  local now, nerr = watch.now(opts)
  if not now then
    return nil, nerr, 2
  end
  local api, dry = ctx.api, opts.dry_run
  if dry == nil then
    dry = ctx.dry_run or api:settings().dry_run or false
  end
  local self = setmetatable({ api = api, h = opts.history, dry = dry, now = now, today = os_date("%Y-%m-%d", now),
                              profile = ctx.profile, host = watch.base_host(api), failures = {}, successes = 0,
                              notifier = opts.notifier or notify.new(),
                              command_opts = opts.command_output and { output = opts.command_output } },
                            Round)
  local report = { time = now, day = self.today, profile = ctx.profile, dry_run = dry, accounts = 0, packages = 0,
                   actions = {}, errors = {} }
  self.report = report
  local by_name = {}
  for _, rule in ipairs(list) do
    by_name[rule.name] = rule
  end
  -- 1. earlier firings not yet delivered
  local pending, perr = undelivered(self.h, self.host, by_name)
  if not pending then
    self:problem(perr)
    pending = {}
  end
  -- 2. this round's firings, stored before anything is done
  local accounts, usage, usage_errs, products = {}, {}, {}, {}
  if #list > 0 and not core.interrupted() then
    local a, u, ue, p = self:subjects(list)
    if a then
      accounts, usage, usage_errs, products = a, u, ue, p
    else
      self:problem(u)
    end
  end
  report.accounts, report.packages = #accounts, #products
  local blocked = {}
  for _, item in ipairs(pending) do
    blocked[item.rule.name .. "\0" .. item.key] = true
  end
  local subjects_of = {}
  for i, a in ipairs(accounts) do
    if type(a.username) == "string" then
      subjects_of[#subjects_of + 1] = { { account = a.username }, a, i }
    end
  end
  for _, rule in ipairs(list) do
    if rule.kind == "account" then
      local reads_usage = false
      for _, v in ipairs(rule.when:variables()) do
        reads_usage = reads_usage or v == "day_gb" or v == "month_gb"
      end
      for _, s in ipairs(subjects_of) do
        local subject, a, i = s[1], s[2], s[3]
        if not (reads_usage and usage_errs[i]) then -- unknown usage neither fires nor re-arms
          local item = self:decide(rule, subject, rules.values_for_account(a, usage[i], self.today), blocked)
          pending[#pending + 1] = item
        end
      end
    else
      for _, p in ipairs(products) do
        if p.trade_no ~= nil then
          local subject = { trade_no = p.trade_no, product_type = p.product_type }
          pending[#pending + 1] = self:decide(rule, subject, rules.values_for_product(p, now), blocked)
        end
      end
    end
  end
  for i, err in pairs(usage_errs) do
    self:problem(format("usage of %s: %s", tostring(accounts[i] and accounts[i].username), tostring(err)))
  end
  -- 3. act: every pending channel, retried ones first
  self:deliver(pending, self.listed) -- nil unless the accounts were listed: only then is "gone" known
  report.interrupted = core.interrupted() or nil
  local stopped, sig = core.interrupted()
  report.status = stopped and 128 + sig or status_of(self)
  return report
end

return watch
