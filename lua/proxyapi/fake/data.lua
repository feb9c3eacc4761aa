-- Seeded, deterministic data for the fake: the same seed gives the same
-- accounts, products, static IPs and usage, on any machine and at any time
-- (dates of seeded records are fixed, not relative to today; what moves
-- with the fake's clock is in usage.lua and packages.lua).
local places = require "proxyapi.fake.places"

local byte, char, format, floor = string.byte, string.char, string.format, math.floor
local concat = table.concat

local data = {}

-- splitmix64 on Lua 5.4's wrapping 64-bit integers; our own state, so that
-- neither the data nor the callers disturb math.random.
function data.rng(seed)
  local x = math.tointeger(seed) or 0
  return function(lo, hi)
    x = x + 0x9E3779B97F4A7C15
    local z = x
    z = (z ~ (z >> 30)) * 0xBF58476D1CE4E5B9
    z = (z ~ (z >> 27)) * 0x94D049BB133111EB
    z = z ~ (z >> 31)
    return lo + (z >> 1) % (hi - lo + 1)
  end
end

-- FNV-1a over the arguments, to derive independent streams from one seed.
function data.hash(...)
  local h = 0xcbf29ce484222325
  local s = concat({ ... }, "\0")
  for i = 1, #s do
    h = (h ~ byte(s, i)) * 0x100000001b3
  end
  return h
end

-- Calendar arithmetic on "naive" seconds (local wall-clock time counted as if
-- it were UTC), so that no time zone or DST rule moves seeded dates.
function data.days_from_civil(y, m, d)
  y = m <= 2 and y - 1 or y
  local era = floor(y / 400)
  local yoe = y - era * 400
  local doy = (153 * (m > 2 and m - 3 or m + 9) + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  return era * 146097 + doe - 719468
end

function data.civil_from_days(z)
  z = z + 719468
  local era = floor(z / 146097)
  local doe = z - era * 146097
  local yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
  local doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
  local mp = (5 * doy + 2) // 153
  local d = doy - (153 * mp + 2) // 5 + 1
  local m = mp < 10 and mp + 3 or mp - 9
  return yoe + era * 400 + (m <= 2 and 1 or 0), m, d
end

function data.format_day(day)
  return format("%04d-%02d-%02d", data.civil_from_days(day))
end

function data.format_time(t)
  local day, s = t // 86400, t % 86400
  return format("%s %02d:%02d:%02d", data.format_day(day), s // 3600, s % 3600 // 60, s % 60)
end

local month_days = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 }

-- "YYYY-MM-DD HH:MM:SS" naming a real time -> naive seconds, or nil.
function data.parse_time(s)
  if type(s) ~= "string" then return nil end
  local y, m, d, hh, mm, ss = s:match "^(%d%d%d%d)%-(%d%d)%-(%d%d) (%d%d):(%d%d):(%d%d)$"
  if not y then return nil end
  y, m, d, hh, mm, ss = tonumber(y), tonumber(m), tonumber(d), tonumber(hh), tonumber(mm), tonumber(ss)
  local leap = y % 4 == 0 and (y % 100 ~= 0 or y % 400 == 0)
  if m < 1 or m > 12 or d < 1 or hh > 23 or mm > 59 or ss > 59 then return nil end
  if d > month_days[m] + ((m == 2 and leap) and 1 or 0) then return nil end
  return data.days_from_civil(y, m, d) * 86400 + hh * 3600 + mm * 60 + ss
end

function data.now()
  local t = os.date "*t"
  return data.days_from_civil(t.year, t.month, t.day) * 86400 + t.hour * 3600 + t.min * 60 + t.sec
end

-- Countries with their states and cities, in the shapes the endpoints use.
data.countries = {}
for _, row in ipairs(places) do
  local country = { country_code = row[1], name_en = row[2], name_zh_cn = row[3],
                    continent_code = row[4], states = {} }
  for _, srow in ipairs(row[5]) do
    country.states[#country.states + 1] = { code = srow[1], cities = { table.unpack(srow, 2) } }
  end
  data.countries[#data.countries + 1] = country
end

local alnum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

function data.alnum(rand, n)
  local t = {}
  for i = 1, n do
    local k = rand(1, #alnum)
    t[i] = alnum:sub(k, k)
  end
  return concat(t)
end

local function digits(rand, n)
  local t = {}
  for i = 1, n do t[i] = char(48 + rand(0, 9)) end
  return concat(t)
end

local function pick(rand, list) return list[rand(1, #list)] end

-- First octets of big public allocations only: no private, loopback, CGNAT,
-- link-local, documentation, benchmarking or multicast space can come out.
local public_octets = {
  23, 24, 31, 37, 45, 46, 49, 58, 59, 62, 66, 68, 71, 73, 76, 77, 78, 79, 80,
  81, 82, 83, 84, 85, 86, 87, 88, 89, 90, 91, 93, 94, 95, 98, 99, 101, 103,
  104, 107, 108, 109, 110, 112, 113, 114, 115, 116, 118, 119, 121, 122, 124,
  125, 138, 139, 142, 146, 149, 150, 151, 152, 154, 156, 158, 162, 165, 167,
  173, 174, 175, 176, 177, 178, 179, 180, 181, 182, 185, 186, 187, 188, 189,
  190, 191, 193, 194, 195, 196, 197, 200, 201, 202, 206, 207, 208, 209, 210,
  211, 212, 213, 217, 218, 219, 220, 221, 222,
}

function data.ip(rand)
  return format("%d.%d.%d.%d", pick(rand, public_octets), rand(0, 255), rand(0, 255), rand(1, 254))
end

-- num distinct "ip:port" strings; a few gateway IPs, each with many ports, as
-- the provider's example reply shows.
function data.addresses(rand, num, lo_port, hi_port)
  local seen, list = {}, {}
  local gateway = data.ip(rand)
  while #list < num do
    if rand(1, 8) == 1 then gateway = data.ip(rand) end
    local addr = gateway .. ":" .. rand(lo_port, hi_port)
    if not seen[addr] then
      seen[addr] = true
      list[#list + 1] = addr
    end
  end
  return list
end

local seeded_names = { "shop01", "crawler", "seoteam", "mobile88", "priceWatch",
                       "adverify", "market2024", "scraper7", "social01", "tester" }
local seeded_remarks = { "", "电商价格监控", "SEO rank tracking", "测试账号",
                         "ad verification 广告验证", "社媒运营", "price monitor EU" }
local base_day = data.days_from_civil(2024, 1, 1)

-- A few proxy accounts, ordered by id.
function data.accounts(seed)
  local rand = data.rng(data.hash(seed, "accounts"))
  local names = { table.unpack(seeded_names) }
  local list = {}
  local disabled = rand(1, 5)
  for i = 1, 5 do
    local name = table.remove(names, rand(1, #names))
    list[i] = {
      username = name, password = data.alnum(rand, 12),
      created_at = data.format_time((base_day + rand(0, 540)) * 86400 + rand(0, 86399)),
      remark = pick(rand, seeded_remarks),
      product_type = i == 4 and 11 or 9,
      usage_flow = rand(0, 50 * 1024 * 1024),
      limit_flow = pick(rand, { 0, 0, 10, 50, 100, 500 }),
      status = i == disabled and 0 or 1,
    }
  end
  -- ids grow with creation time, as an auto-increment column's would
  table.sort(list, function(a, b) return a.created_at < b.created_at end)
  local id = rand(1000, 9000)
  for _, account in ipairs(list) do
    id = id + rand(1, 40)
    account.id = id
  end
  return list
end

local titles = {
  [9] = { "入门级", "基础版", "进阶版", "专业版", "企业版" },
  [11] = { "动态住宅IP 日卡", "动态住宅IP 周卡", "动态住宅IP 月卡" },
  [14] = { "静态数据中心IP 30天", "静态数据中心IP 90天" },
  [25] = { "静态住宅IP 30天", "静态住宅IP 60天", "静态住宅IP 90天" },
}
local lifetimes = { [9] = { 30, 90, 180, 365 }, [11] = { 1, 7, 30 }, [14] = { 30, 90 }, [25] = { 30, 60, 90 } }
local product_types = { 9, 11, 14, 25 }

-- 45 purchased packages over all four product types, ids ascending in time.
function data.products(seed)
  local rand = data.rng(data.hash(seed, "products"))
  local times = {}
  for i = 1, 45 do times[i] = (base_day + rand(0, 640)) * 86400 + rand(0, 86399) end
  table.sort(times)
  local list, id = {}, rand(20000, 30000)
  for i, ordered in ipairs(times) do
    local ptype = i <= 4 and product_types[i] or pick(rand, { 9, 9, 9, 11, 14, 25, 25 })
    local paid = ordered + rand(0, 90)
    local start = paid + rand(5, 60)
    id = id + rand(1, 300)
    list[i] = {
      id = id, product_type = ptype,
      created_at = data.format_time(start),
      expired_at = data.format_time(start + pick(rand, lifetimes[ptype]) * 86400),
      trade_no = data.format_time(ordered):gsub("%D", "") .. digits(rand, 14),
      order = { created_at = data.format_time(ordered), pay_at = data.format_time(paid),
                title = pick(rand, titles[ptype]) },
    }
  end
  return list
end

-- 60 static IPs, each bought with one of the static products (14 or 25).
function data.static_ips(seed, products)
  local rand = data.rng(data.hash(seed, "static"))
  local owners = {}
  for _, p in ipairs(products) do
    if p.product_type == 14 or p.product_type == 25 then owners[#owners + 1] = p end
  end
  local list, id = {}, rand(500, 5000)
  for i = 1, 60 do
    local product = pick(rand, owners)
    local country = pick(rand, data.countries)
    local state = pick(rand, country.states)
    id = id + rand(1, 9)
    list[i] = {
      id = id, ip = data.ip(rand), port = rand(10000, 60000),
      username = "st" .. data.alnum(rand, 8):lower(), password = data.alnum(rand, 10),
      country_code = country.country_code, city = pick(rand, state.cities),
      product_type = product.product_type, trade_no = product.trade_no,
      status = i <= 4 and i or pick(rand, { 1, 1, 1, 1, 1, 2, 2, 3, 3, 4 }),
      created_at = product.created_at, expired_at = product.expired_at,
    }
  end
  return list
end

-- A package bought while the fake runs (the n-th one since the start): it
-- takes effect now and expires `seconds` later; its id follows top_id.
function data.bought_product(seed, n, ptype, now, seconds, top_id)
  local rand = data.rng(data.hash(seed, "bought", n))
  local at = data.format_time(now)
  return {
    id = top_id + rand(1, 300), product_type = ptype, created_at = at,
    expired_at = data.format_time(now + seconds),
    trade_no = at:gsub("%D", "") .. digits(rand, 14),
    order = { created_at = at, pay_at = at, title = pick(rand, titles[ptype]) },
  }
end

-- count static IPs bought with that package (14 or 25), ids after top_id.
function data.bought_ips(seed, n, product, count, top_id)
  local rand = data.rng(data.hash(seed, "bought ips", n))
  local list, id = {}, top_id
  for i = 1, count do
    local country = pick(rand, data.countries)
    id = id + rand(1, 9)
    list[i] = {
      id = id, ip = data.ip(rand), port = rand(10000, 60000),
      username = "st" .. data.alnum(rand, 8):lower(), password = data.alnum(rand, 10),
      country_code = country.country_code, city = pick(rand, pick(rand, country.states).cities),
      product_type = product.product_type, trade_no = product.trade_no, status = 1,
      created_at = product.created_at, expired_at = product.expired_at,
    }
  end
  return list
end

-- KB one account used on one day: mostly busy days, some idle ones.
function data.daily_flow(seed, username, day)
  local rand = data.rng(data.hash(seed, "flow", username, day))
  if rand(1, 10) == 1 then return 0 end
  return rand(10 * 1024, 3 * 1024 * 1024)
end

return data
