-- Writes the three ~10 MB list_accounts replies of the peak-memory row:
-- numbers (data.list of zeros), strings (a list of distinct short
-- strings) and accounts (account tables shaped like the provider's,
-- from scripts/bench/list_accounts.json, with ids, names and counters
-- varied). The output is the same on every run.
--
--   lua5.4 scripts/bench/gen-shapes.lua DIR [BYTES]
--
-- Writes DIR/numbers.json, DIR/strings.json, DIR/accounts.json.

local dir = (arg and arg[0] or ""):match "^(.*)/[^/]*$" or "."
local cjson = require "cjson"

local out_dir = arg[1]
local target = math.tointeger(tonumber(arg[2] or "")) or 10 * 1000 * 1000
if not out_dir then
  io.stderr:write("usage: gen-shapes.lua DIR [BYTES]\n")
  os.exit(2)
end

local HEAD, TAIL = '{"code":200,"data":{"list":[', "]}}"

-- The reply of items item(1), item(2), ... until it is `target` bytes.
local function write(name, item)
  local parts, size, i = {}, #HEAD + #TAIL, 0
  while size < target do
    i = i + 1
    local s = item(i)
    parts[i] = s
    size = size + #s + (i > 1 and 1 or 0)
  end
  local text = HEAD .. table.concat(parts, ",") .. TAIL
  local path = out_dir .. "/" .. name .. ".json"
  local f = assert(io.open(path, "wb"))
  assert(f:write(text))
  assert(f:close())
  io.stdout:write(string.format("gen-shapes: %s: %d bytes, %d items\n", path, #text, i))
end

write("numbers", function()
  return "0"
end)

local WORDS = { "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel" }
write("strings", function(i)
  return string.format('"%s-%07d"', WORDS[i % #WORDS + 1], i)
end)

local f = assert(io.open(dir .. "/list_accounts.json", "rb"))
local accounts = cjson.decode(f:read("a")).data.list
f:close()
write("accounts", function(i)
  local a = accounts[i % #accounts + 1]
  return cjson.encode {
    username = string.format("%s%d", a.username, i), id = 3000 + i, password = a.password, status = i % 2,
    usage_flow = (a.usage_flow * 7 + i * 104729) % 99999999, product_type = a.product_type,
    created_at = a.created_at, limit_flow = i % 3 * 50, remark = a.remark,
  }
end)
