--- Error objects for run-time failures, and scrubbing of the app_key.
-- Run-time failures are returned as `nil, err`; `err` is a table with a
-- `__tostring`, so `assert(api:list_accounts())` prints a readable line.
-- @module proxyapi.errors

local setmetatable, getmetatable = setmetatable, getmetatable
local tostring, type = tostring, type
local format, gsub = string.format, string.gsub

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

local function plain_pattern(s)
  return (gsub(s, "[%^%$%(%)%%%.%[%]%*%+%-%?]", "%%%0"))
end

local function percent_encoded(s, hex_format)
  return (gsub(s, "[^%w%-_%.~]", function(c)
    return format(hex_format, c:byte())
  end))
end

--- Returns a function that removes every form of `key` (raw, and
-- percent-encoded in upper and lower case) from a string.
function errors.scrubber(key)
  local patterns = { plain_pattern(key) }
  for _, hex in ipairs { "%%%02X", "%%%02x" } do
    local encoded = percent_encoded(key, hex)
    if encoded ~= key then
      patterns[#patterns + 1] = plain_pattern(encoded)
    end
  end
  return function(text)
    if type(text) ~= "string" then
      return text
    end
    for i = 1, #patterns do
      text = gsub(text, patterns[i], "***")
    end
    return text
  end
end

return errors
