-- JSON for the fake: the provider's envelope, lists that stay lists when
-- empty, and reading request bodies.
local cjson = require "cjson"

local find, gsub = string.find, string.gsub

local json = {}

json.TYPE = "application/json; charset=utf-8"

-- cjson writes an empty Lua table as {}; lists that may be empty go through
-- array(), whose marker (a control character no remark may hold) becomes [].
local EMPTY_MARK = "\1proxyapi_fake_empty_array\1"
local EMPTY_JSON = '"\\u0001proxyapi_fake_empty_array\\u0001"'

function json.array(t)
  if t[1] == nil then return EMPTY_MARK end
  return t
end

function json.encode(value)
  local s = cjson.encode(value)
  if find(s, EMPTY_JSON, 1, true) then s = gsub(s, EMPTY_JSON, "[]") end
  return s
end

function json.envelope(code, msg, value)
  if value == nil then value = cjson.null end
  return json.encode { code = code, msg = msg, data = value }
end

-- The decoded body when it is a JSON object, else false.
function json.object(body)
  if not find(body, "^%s*{") then return false end
  local ok, value = pcall(cjson.decode, body)
  return ok and type(value) == "table" and value
end

return json
