--- The argument rules of accounts: names, passwords, lists of names and
-- the accounts of add. They are part of proxyapi.check, which loads this
-- file once its own base rules (shown, got, is_array) are in place.
-- @module proxyapi.check

local check = require "proxyapi.check"
local core = require "proxyapi.core"

local type, format = type, string.format
-- non-empty ASCII letters and digits (in the core: it runs on every name)
local is_alnum = core.is_alnum

--- An account name: ASCII letters and digits, non-empty.
-- @param value
-- @return the value as it goes on the wire
-- @return[2] nil
-- @treturn[2] string what is wrong
-- @usage assert(check.name(row[1]))
function check.name(value)
  if type(value) ~= "string" then
    return nil, format("account name: string expected, got %s", check.got(value))
  end
  if not is_alnum(value) then
    if value == "" then
      return nil, "account name: empty"
    end
    return nil, format("account %s: letters and digits only", check.shown(value))
  end
  return value
end

--- A password: ASCII letters and digits, non-empty. Never echoed.
-- @param value
-- @tparam[opt="password"] string label names it in the message
-- @return the value as it goes on the wire
-- @return[2] nil
-- @treturn[2] string what is wrong
-- @usage local ok, why = check.password(pw, "password of 'team1'")
function check.password(value, label)
  label = label or "password"
  if type(value) ~= "string" then
    return nil, format("%s: string expected, got %s", label, check.got(value))
  end
  if value == "" then
    return nil, label .. ": empty"
  end
  if not is_alnum(value) then
    return nil, label .. ": letters and digits only"
  end
  return value
end

--- One name, or an array of names; returns an array.
-- @tparam string|{string,...} value
-- @treturn {string,...} the names
-- @return[2] nil
-- @treturn[2] string what is wrong
-- @usage check.names "team1" --> {"team1"}
function check.names(value)
  if type(value) == "string" then
    if is_alnum(value) then
      return { value }
    end
    return check.name(value) -- nil and what is wrong
  end
  if type(value) ~= "table" then
    return nil, format("account name or array of names expected, got %s", check.got(value))
  end
  local n = #value
  if n == 0 then
    return nil, "no account names given"
  end
  local names = {}
  for i = 1, n do
    local name, msg = check.name(value[i])
    if not name then
      if type(value[i]) ~= "string" then
        return nil, format("account #%d: string expected, got %s", i, check.got(value[i]))
      end
      return nil, msg
    end
    names[i] = name
  end
  if not check.is_array(value, n) then
    return nil, "array of names expected, the table has other keys"
  end
  return names
end

--- Accounts for add: `{username=, password=}` tables or "user:pass"
-- strings. Returns an array of "user:pass" strings and one of usernames.
-- @tparam {table|string,...} value
-- @treturn {string,...} "user:pass" strings
-- @treturn {string,...} the usernames
-- @return[2] nil
-- @treturn[2] string what is wrong
-- @usage check.accounts { "u1:p1", { username = "u2", password = "p2" } }
function check.accounts(value)
  if type(value) ~= "table" then
    return nil, format("array of accounts expected, got %s", check.got(value))
  end
  local n = #value
  if n == 0 then
    return nil, "no accounts given"
  end
  if not check.is_array(value, n) then
    return nil, "array of accounts expected, the table has other keys"
  end
  local pairs_out, names = {}, {}
  for i = 1, n do
    local item = value[i]
    local user, pass
    if type(item) == "string" then
      user, pass = item:match("^([^:]*):(.*)$")
      if not user then
        return nil, format("account #%d: \"user:pass\" expected", i)
      end
    elseif type(item) == "table" then
      user, pass = item.username, item.password
    else
      return nil, format("account #%d: table or \"user:pass\" string expected, got %s", i, check.got(item))
    end
    local name, msg = check.name(user)
    if not name then
      return nil, type(user) == "string" and msg or format("account #%d: username: %s", i, msg)
    end
    local _, pmsg = check.password(pass, format("password of account '%s'", name))
    if pmsg then
      return nil, pmsg
    end
    pairs_out[i], names[i] = name .. ":" .. pass, name
  end
  return pairs_out, names
end


return check
