-- Packages (the purchased products) and the static IPs bought with them:
-- the seeded ones, those bought through the control plane, and how they
-- expire on the fake's clock.
--
-- A static IP whose expiry is still ahead when the clock starts (every
-- bought one; seeded ones when the clock starts early enough) follows the
-- clock: status 2 (invalid) from its expiry on, else 4 when seeded under
-- maintenance, else 3 (expiring soon) in its last SOON_DAYS, else 1. A
-- seeded IP that had expired before the start keeps its seeded status, so
-- that the seeded data stay what they were for a seed.
local data = require "proxyapi.fake.data"
local params = require "proxyapi.fake.params"

local present, upper = params.present, string.upper

local packages = {}

packages.SOON_DAYS = 7

local by_id_desc = function(a, b) return a.id > b.id end

-- The seeded lists are made once per state; reset copies them and gives
-- each seeded IP back its seeded status (the only field that changes).
function packages.reset(state)
  local seeded = state.seeded_packages
  if not seeded then
    local products = data.products(state.seed)
    local ips = data.static_ips(state.seed, products)
    table.sort(products, by_id_desc)
    table.sort(ips, by_id_desc)
    local statuses = {}
    for i, entry in ipairs(ips) do statuses[i] = entry.status end
    seeded = { products = products, ips = ips, statuses = statuses }
    state.seeded_packages = seeded
  end
  state.products = table.move(seeded.products, 1, #seeded.products, 1, {})
  state.static_ips = table.move(seeded.ips, 1, #seeded.ips, 1, {})
  state.bought, state.following = 0, {}
  local start = state.clock:now()
  for i, entry in ipairs(state.static_ips) do
    entry.status = seeded.statuses[i]
    local expires = data.parse_time(entry.expired_at)
    if expires > start then state.following[entry] = { base = entry.status, expires = expires } end
  end
end

local function ip_status(follow, now)
  if now >= follow.expires then return 2 end
  if follow.base == 4 then return 4 end
  if follow.expires - now <= packages.SOON_DAYS * 86400 then return 3 end
  return 1
end

-- Buys a package of ptype expiring `seconds` from now, with `ips` static
-- IPs (static types only); returns the product and the list of IPs.
function packages.buy(state, ptype, seconds, ips)
  state.bought = state.bought + 1
  local top = state.products[1] and state.products[1].id or 20000
  local product = data.bought_product(state.seed, state.bought, ptype, state.clock:now(), seconds, top)
  table.insert(state.products, 1, product)
  local list = {}
  if ips > 0 then
    local top_ip = state.static_ips[1] and state.static_ips[1].id or 500
    list = data.bought_ips(state.seed, state.bought, product, ips, top_ip)
    local expires = data.parse_time(product.expired_at)
    for i = #list, 1, -1 do
      table.insert(state.static_ips, 1, list[i])
      state.following[list[i]] = { base = 1, expires = expires }
    end
  end
  return product, list
end

-- What the control plane shows of the packages on the fake's clock.
function packages.view(state)
  local now, list = state.clock:now(), {}
  for i, p in ipairs(state.products) do
    local left = data.parse_time(p.expired_at) - now
    list[i] = { id = p.id, trade_no = p.trade_no, product_type = p.product_type, expired_at = p.expired_at,
                days_left = left / 86400, expired = left <= 0 }
  end
  return list
end

function packages.routes(route)
  route("GET", "/openapi/user-product/list", function(state, p)
    local ptype = params.query_type(p, "product_type", params.product_types, "must be one of 9, 11, 14, 25")
    local list = {}
    for _, product in ipairs(state.products) do
      if (not present(p.trade_no) or product.trade_no == p.trade_no)
          and (not ptype or product.product_type == ptype) then
        list[#list + 1] = product
      end
    end
    return "data", params.page_of(list, p)
  end)

  route("GET", "/ip/get-static-ip", function(state, p)
    local ptype = params.query_type(p, "product_type", params.static_types, "must be 14 or 25")
    local status = params.query_int(p, "status", nil, 1, 4, "must be one of 1, 2, 3, 4")
    local cc = present(p.country_code) and upper(p.country_code)
    local now, following, list = state.clock:now(), state.following, {}
    for _, entry in ipairs(state.static_ips) do
      local follow = following[entry]
      if follow then entry.status = ip_status(follow, now) end
      if (not cc or entry.country_code == cc) and (not ptype or entry.product_type == ptype)
          and (not present(p.trade_no) or entry.trade_no == p.trade_no)
          and (not status or entry.status == status) then
        list[#list + 1] = entry
      end
    end
    return "data", params.page_of(list, p)
  end)
end

return packages
