-- The provider's endpoints over an in-memory state.
--
-- Guesses about the real service (its reference does not say):
-- - Parameter errors answer HTTP 200 with code 400 and a msg naming the parameter and the problem.
-- - The HTTP status is always 200 for known paths; unknown paths answer HTTP 404, wrong methods HTTP 405.
-- - A POST body that is not a JSON object answers code 400 before the app_key is looked at.
-- - POST parameters are read from the JSON body only, never from the query string.
-- - The app_key is checked before anything else; code 156 (not verified) comes after it, on writes only.
-- - Every endpoint needs the app_key, the location lists too (their reference shows no parameters).
-- - The account list is ordered by id; created_at of new accounts is the server's local time.
-- - A GET parameter given empty ("username=") counts as absent; a JSON null counts as absent.
-- - Numbers in JSON bodies must be JSON numbers: "9" or "5" as strings are refused.
-- - Usernames are case-sensitive and have no length limit besides being non-empty.
-- - add: an item that is not exactly "username:password" is refused; the whole batch is atomic.
-- - delete/disable/enable: a name given twice in one request is accepted (acted on once).
-- - delete/disable/enable/change-*: an unknown account is refused with code 400 naming it.
-- - Remark: control characters are C0, DEL and C1 (U+0000-U+001F, U+007F-U+009F).
-- - New accounts: status 1, limit_flow 0, usage_flow 0, remark "" when not given, ids count up.
-- - Usage: the default range is the 7 calendar days ending with end_time (default now): 7 entries.
-- - Usage: one entry per day of the range, 0 for idle days, for days before the account
--   existed and for days after today; an unknown or deleted username gives an empty list.
-- - Usage: with product_type, only accounts of that type count; a username of another type
--   gives an empty list.
-- - Products and static IPs are listed newest first (id descending).
-- - page >= 1; size 1..100 (size over 100 is refused, not clamped); total_page is 0 when empty.
-- - Extraction: num 1..500 (default 1), life 1..1440 minutes, ep is accepted as any string.
-- - Extraction: cc, state and city are matched case-insensitively; state is the state code
--   as dynamic-states lists it; a state or city given without cc may be in any country.
-- - Extraction: format "json" (any case) answers the envelope; any other format answers
--   text/plain joined by lb (default "\r\n"); errors are still JSON envelopes.
-- - Extraction: ports 1140..1199 on a few gateway IPs, all distinct within a reply; each call
--   hands out new addresses (the sequence is fixed by the seed and restarts at reset).
-- - City/state search: an unknown country or state gives an empty list, not an error;
--   country_code is matched case-insensitively.
-- - Static IPs: country_code is matched case-insensitively; product_type must be 14 or 25.
local cjson = require "cjson"
local data = require "proxyapi.fake.data"

local find, gsub, match, lower, upper = string.find, string.gsub, string.match, string.lower, string.upper
local concat, tointeger, mtype = table.concat, math.tointeger, math.type
local null = cjson.null

local handlers = {}

-- cjson writes an empty Lua table as {}; lists that may be empty go through
-- array(), whose marker (a control character no remark may hold) becomes [].
local EMPTY_MARK = "\1proxyapi_fake_empty_array\1"
local EMPTY_JSON = '"\\u0001proxyapi_fake_empty_array\\u0001"'
local function array(t)
  if t[1] == nil then return EMPTY_MARK end
  return t
end
handlers.array = array

function handlers.encode(value)
  local s = cjson.encode(value)
  if find(s, EMPTY_JSON, 1, true) then s = gsub(s, EMPTY_JSON, "[]") end
  return s
end

function handlers.envelope(code, msg, value)
  if value == nil then value = null end
  return handlers.encode { code = code, msg = msg, data = value }
end

-- A refusal is raised as a table so that validation reads top to bottom.
local Refusal = {}
local function refuse(msg) error(setmetatable({ msg = msg }, Refusal), 0) end

local function shown(s)
  s = tostring(s)
  return #s > 40 and s:sub(1, 40) .. "..." or s
end

local function present(v) return v ~= nil and v ~= null and v ~= "" end

local function is_alnum(s) return type(s) == "string" and s ~= "" and not find(s, "[^0-9A-Za-z]") end

local function need_string(p, name)
  local v = p[name]
  if v == nil or v == null then refuse(name .. " is required") end
  if type(v) ~= "string" then refuse(name .. " must be a string") end
  return v
end

local function check_remark(remark)
  if type(remark) ~= "string" then refuse "remark must be a string" end
  if not utf8.len(remark) then refuse "remark must be valid UTF-8" end
  local width = 0
  for _, c in utf8.codes(remark) do
    if c < 32 or (c >= 127 and c < 160) then refuse "remark must not contain control characters" end
    width = width + (c < 128 and 1 or 2)
  end
  if width > 64 then refuse "remark is too long: at most 32 Chinese or 64 English characters" end
  return remark
end

local product_types = { [9] = true, [11] = true, [14] = true, [25] = true }
local static_types = { [14] = true, [25] = true }

-- An integer from a query string: digits only, within lo..hi.
local function query_int(p, name, default, lo, hi, problem)
  local v = p[name]
  if not present(v) then return default end
  local n = type(v) == "string" and #v <= 9 and find(v, "^%d+$") and tointeger(tonumber(v))
  if not n or n < lo or (hi and n > hi) then refuse(name .. " " .. problem) end
  return n
end

local function query_type(p, name, allowed, problem)
  local n = query_int(p, name, nil, 0, nil, problem)
  if n and not allowed[n] then refuse(name .. " " .. problem) end
  return n
end

local function account_named(state, name)
  if not is_alnum(name) then refuse "account must be letters and digits only" end
  local account = state.by_name[name]
  if not account then refuse("account '" .. name .. "' does not exist") end
  return account
end

-- "u1,u2" -> accounts, all existing, or a refusal (nothing is changed).
local function named_accounts(state, p)
  local list, seen = {}, {}
  local names = need_string(p, "accounts")
  if names == "" then refuse "accounts is required" end
  for name in (names .. ","):gmatch "([^,]*)," do
    if not is_alnum(name) then refuse("accounts: '" .. shown(name) .. "' must be letters and digits only") end
    local account = account_named(state, name)
    if not seen[name] then
      seen[name] = true
      list[#list + 1] = account
    end
  end
  return list
end

local function changed(state) state.version = state.version + 1 end

local function reindex(state)
  state.by_name = {}
  for _, account in ipairs(state.accounts) do state.by_name[account.username] = account end
  changed(state)
end

local function page_of(list, p)
  local page = query_int(p, "page", 1, 1, nil, "must be a positive integer")
  local size = query_int(p, "size", 20, 1, 100, "must be an integer from 1 to 100")
  local items = {}
  for i = (page - 1) * size + 1, math.min(page * size, #list) do items[#items + 1] = list[i] end
  return { list = array(items), page = page, page_size = size, total_count = #list,
           total_page = (#list + size - 1) // size }
end

local routes = {}
handlers.routes = routes

local function route(method, path, fn) routes[path] = { method = method, fn = fn } end

local account_path = "/openapi/whitelist-account/"

route("GET", account_path .. "list", function(state)
  if state.list_version ~= state.version then
    state.list_body = handlers.envelope(200, "success", { list = array(state.accounts) })
    state.list_version = state.version
  end
  return "raw", state.list_body
end)

route("POST", account_path .. "add", function(state, p)
  local accounts = need_string(p, "accounts")
  if accounts == "" then refuse "accounts is required" end
  local remark = present(p.remark) and check_remark(p.remark) or ""
  local ptype = 9
  if p.product_type ~= nil and p.product_type ~= null then
    ptype = mtype(p.product_type) and tointeger(p.product_type)
    if not product_types[ptype] then refuse "product_type must be one of 9, 11, 14, 25" end
  end
  local new, seen = {}, {}
  for item in (accounts .. ","):gmatch "([^,]*)," do
    local username, password = match(item, "^([^:]*):([^:]*)$")
    if not username then refuse("accounts: '" .. shown(item) .. "' is not username:password") end
    if not is_alnum(username) then
      refuse("accounts: username '" .. shown(username) .. "' must be letters and digits only")
    end
    if not is_alnum(password) then
      refuse("accounts: password of '" .. username .. "' must be letters and digits only")
    end
    if seen[username] then refuse("accounts: username '" .. username .. "' is repeated") end
    if state.by_name[username] then refuse("accounts: username '" .. username .. "' already exists") end
    seen[username] = true
    new[#new + 1] = { username = username, password = password }
  end
  local created_at = data.format_time(data.now())
  for _, account in ipairs(new) do
    account.id = state.next_id
    state.next_id = state.next_id + 1
    account.created_at, account.remark, account.product_type = created_at, remark, ptype
    account.usage_flow, account.limit_flow, account.status = 0, 0, 1
    state.accounts[#state.accounts + 1] = account
  end
  reindex(state)
  return "data", nil
end)

route("POST", account_path .. "delete", function(state, p)
  local gone = {}
  for _, account in ipairs(named_accounts(state, p)) do gone[account] = true end
  local kept = {}
  for _, account in ipairs(state.accounts) do
    if not gone[account] then kept[#kept + 1] = account end
  end
  state.accounts = kept
  reindex(state)
  return "data", nil
end)

local function set_status(status)
  return function(state, p)
    for _, account in ipairs(named_accounts(state, p)) do account.status = status end
    changed(state)
    return "data", nil
  end
end
route("POST", account_path .. "disable", set_status(0))
route("POST", account_path .. "enable", set_status(1))

route("POST", account_path .. "change-password", function(state, p)
  local account = account_named(state, need_string(p, "account"))
  local password = need_string(p, "password")
  if not is_alnum(password) then refuse "password must be letters and digits only" end
  account.password = password
  changed(state)
  return "data", nil
end)

route("POST", account_path .. "change-remark", function(state, p)
  local account = account_named(state, need_string(p, "account"))
  account.remark = check_remark(need_string(p, "remark"))
  changed(state)
  return "data", nil
end)

route("POST", account_path .. "change-limit", function(state, p)
  local account = account_named(state, need_string(p, "account"))
  local limit = p.limit
  if limit == nil or limit == null then refuse "limit is required" end
  limit = mtype(limit) and tointeger(limit)
  if not limit or limit < 0 or limit > 102400 then refuse "limit must be an integer from 0 to 102400 (GB)" end
  account.limit_flow = limit
  changed(state)
  return "data", nil
end)

local function query_time(p, name)
  if not present(p[name]) then return nil end
  return data.parse_time(p[name]) or refuse(name .. " must be a real time as YYYY-MM-DD HH:MM:SS")
end

route("GET", "/openapi/user-usage-flow/total", function(state, p)
  local now = data.now()
  local end_t = query_time(p, "end_time") or now
  local start_t = query_time(p, "start_time") or (end_t // 86400 - 6) * 86400
  if start_t > end_t then refuse "start_time must not be after end_time" end
  local ptype = query_type(p, "product_type", product_types, "must be one of 9, 11, 14, 25")
  local users, since = {}, {}
  for _, account in ipairs(state.accounts) do
    if (not present(p.username) or account.username == p.username)
        and (not ptype or account.product_type == ptype) then
      users[#users + 1] = account
      since[account] = data.parse_time(account.created_at) // 86400
    end
  end
  if present(p.username) and not users[1] then return "data", { list = array {} } end
  local today, list = now // 86400, {}
  for day = start_t // 86400, end_t // 86400 do
    local flow = 0
    for _, account in ipairs(users) do
      if account.usage_flow > 0 and day <= today and day >= since[account] then
        flow = flow + data.daily_flow(state.seed, account.username, day)
      end
    end
    list[#list + 1] = { day = data.format_day(day), flow = flow }
  end
  return "data", { list = array(list) }
end)

route("GET", "/openapi/user-product/list", function(state, p)
  local ptype = query_type(p, "product_type", product_types, "must be one of 9, 11, 14, 25")
  local list = {}
  for _, product in ipairs(state.products) do
    if (not present(p.trade_no) or product.trade_no == p.trade_no)
        and (not ptype or product.product_type == ptype) then
      list[#list + 1] = product
    end
  end
  return "data", page_of(list, p)
end)

route("GET", "/ip/get-static-ip", function(state, p)
  local ptype = query_type(p, "product_type", static_types, "must be 14 or 25")
  local status = query_int(p, "status", nil, 1, 4, "must be one of 1, 2, 3, 4")
  local cc = present(p.country_code) and upper(p.country_code)
  local list = {}
  for _, entry in ipairs(state.static_ips) do
    if (not cc or entry.country_code == cc) and (not ptype or entry.product_type == ptype)
        and (not present(p.trade_no) or entry.trade_no == p.trade_no)
        and (not status or entry.status == status) then
      list[#list + 1] = entry
    end
  end
  return "data", page_of(list, p)
end)

local by_code = {}
for _, country in ipairs(data.countries) do by_code[country.country_code] = country end

local function states_of(country)
  if country then return country.states end
  local all = {}
  for _, c in ipairs(data.countries) do table.move(c.states, 1, #c.states, #all + 1, all) end
  return all
end

local function has(list, name)
  for _, v in ipairs(list) do if lower(v) == name then return true end end
end

route("GET", "/openapi/ip/v3", function(state, p)
  local num = query_int(p, "num", 1, 1, 500, "must be an integer from 1 to 500")
  query_int(p, "life", nil, 1, 1440, "must be an integer from 1 to 1440 (minutes)")
  local country
  if present(p.cc) then
    country = by_code[upper(p.cc)] or refuse("cc: unknown country or region '" .. shown(p.cc) .. "'")
  end
  local states = states_of(country)
  if present(p.state) then
    local matching = {}
    for _, s in ipairs(states) do
      if lower(s.code) == lower(p.state) then matching[#matching + 1] = s end
    end
    if not matching[1] then refuse("state: unknown state or province '" .. shown(p.state) .. "'") end
    states = matching
  end
  if present(p.city) then
    local known = false
    for _, s in ipairs(states) do known = known or has(s.cities, lower(p.city)) end
    if not known then refuse("city: unknown city '" .. shown(p.city) .. "'") end
  end
  state.extractions = state.extractions + 1
  local rand = data.rng(data.hash(state.seed, "extract", state.extractions))
  local list = data.addresses(rand, num, 1140, 1199)
  if not present(p.format) or lower(p.format) == "json" then return "data", { list = { list } } end
  return "text", concat(list, present(p.lb) and p.lb or "\r\n")
end)

-- The location lists never change: encode them once.
local function location_list(with_cities)
  local list = {}
  for _, c in ipairs(data.countries) do
    local items = {}
    for _, s in ipairs(c.states) do
      if with_cities then
        for _, city in ipairs(s.cities) do
          items[#items + 1] = { city = city, state = s.code, continent_code = c.continent_code,
                                country_code = c.country_code }
        end
      else
        items[#items + 1] = { state = s.code, continent_code = c.continent_code, country_code = c.country_code }
      end
    end
    list[#list + 1] = { name_zh_cn = c.name_zh_cn, name_en = c.name_en, continent_code = c.continent_code,
                        country_code = c.country_code, items = items }
  end
  return handlers.envelope(200, "success", { list = list })
end
local cities_body, states_body = location_list(true), location_list(false)

route("GET", "/openapi/ip/dynamic-citys", function() return "raw", cities_body end)
route("GET", "/openapi/ip/dynamic-states", function() return "raw", states_body end)

route("GET", "/openapi/ip/dynamic-citys/search", function(_, p)
  if not present(p.country_code) then refuse "country_code is required" end
  if not present(p.state) then refuse "state is required" end
  local country, list = by_code[upper(p.country_code)], {}
  for _, s in ipairs(country and country.states or {}) do
    if lower(s.code) == lower(p.state) then table.move(s.cities, 1, #s.cities, #list + 1, list) end
  end
  return "data", { list = array(list) }
end)

route("GET", "/openapi/ip/dynamic-states/search", function(_, p)
  if not present(p.country_code) then refuse "country_code is required" end
  local country, list = by_code[upper(p.country_code)], {}
  for _, s in ipairs(country and country.states or {}) do list[#list + 1] = s.code end
  return "data", { list = array(list) }
end)

-- State: accounts change; products and static IPs are fixed for a seed.
function handlers.new_state(opts)
  local state = { app_key = opts.app_key, seed = opts.seed or 1, empty = opts.empty,
                  initial_not_verified = opts.not_verified or false, version = 0 }
  local by_id_desc = function(a, b) return a.id > b.id end
  state.products = data.products(state.seed)
  state.static_ips = data.static_ips(state.seed, state.products)
  table.sort(state.products, by_id_desc)
  table.sort(state.static_ips, by_id_desc)
  handlers.reset(state)
  return state
end

function handlers.reset(state)
  local seeded = data.accounts(state.seed)
  state.accounts = state.empty and {} or seeded
  state.next_id = seeded[#seeded].id + 1
  state.extractions = 0
  state.not_verified = state.initial_not_verified
  reindex(state)
end

local json_type = "application/json; charset=utf-8"

-- One provider request -> HTTP status, body, content type, extra headers.
-- params: the query table for GET, the decoded body for POST (false when
-- the body is not a JSON object).
function handlers.handle(state, method, path, params)
  local r = routes[path]
  if not r then return 404, handlers.envelope(404, "not found"), json_type end
  if r.method ~= method then
    return 405, handlers.envelope(405, "method not allowed"), json_type, { Allow = r.method }
  end
  if not params then return 200, handlers.envelope(400, "request body must be a JSON object"), json_type end
  if params.app_key ~= state.app_key then return 200, handlers.envelope(3, "invalid app_key"), json_type end
  if method == "POST" and state.not_verified then
    return 200, handlers.envelope(156, "account not real-name verified"), json_type
  end
  local ok, kind, value = pcall(r.fn, state, params)
  if not ok then
    if getmetatable(kind) ~= Refusal then error(kind, 0) end
    return 200, handlers.envelope(400, kind.msg), json_type
  end
  if kind == "raw" then return 200, value, json_type end
  if kind == "text" then return 200, value, "text/plain; charset=utf-8" end
  return 200, handlers.envelope(200, "success", value), json_type
end

return handlers
