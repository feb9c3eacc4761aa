-- Writes the benchmark's ~200 KB GET /openapi/ip/dynamic-citys reply.
--
--   lua5.4 scripts/bench/gen-cities.lua OUT.json [BYTES]
--
-- The shape and the seed data are the fake API's (proxyapi.fake.data):
-- one table per country with its `items`, each item a city with its state,
-- continent and country codes. The fake knows ~14 KB of cities; the real
-- service lists far more, so each city is followed by districts of it
-- ("Houston North", ...), added round by round until the reply reaches
-- BYTES (default 200 KiB). The output is the same on every run.

local dir = (arg and arg[0] or ""):match "^(.*)/[^/]*$" or "."
package.path = dir .. "/../../lua/?.lua;" .. dir .. "/../../lua/?/init.lua;" .. package.path

local cjson = require "cjson"
local data = require "proxyapi.fake.data"

local out_path = arg[1]
local target = math.tointeger(tonumber(arg[2] or "")) or 200 * 1024
if not out_path then
  io.stderr:write("usage: gen-cities.lua OUT.json [BYTES]\n")
  os.exit(2)
end

local DISTRICTS = {
  "North", "South", "East", "West", "Central", "Downtown", "Old Town", "Heights", "Park",
  "Hills", "Harbor", "Airport", "University", "Riverside", "Lakeside", "Industrial",
  "Garden District", "Station", "New Town", "Uptown",
}

-- The countries as the fake lists them, items still empty.
local list = {}
for _, c in ipairs(data.countries) do
  list[#list + 1] = { name_zh_cn = c.name_zh_cn, name_en = c.name_en, continent_code = c.continent_code,
                      country_code = c.country_code, items = {} }
end

local function reply()
  return cjson.encode { code = 200, msg = "success", data = { list = list } }
end

-- Round 0 is the fake's own cities, then one district of every city per
-- round; each item's encoded size (plus its comma) is counted as it goes.
local size = #reply() -- an empty items table encodes as {}, as long as []
local done = false
for round = 0, #DISTRICTS do
  for k, c in ipairs(data.countries) do
    local items = list[k].items
    for _, s in ipairs(c.states) do
      for _, city in ipairs(s.cities) do
        local item = { city = round == 0 and city or city .. " " .. DISTRICTS[round], state = s.code,
                       continent_code = c.continent_code, country_code = c.country_code }
        items[#items + 1] = item
        size = size + #cjson.encode(item) + (#items > 1 and 1 or 0)
        if size >= target then
          done = true
          break
        end
      end
      if done then break end
    end
    if done then break end
  end
  if done then break end
end

local text = reply()
local f = assert(io.open(out_path, "wb"))
assert(f:write(text))
assert(f:close())
io.stdout:write(string.format("gen-cities: %s: %d bytes\n", out_path, #text))
