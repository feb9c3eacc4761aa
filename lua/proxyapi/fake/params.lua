-- Checking the parameters of provider requests. A refusal is raised as a
-- table (handlers turn it into code 400) so that validation reads top to
-- bottom.
local cjson = require "cjson"
local data = require "proxyapi.fake.data"
local json = require "proxyapi.fake.json"

local find = string.find
local tointeger = math.tointeger
local null = cjson.null

local params = {}

params.Refusal = {}

function params.refuse(msg) error(setmetatable({ msg = msg }, params.Refusal), 0) end
local refuse = params.refuse

params.product_types = { [9] = true, [11] = true, [14] = true, [25] = true }
params.static_types = { [14] = true, [25] = true }

function params.shown(s)
  s = tostring(s)
  return #s > 40 and s:sub(1, 40) .. "..." or s
end

function params.present(v) return v ~= nil and v ~= null and v ~= "" end
local present = params.present

function params.is_alnum(s) return type(s) == "string" and s ~= "" and not find(s, "[^0-9A-Za-z]") end

function params.need_string(p, name)
  local v = p[name]
  if v == nil or v == null then refuse(name .. " is required") end
  if type(v) ~= "string" then refuse(name .. " must be a string") end
  return v
end

function params.check_remark(remark)
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

-- An integer from a query string: digits only, within lo..hi.
function params.query_int(p, name, default, lo, hi, problem)
  local v = p[name]
  if not present(v) then return default end
  local n = type(v) == "string" and #v <= 9 and find(v, "^%d+$") and tointeger(tonumber(v))
  if not n or n < lo or (hi and n > hi) then refuse(name .. " " .. problem) end
  return n
end

function params.query_type(p, name, allowed, problem)
  local n = params.query_int(p, name, nil, 0, nil, problem)
  if n and not allowed[n] then refuse(name .. " " .. problem) end
  return n
end

function params.query_time(p, name)
  if not present(p[name]) then return nil end
  return data.parse_time(p[name]) or refuse(name .. " must be a real time as YYYY-MM-DD HH:MM:SS")
end

function params.page_of(list, p)
  local page = params.query_int(p, "page", 1, 1, nil, "must be a positive integer")
  local size = params.query_int(p, "size", 20, 1, 100, "must be an integer from 1 to 100")
  local items = {}
  for i = (page - 1) * size + 1, math.min(page * size, #list) do items[#items + 1] = list[i] end
  return { list = json.array(items), page = page, page_size = size, total_count = #list,
           total_page = (#list + size - 1) // size }
end

return params
