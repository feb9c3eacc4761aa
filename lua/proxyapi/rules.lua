--- Watch rules, the pure part: a profile's `rules` list checked and
-- compiled, the variables of an account or a package, period keys, the
-- at-most-once decision, and what a notification carries. No database,
-- no network, no clock unless one is passed in or defaulted.
-- @module proxyapi.rules

local when = require "proxyapi.when"
local variables = require "proxyapi.variables"

local type, pairs, ipairs, tostring, error = type, pairs, ipairs, tostring, error
local format, find, match, upper, sub = string.format, string.find, string.match, string.upper, string.sub
local tointeger, mtype = math.tointeger, math.type
local concat = table.concat

local rules = {}

--- Parses a `when` expression; see `proxyapi.when`.
-- @function parse
-- @tparam string text
-- @tparam[opt] string name the rule's name, for messages
-- @treturn table condition with `:eval(values)`, `:variables()`, `:kind()`
-- @treturn[2] nil
-- @treturn[2] string `rule 'near-cap': when: unexpected 'x' at column 17`
rules.parse = when.parse

--- The variables of an account; see `proxyapi.variables.account`.
-- @function values_for_account
-- @tparam table account `{ usage_flow = KB, limit_flow = GB, status = 1|0 }`
-- @tparam[opt] table usage_days `{ {day =, flow = KB}, ... }`
-- @tparam[opt] string today `"YYYY-MM-DD"`
-- @treturn table
rules.values_for_account = variables.account

--- The variables of a package; see `proxyapi.variables.product`.
-- @function values_for_product
-- @tparam table product with `expired_at`
-- @tparam[opt] number now epoch seconds
-- @tparam[opt] integer utc_offset seconds east of UTC (default: local time)
-- @treturn table
rules.values_for_product = variables.product

--- The API's start_time for the current month; see `proxyapi.variables.month_start`.
-- @function month_start
-- @tparam[opt] string today
-- @treturn string
rules.month_start = variables.month_start

local KEYS = { name = true, when = true, action = true, period = true, limit = true, webhook = true,
               command = true }
local ACTIONS = { disable = true, cap = true, notify = true }
local PERIODS = { day = true, month = true, ever = true }
local MAX_NAME = 40
local MAX_URL = 2048
local MAX_ARGS = 64

local function webhook_ok(url)
  if type(url) ~= "string" or #url > MAX_URL or find(url, "[%c%s]") then
    return false
  end
  local scheme, authority = match(url, "^(%a[%w+.-]*)://([^/?#]*)")
  scheme = scheme and scheme:lower()
  local host = authority and match(authority, "([^@]*)$"):gsub(":%d*$", "")
  return (scheme == "http" or scheme == "https") and host ~= nil and host ~= ""
end

local function path_ok(s)
  return type(s) == "string" and sub(s, 1, 1) == "/" and not find(s, "%z") and #s <= 4096
end

-- command -> argv array, or nil and why
local function argv_of(command)
  if type(command) == "string" then
    if find(command, "%s") then
      return nil, "a string is one absolute path and runs without a shell; give arguments as a list, " ..
        "e.g. { \"/usr/local/bin/page-me\", \"--urgent\" }"
    end
    if not path_ok(command) then
      return nil, "must be an absolute path or a list { \"/path\", \"arg\", ... }"
    end
    return { command }
  elseif type(command) == "table" then
    local n = #command
    if n == 0 or n > MAX_ARGS then
      return nil, "a list of 1 to " .. MAX_ARGS .. " strings"
    end
    for k, v in pairs(command) do
      if mtype(k) ~= "integer" or k < 1 or k > n then
        return nil, "a list of strings (key " .. tostring(k) .. ")"
      elseif type(v) ~= "string" or find(v, "%z") then
        return nil, "item " .. k .. " must be a string without NUL"
      end
    end
    if not path_ok(command[1]) then
      return nil, "item 1 must be an absolute path (no shell, no PATH search)"
    end
    local argv = {}
    for i = 1, n do
      argv[i] = command[i]
    end
    return argv
  end
  return nil, "must be an absolute path or a list of strings, got " .. type(command)
end

-- One rule table -> compiled rule, or nil and a message (label names it).
local function check_rule(item, label)
  local function bad(field, msg)
    return nil, label .. ": " .. field .. ": " .. msg
  end
  for k in pairs(item) do
    if not KEYS[k] then
      return nil, label .. ": unknown key " .. (type(k) == "string" and "'" .. k .. "'" or tostring(k)) ..
        " (keys: action, command, limit, name, period, webhook, when)"
    end
  end
  local cond, why = when.parse(item.when)
  if item.when == nil then
    return bad("when", "required")
  elseif not cond then
    return nil, label .. ": " .. why
  end
  local rule = { name = item.name, when = cond, kind = cond:kind(), action = item.action,
                 period = item.period or "month" }
  if item.action == nil then
    return bad("action", "required (disable, cap or notify)")
  elseif not ACTIONS[item.action] then
    return bad("action", "must be disable, cap or notify, got " .. tostring(item.action))
  elseif not PERIODS[rule.period] then
    return bad("period", "must be day, month or ever, got " .. tostring(item.period))
  end
  if rule.kind == "product" and item.action ~= "notify" then
    return bad("action", "'" .. item.action .. "' acts on accounts; a package rule (" ..
      concat(cond:variables(), ", ") .. ") can only notify")
  end
  if item.action == "cap" then
    local gb = mtype(item.limit) and tointeger(item.limit)
    if item.limit == nil then
      return bad("limit", "required for action cap (GB, 0..102400; 0 = unlimited)")
    elseif not gb or gb < 0 or gb > 102400 then
      return bad("limit", "must be an integer 0..102400 (GB), got " .. tostring(item.limit))
    end
    rule.limit = gb
  elseif item.limit ~= nil then
    return bad("limit", "only for action cap")
  end
  if item.action == "notify" then
    if item.webhook == nil and item.command == nil then
      return bad("action", "notify needs webhook and/or command")
    end
    if item.webhook ~= nil then
      if not webhook_ok(item.webhook) then
        return bad("webhook", "must be an http:// or https:// URL with a host")
      end
      rule.webhook = item.webhook
    end
    if item.command ~= nil then
      local argv, msg = argv_of(item.command)
      if not argv then
        return bad("command", msg)
      end
      rule.command = argv
    end
  else
    for _, field in ipairs { "webhook", "command" } do
      if item[field] ~= nil then
        return bad(field, "only for action notify")
      end
    end
  end
  return rule
end

--- Checks and compiles a profile's `rules` list.
-- Each item: `name` (required, unique; a letter, then letters, digits,
-- `-` or `_`; at most 40), `when` (required), `action` (`disable`, `cap`
-- with `limit` GB 0..102400, or `notify` with `webhook` and/or `command`),
-- `period` (`day`, `month` — the default — or `ever`). A string
-- `command` is one absolute path; a list is an argv whose first item is
-- an absolute path. Package rules (`package_days_left`) can only notify.
-- @tparam table|nil list the profile's `rules` (nil: no rules)
-- @tparam[opt] string where prefixed to messages, e.g. `"profile 'acme'"`
-- @treturn {table,...} compiled rules in order: `{ name, when, kind, action, period, limit, webhook, command }`
--   where `when` is the parsed condition, `kind` is `"account"` or `"product"` and `command` an argv array
-- @treturn[2] nil
-- @treturn[2] string the first problem, e.g. `profile 'acme': rule 'daily': limit: required for action cap ...`
-- @treturn[2] {string,...} every problem
-- @usage local list = assert(rules.check(profile.rules, "profile 'acme'"))
function rules.check(list, where)
  local prefix = where and where .. ": " or ""
  if list == nil then
    return {}
  end
  local problems = {}
  local function problem(msg)
    problems[#problems + 1] = prefix .. msg
  end
  if type(list) ~= "table" then
    problem("rules: must be a list of rule tables, got " .. type(list))
    return nil, problems[1], problems
  end
  local n = #list
  for k in pairs(list) do
    if mtype(k) ~= "integer" or k < 1 or k > n then
      problem("rules: must be a list of rule tables (key " .. tostring(k) .. ")")
      return nil, problems[1], problems
    end
  end
  local compiled, seen = {}, {}
  for i = 1, n do
    local item, label = list[i], "rule #" .. i
    if type(item) ~= "table" then
      problem(label .. ": must be a table, got " .. type(item))
    elseif item.name == nil then
      problem(label .. ": name: required")
    elseif type(item.name) ~= "string" or #item.name > MAX_NAME or not find(item.name, "^%a[%w_%-]*$") then
      problem(label .. ": name: must be a letter, then letters, digits, '-' or '_' (at most " .. MAX_NAME .. ")")
    elseif seen[item.name] then
      problem(format("rule '%s': name: used twice (rules #%d and #%d)", item.name, seen[item.name], i))
    else
      seen[item.name] = i
      local rule, msg = check_rule(item, "rule '" .. item.name .. "'")
      if rule then
        compiled[#compiled + 1] = rule
      else
        problem(msg)
      end
    end
  end
  if problems[1] then
    return nil, problems[1], problems
  end
  return compiled
end

--- The period a firing belongs to: `"2026-12-02"` (day), `"2026-12"`
-- (month) or `"ever"`.
-- @tparam string period `"day"`, `"month"` or `"ever"`
-- @tparam[opt] string day `"YYYY-MM-DD"` (default: the local date)
-- @treturn string
function rules.period_key(period, day)
  if not PERIODS[period] then
    error("bad argument #1 to 'period_key' (day, month or ever expected, got " .. tostring(period) .. ")", 2)
  end
  day = variables.day(day, "period_key")
  return period == "day" and day or period == "month" and sub(day, 1, 7) or "ever"
end

local function subject_kind(subject, fname, arg)
  if type(subject) == "table" and type(subject.account) == "string" then
    return "account"
  elseif type(subject) == "table" and subject.trade_no ~= nil then
    return "product"
  end
  error(format("bad argument #%d to '%s' (subject { account = name } or { trade_no = ... } expected)", arg, fname), 3)
end

--- The at-most-once decision for one rule and one subject.
-- `fired_state` is what the history holds for (rule, subject,
-- `period_key(rule.period, today)`): nil or false when it holds no firing,
-- anything else when it does. With the condition true: `"fire"` without
-- a firing (the caller records one, then acts), `"hold"` with one. With the
-- condition false (or unknown): `"rearm"` with a firing (the caller
-- forgets it, so the rule fires again when the condition next holds, in
-- this period too), `"idle"` without. A condition that still holds when
-- the period changes fires again in the new period: the new key has no
-- firing yet. With `ever` the key never changes: once until it clears.
-- @tparam table rule a compiled rule from `check`
-- @tparam table subject `{ account = username }` or `{ trade_no = ..., product_type = ... }`
-- @tparam table values from `values_for_account` or `values_for_product`
-- @param fired_state the stored firing for this period, or nil
-- @treturn string `"fire"`, `"hold"`, `"rearm"` or `"idle"`
function rules.decide(rule, subject, values, fired_state)
  if subject_kind(subject, "decide", 2) ~= rule.kind then
    error("bad argument #2 to 'decide' (rule '" .. tostring(rule.name) .. "' is about " ..
      (rule.kind == "account" and "accounts" or "packages") .. ")", 2)
  end
  local holds = rule.when:eval(values)
  if holds then
    return fired_state and "hold" or "fire"
  end
  return fired_state and "rearm" or "idle"
end

-- FNV-1a 64 over the parts, as 16 hex digits
local function digest(parts)
  local h = 0xcbf29ce484222325
  local s = concat(parts, "\0")
  for i = 1, #s do
    h = (h ~ s:byte(i)) * 0x100000001b3
  end
  return format("%016x", h)
end

--- A firing to record and deliver. Its `id` is derived from the profile,
-- rule, subject, period key and time, so a firing re-read from the history
-- (same fields) keeps its id on every retry, and a later firing in the
-- same period (after a re-arm) gets another.
-- @tparam table f `{ rule = compiled rule or name, subject = ..., values = ..., profile = name,
--   period_key = ..., time = epoch seconds (default os.time()) }`
-- @treturn table `{ id, rule, action, kind, subject, values, profile, period_key, time }`
function rules.firing(f)
  local name = type(f.rule) == "table" and f.rule.name or f.rule
  local subject = f.subject
  local kind = subject_kind(subject, "firing", 1)
  local time = math.floor(f.time or os.time())
  local key = kind == "account" and subject.account or tostring(subject.trade_no)
  return {
    id = digest { tostring(f.profile), name, kind, key, tostring(f.period_key), tostring(time) },
    rule = name, action = type(f.rule) == "table" and f.rule.action or nil, kind = kind,
    subject = subject, values = f.values or {}, profile = f.profile, period_key = f.period_key, time = time,
  }
end

-- only the variables, and only numbers (usage_percent false is left out)
local function numeric_values(values)
  local out = {}
  for name in pairs(when.VARIABLES) do
    local v = values[name]
    if type(v) == "number" and v == v and v ~= 1 / 0 and v ~= -1 / 0 then
      out[name] = v
    end
  end
  return out
end

--- The JSON object a webhook receives for a firing: `id` (the same on
-- every retry), `rule`, `account` (or `trade_no` and `product_type`),
-- `values` (the numeric variables), `profile`, `period` (the period key)
-- and `time` (RFC 3339, UTC).
-- @tparam table firing from `firing`
-- @treturn table ready for `cjson.encode`
function rules.notification(firing)
  local subject = firing.subject
  local body = { id = firing.id, rule = firing.rule, values = numeric_values(firing.values),
                 profile = firing.profile, period = firing.period_key,
                 time = os.date("!%Y-%m-%dT%H:%M:%SZ", firing.time) }
  if firing.kind == "account" then
    body.account = subject.account
  else
    body.trade_no, body.product_type = subject.trade_no, subject.product_type
  end
  return body
end

local function env_number(v)
  if mtype(v) == "integer" then
    return format("%d", v)
  end
  local s = format("%.6f", v):gsub("0+$", ""):gsub("%.$", "")
  return s == "-0" and "0" or s
end

--- The environment of a notify command: `base` without any `PROXYAPI_*`
-- name (so neither PROXYAPI_APP_KEY nor PROXYAPI_BASE_URL passes through),
-- plus PROXYAPI_ID, PROXYAPI_RULE, PROXYAPI_PROFILE, PROXYAPI_PERIOD,
-- PROXYAPI_TIME, PROXYAPI_ACCOUNT (or PROXYAPI_TRADE_NO and
-- PROXYAPI_PRODUCT_TYPE) and one PROXYAPI_<VARIABLE> per numeric
-- variable (PROXYAPI_USAGE_GB, PROXYAPI_USAGE_PERCENT, PROXYAPI_DAY_GB,
-- PROXYAPI_MONTH_GB, PROXYAPI_STATUS, PROXYAPI_PACKAGE_DAYS_LEFT; up
-- to 6 decimals).
-- @tparam table firing from `firing`
-- @tparam[opt] table base name -> value of the environment to keep (e.g. PATH, HOME)
-- @treturn table name -> string
function rules.command_env(firing, base)
  local env = {}
  for k, v in pairs(base or {}) do
    if type(k) == "string" and upper(sub(k, 1, 9)) ~= "PROXYAPI_" then
      env[k] = tostring(v)
    end
  end
  local body = rules.notification(firing)
  env.PROXYAPI_ID, env.PROXYAPI_RULE, env.PROXYAPI_TIME = body.id, body.rule, body.time
  env.PROXYAPI_PROFILE = body.profile and tostring(body.profile) or nil
  env.PROXYAPI_PERIOD = body.period and tostring(body.period) or nil
  if body.account then
    env.PROXYAPI_ACCOUNT = body.account
  else
    env.PROXYAPI_TRADE_NO = tostring(body.trade_no)
    env.PROXYAPI_PRODUCT_TYPE = body.product_type and tostring(body.product_type) or nil
  end
  for name, v in pairs(body.values) do
    env["PROXYAPI_" .. upper(name)] = env_number(v)
  end
  return env
end

return rules
