--- Results: from a reply's `data` to what a method returns, by the
-- `result` kind of its endpoint. Each shape returns the result, or nil and
-- why the reply has the wrong shape (the caller makes that a "protocol"
-- error: nothing is dropped silently).
-- @module proxyapi.shapes

local net = require "proxyapi.net"

local type, ipairs, next = type, ipairs, next
local format, find, sub, gsub, match = string.format, string.find, string.sub, string.gsub, string.match
local math_type = math.type

local shapes = {}

-- lua-cjson decodes JSON arrays and objects alike as tables: an array has
-- items 1..n, an object has other keys (an empty one is both, and fine).
local function is_object(t)
  return t[1] == nil
end

local function is_array(t)
  return t[1] ~= nil or next(t) == nil
end

local function list_of(data)
  if type(data) == "table" and data[1] == nil then
    local list = data.list
    if type(list) == "table" and (list[1] ~= nil or next(list) == nil) then
      return list -- the usual case, first
    end
  end
  if data == nil then
    return {}
  end
  if type(data) ~= "table" then
    return nil, format("unexpected reply: data is a %s, expected an object", type(data))
  end
  if not is_object(data) then
    return nil, "unexpected reply: data is an array, expected an object"
  end
  local list = data.list
  if list == nil then
    return {}
  end
  if type(list) ~= "table" then
    return nil, format("unexpected reply: data.list is a %s, expected an array", type(list))
  end
  return nil, "unexpected reply: data.list is an object, expected an array"
end

--- Writes: true, whatever `data` holds.
function shapes.ok()
  return true
end

--- `data.list`: an array ({} when missing or null).
shapes.list = list_of

local PAGE_FIELDS = { "page", "page_size", "total_count", "total_page" }

--- A page table: `list` and the integer counters the reply has.
function shapes.page(data)
  local list, msg = list_of(data)
  if list == nil then
    return nil, msg
  end
  local page = { list = list }
  if data ~= nil then
    for _, field in ipairs(PAGE_FIELDS) do
      local v = data[field]
      if v ~= nil and math_type(v) ~= "integer" then
        return nil, format("unexpected reply: data.%s is not an integer", field)
      end
      page[field] = v
    end
  end
  return page
end

--- `data` as decoded, or true when it is null.
function shapes.data(data)
  if data == nil then
    return true
  end
  return data
end

local function host_port(item)
  if not net.host_port(item) then
    return nil, format("unexpected reply: %q is not host:port", #item > 40 and sub(item, 1, 40) .. "..." or item)
  end
  return item
end

local function split_text(text, separator)
  local ips, n, init = {}, 0, 1
  local pattern, plain = separator, true
  if separator == nil then
    pattern, plain = "\r?\n", false
    text = gsub(text, "\r\n?", "\n")
  end
  while true do
    local i, j = find(text, pattern, init, plain)
    local item = match(sub(text, init, (i or 0) - 1), "^%s*(.-)%s*$")
    if item ~= "" then
      local ip, msg = host_port(item)
      if ip == nil then
        return nil, msg
      end
      n = n + 1
      ips[n] = ip
    end
    if i == nil then
      return ips
    end
    init = j + 1
  end
end

--- IP extraction: a list of "host:port" strings or of lists of them
-- (flattened), or the text of a text-format reply split on `separator`
-- (default: any line break). Anything that is not host:port is an error.
-- @param data the decoded data, or the text
-- @tparam ?string separator
-- @tparam ?boolean is_text
function shapes.ips(data, separator, is_text)
  if is_text then
    return split_text(data, separator)
  end
  local list, msg = list_of(data)
  if list == nil then
    return nil, msg
  end
  local ips, n = {}, 0
  local function add(ip)
    if type(ip) ~= "string" then
      return nil, "unexpected reply: an IP is not a string"
    end
    n = n + 1
    ips[n] = ip
    return host_port(ip)
  end
  for _, item in ipairs(list) do
    local ok, why
    if type(item) == "table" and is_array(item) then
      for _, ip in ipairs(item) do
        ok, why = add(ip)
        if not ok then
          return nil, why
        end
      end
    else
      ok, why = add(item)
      if not ok then
        return nil, why
      end
    end
  end
  return ips
end

return shapes
