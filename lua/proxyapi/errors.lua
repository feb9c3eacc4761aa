--- Error objects for run-time failures. They are returned as `nil, err`;
-- `err` is a table with a `__tostring`, so `assert(api:list_accounts())`
-- prints a readable line. (The app_key is scrubbed from their messages by
-- the core, which holds it: proxyapi.transport.)
-- @module proxyapi.errors

local setmetatable, getmetatable = setmetatable, getmetatable
local tostring, type = tostring, type
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

return errors
