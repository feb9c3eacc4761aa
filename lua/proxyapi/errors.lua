--- Error objects for run-time failures. They are returned as `nil, err`;
-- `err` is a table with a `__tostring`, so `assert(api:list_accounts())`
-- prints a readable line. (The app_key is scrubbed from their messages by
-- the core, which holds it: proxyapi.transport.)
-- @module proxyapi.errors

local setmetatable, getmetatable = setmetatable, getmetatable
local tostring, type, next = tostring, type, next
local format = string.format

local Error = { __name = "proxyapi.Error" }
Error.__index = Error

local function describe(err)
  local kind = err.kind
  if kind == "api" then
    return format("api code %s: %s", tostring(err.code), err.msg or "")
  elseif kind == "http" then
    if err.code ~= nil then
      return format("http %s: api code %s: %s", tostring(err.status), tostring(err.code), err.msg or "")
    end
    return format("http %s: %s", tostring(err.status), err.msg or "")
  end
  return format("%s: %s", tostring(kind), err.msg or "")
end

function Error.__tostring(err)
  if err.endpoint == nil and (err.kind == "usage" or err.kind == "journal") then
    return "proxyapi: " .. (err.msg or "")
  end
  local text = format("proxyapi: %s: %s", err.endpoint or "?", describe(err))
  if (err.attempts or 1) > 1 then
    text = format("%s (%d attempts)", text, err.attempts)
  end
  if err.failed and #err.failed > 0 then
    text = format("%s (%d %s failed)", text, #err.failed, #err.failed == 1 and "account" or "accounts")
  end
  return text
end

local errors = {}

--- Makes an error object from a table of fields (kind, msg, endpoint, …).
function errors.new(fields)
  return setmetatable(fields, Error)
end

--- True for the error objects this library returns.
function errors.is_error(value)
  return type(value) == "table" and getmetatable(value) == Error
end

--- The exit status for an error kind (the contract's table): 4 the API
-- refused, 5 network, timeout, HTTP or protocol, 2 usage or configuration
-- (a journal that cannot be written, too), 130 cancelled by an interrupt.
errors.EXIT = { api = 4, network = 5, timeout = 5, http = 5, protocol = 5, usage = 2, journal = 2,
                cancelled = 130 }

local function code_of(err)
  if not errors.is_error(err) then
    return 1 -- something raised that is not ours: a bug
  end
  if err.failed and err.succeeded and #err.succeeded > 0 then
    return 3 -- a batch that went through in part
  end
  if err.kind == "cancelled" then
    local stopped, sig = require("proxyapi.core").interrupted()
    return stopped and 128 + sig or errors.EXIT.cancelled
  end
  return errors.EXIT[err.kind] or 1
end

--- Maps outcomes to an exit status: `exit_code(results, errs)` of a map
-- (0 when nothing failed, 3 when some items failed, else the first failed
-- item's kind decides), `exit_code(nil, err)` or `exit_code(err)` of a
-- call, `exit_code(true)` of a success.
function errors.exit_code(first, second)
  if type(second) == "table" and not errors.is_error(second) then
    local n, failed, first_failed = first and first.n or 0, 0, nil
    for i in next, second do
      failed = failed + 1
      if math.type(i) == "integer" and (first_failed == nil or i < first_failed) then
        first_failed = i
      end
    end
    if failed == 0 then
      return 0
    elseif failed < n then
      return 3
    end
    return code_of(second[first_failed])
  end
  local err = errors.is_error(first) and first or second
  if err == nil then
    return 0
  end
  return code_of(err)
end

--- An error object for a usage or configuration problem (exit status 2).
function errors.usage(msg)
  return errors.new { kind = "usage", msg = msg }
end

return errors
