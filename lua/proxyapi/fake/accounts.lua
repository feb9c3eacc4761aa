-- The proxy accounts: the whitelist-account endpoints over the in-memory
-- list (ordered by id, indexed by name).
local cjson = require "cjson"
local data = require "proxyapi.fake.data"
local json = require "proxyapi.fake.json"
local params = require "proxyapi.fake.params"
local usage = require "proxyapi.fake.usage"

local match = string.match
local tointeger, mtype = math.tointeger, math.type
local null = cjson.null
local refuse, shown, present, is_alnum = params.refuse, params.shown, params.present, params.is_alnum
local need_string, check_remark = params.need_string, params.check_remark

local accounts = {}

local function changed(state) state.version = state.version + 1 end

function accounts.reindex(state)
  state.by_name = {}
  for _, account in ipairs(state.accounts) do state.by_name[account.username] = account end
  changed(state)
end
local reindex = accounts.reindex

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

local path = "/openapi/whitelist-account/"

-- route(method, path, fn) registers each endpoint.
function accounts.routes(route)
  route("GET", path .. "list", function(state)
    if state.list_version ~= state.version then
      state.list_body = json.envelope(200, "success", { list = json.array(state.accounts) })
      state.list_version = state.version
    end
    return "raw", state.list_body
  end)

  route("POST", path .. "add", function(state, p)
    local names = need_string(p, "accounts")
    if names == "" then refuse "accounts is required" end
    local remark = present(p.remark) and check_remark(p.remark) or ""
    local ptype = 9
    if p.product_type ~= nil and p.product_type ~= null then
      ptype = mtype(p.product_type) and tointeger(p.product_type)
      if not params.product_types[ptype] then refuse "product_type must be one of 9, 11, 14, 25" end
    end
    local new, seen = {}, {}
    for item in (names .. ","):gmatch "([^,]*)," do
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
    local created_at = data.format_time(state.clock:now())
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

  -- the account's usage history goes with it
  route("POST", path .. "delete", function(state, p)
    local gone = {}
    for _, account in ipairs(named_accounts(state, p)) do gone[account] = true end
    local kept = {}
    for _, account in ipairs(state.accounts) do
      if gone[account] then
        usage.forget(state, account)
      else
        kept[#kept + 1] = account
      end
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
  route("POST", path .. "disable", set_status(0))
  route("POST", path .. "enable", set_status(1))

  route("POST", path .. "change-password", function(state, p)
    local account = account_named(state, need_string(p, "account"))
    local password = need_string(p, "password")
    if not is_alnum(password) then refuse "password must be letters and digits only" end
    account.password = password
    changed(state)
    return "data", nil
  end)

  route("POST", path .. "change-remark", function(state, p)
    local account = account_named(state, need_string(p, "account"))
    account.remark = check_remark(need_string(p, "remark"))
    changed(state)
    return "data", nil
  end)

  route("POST", path .. "change-limit", function(state, p)
    local account = account_named(state, need_string(p, "account"))
    local limit = p.limit
    if limit == nil or limit == null then refuse "limit is required" end
    limit = mtype(limit) and tointeger(limit)
    if not limit or limit < 0 or limit > 102400 then refuse "limit must be an integer from 0 to 102400 (GB)" end
    account.limit_flow = limit
    changed(state)
    return "data", nil
  end)
end

-- The seeded accounts (none when the fake starts empty); ids go on after the seeded ones.
function accounts.reset(state)
  local seeded = data.accounts(state.seed)
  state.accounts = state.empty and {} or seeded
  state.next_id = seeded[#seeded].id + 1
  reindex(state)
end

return accounts
