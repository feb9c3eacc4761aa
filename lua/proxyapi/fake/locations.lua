-- Where proxies come from: IP extraction and the country, state and city
-- lists with their searches.
local data = require "proxyapi.fake.data"
local json = require "proxyapi.fake.json"
local params = require "proxyapi.fake.params"

local lower, upper, concat = string.lower, string.upper, table.concat
local refuse, shown, present = params.refuse, params.shown, params.present

local locations = {}

local by_code = {}
for _, country in ipairs(data.countries) do by_code[country.country_code] = country end

local function states_of(country)
  if country then return country.states end
  local all = {}
  for _, c in ipairs(data.countries) do table.move(c.states, 1, #c.states, #all + 1, all) end
  return all
end

local function has(list, name)
  for _, v in ipairs(list) do if lower(v) == name then return true end end
end

-- The location lists never change: encode them once.
local function location_list(with_cities)
  local list = {}
  for _, c in ipairs(data.countries) do
    local items = {}
    for _, s in ipairs(c.states) do
      if with_cities then
        for _, city in ipairs(s.cities) do
          items[#items + 1] = { city = city, state = s.code, continent_code = c.continent_code,
                                country_code = c.country_code }
        end
      else
        items[#items + 1] = { state = s.code, continent_code = c.continent_code, country_code = c.country_code }
      end
    end
    list[#list + 1] = { name_zh_cn = c.name_zh_cn, name_en = c.name_en, continent_code = c.continent_code,
                        country_code = c.country_code, items = items }
  end
  return json.envelope(200, "success", { list = list })
end
local cities_body, states_body = location_list(true), location_list(false)

function locations.routes(route)
  route("GET", "/openapi/ip/v3", function(state, p)
    local num = params.query_int(p, "num", 1, 1, 500, "must be an integer from 1 to 500")
    params.query_int(p, "life", nil, 1, 1440, "must be an integer from 1 to 1440 (minutes)")
    local country
    if present(p.cc) then
      country = by_code[upper(p.cc)] or refuse("cc: unknown country or region '" .. shown(p.cc) .. "'")
    end
    local states = states_of(country)
    if present(p.state) then
      local matching = {}
      for _, s in ipairs(states) do
        if lower(s.code) == lower(p.state) then matching[#matching + 1] = s end
      end
      if not matching[1] then refuse("state: unknown state or province '" .. shown(p.state) .. "'") end
      states = matching
    end
    if present(p.city) then
      local known = false
      for _, s in ipairs(states) do known = known or has(s.cities, lower(p.city)) end
      if not known then refuse("city: unknown city '" .. shown(p.city) .. "'") end
    end
    state.extractions = state.extractions + 1
    local rand = data.rng(data.hash(state.seed, "extract", state.extractions))
    local list = data.addresses(rand, num, 1140, 1199)
    if not present(p.format) or lower(p.format) == "json" then return "data", { list = { list } } end
    return "text", concat(list, present(p.lb) and p.lb or "\r\n")
  end)

  route("GET", "/openapi/ip/dynamic-citys", function() return "raw", cities_body end)
  route("GET", "/openapi/ip/dynamic-states", function() return "raw", states_body end)

  route("GET", "/openapi/ip/dynamic-citys/search", function(_, p)
    if not present(p.country_code) then refuse "country_code is required" end
    if not present(p.state) then refuse "state is required" end
    local country, list = by_code[upper(p.country_code)], {}
    for _, s in ipairs(country and country.states or {}) do
      if lower(s.code) == lower(p.state) then table.move(s.cities, 1, #s.cities, #list + 1, list) end
    end
    return "data", { list = json.array(list) }
  end)

  route("GET", "/openapi/ip/dynamic-states/search", function(_, p)
    if not present(p.country_code) then refuse "country_code is required" end
    local country, list = by_code[upper(p.country_code)], {}
    for _, s in ipairs(country and country.states or {}) do list[#list + 1] = s.code end
    return "data", { list = json.array(list) }
  end)
end

return locations
