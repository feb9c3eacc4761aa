-- Traffic: each account's per-day usage and its usage_flow, and the rules
-- that make them grow as the fake's clock moves.
--
-- An account's flow on a day is its seeded flow plus the traffic added to
-- that day. Seeded accounts (those with seeded usage) have a seeded flow,
-- data.daily_flow, on every day from their creation to the day the clock
-- started on (the start day); other days and other accounts have none.
-- Added traffic (control endpoint, growth rules) goes to the current fake
-- day and into usage_flow together, so for any account
--   usage_flow - (sum of its per-day flows) = seeded usage_flow - (sum of its seeded flows),
-- which is 0 for accounts made in the fake: their history sums to their
-- usage_flow. A deleted account's history goes with it.
local data = require "proxyapi.fake.data"
local json = require "proxyapi.fake.json"
local params = require "proxyapi.fake.params"

local present, refuse = params.present, params.refuse
local daily_flow = data.daily_flow

-- Day names, kept: the usage endpoint names the same days again and again
-- (emptied when full, since a range may be long).
local day_names, named = {}, 0
local function format_day(day)
  local s = day_names[day]
  if not s then
    if named >= 100000 then day_names, named = {}, 0 end
    s = data.format_day(day)
    day_names[day], named = s, named + 1
  end
  return s
end

local usage = {}

local function changed(state) state.version = state.version + 1 end

local function history(state, account)
  local h = state.history[account]
  if not h then
    h = { since = data.parse_time(account.created_at) // 86400, added = {} }
    state.history[account] = h
  end
  return h
end

function usage.reset(state)
  state.history = {}
  local start_day = state.clock:day()
  for _, account in ipairs(state.accounts) do
    if account.usage_flow > 0 then
      local h = history(state, account)
      h.seeded_until, h.seeded = start_day, {}
    end
  end
  state.grown_day, state.per_day_all, state.rules = start_day, nil, 0
end

function usage.forget(state, account) state.history[account] = nil end

-- KB the account used on that day. Seeded flows are hashed once per day
-- and kept: the usage endpoint asks for the same days again and again.
local function flow_of(state, account, day)
  local h = state.history[account]
  if not h then return 0 end
  local flow = h.added[day] or 0
  local seeded = h.seeded
  if seeded and day <= h.seeded_until and day >= h.since then
    local f = seeded[day]
    if not f then
      f = daily_flow(state.seed, account.username, day)
      seeded[day] = f
    end
    flow = flow + f
  end
  return flow
end

-- kb (an integer >= 0) to the account, on the current fake day.
function usage.add(state, account, kb, day)
  local h = history(state, account)
  day = day or state.clock:day()
  h.added[day] = (h.added[day] or 0) + kb
  account.usage_flow = account.usage_flow + kb
  changed(state)
end

-- kb per fake day for one account (its own rule wins over the one for all;
-- 0 stops it growing), or for all accounts when account is nil (nil: no rule).
function usage.set_rule(state, account, kb)
  if account then
    history(state, account).per_day = kb
  else
    state.per_day_all = kb
  end
  state.rules = state.rules + 1
end

function usage.rule_of(state, account)
  local h = state.history[account]
  local own = h and h.per_day
  if own ~= nil then return own end
  return state.per_day_all or 0
end

-- Credits the growth rules for every fake day entered since the last call:
-- each enabled account gets its rule's amount on each such day. Called
-- before anything reads or changes usage.
function usage.sync(state)
  local today = state.clock:day()
  local from = state.grown_day
  if today <= from then return end
  state.grown_day = today
  if state.rules == 0 then return end
  for day = from + 1, today do
    for _, account in ipairs(state.accounts) do
      local kb = usage.rule_of(state, account)
      if kb > 0 and account.status == 1 then usage.add(state, account, kb, day) end
    end
  end
end

-- What the control plane shows of an account's usage.
function usage.view(state, account)
  local today = state.clock:day()
  return { account = account.username, usage_flow = account.usage_flow, day = format_day(today),
           day_flow = flow_of(state, account, today), kb_per_day = usage.rule_of(state, account) }
end

function usage.routes(route)
  route("GET", "/openapi/user-usage-flow/total", function(state, p)
    local now = state.clock:now()
    local end_t = params.query_time(p, "end_time") or now
    local start_t = params.query_time(p, "start_time") or (end_t // 86400 - 6) * 86400
    if start_t > end_t then refuse "start_time must not be after end_time" end
    local ptype = params.query_type(p, "product_type", params.product_types, "must be one of 9, 11, 14, 25")
    local users = {}
    for _, account in ipairs(state.accounts) do
      if (not present(p.username) or account.username == p.username)
          and (not ptype or account.product_type == ptype) then
        users[#users + 1] = account
      end
    end
    if present(p.username) and not users[1] then return "data", { list = json.array {} } end
    local list = {}
    for day = start_t // 86400, end_t // 86400 do
      local flow = 0
      for i = 1, #users do flow = flow + flow_of(state, users[i], day) end
      list[#list + 1] = { day = format_day(day), flow = flow }
    end
    return "data", { list = json.array(list) }
  end)
end

return usage
