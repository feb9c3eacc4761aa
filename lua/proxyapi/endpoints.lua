--- The provider's endpoints, each described once, as data. One
-- interpreter (proxyapi.request, with proxyapi.shapes and proxyapi.batch)
-- serves them all; the reference, the `proxyapi` command and its shell
-- completion are made from this table too. Adding an endpoint is adding
-- one entry.
--
-- Fields of an endpoint:
--   method, path  what goes on the wire (path: before `prefix` and `paths`)
--   effect        "read", "change" (the fleet) or "hand_out" (something
--                 the provider counts, like IPs): dry runs send only reads,
--                 the journal records the others
--   retry         "read": retried on network failures, timeouts, 429 and
--                 5xx (reads and idempotent changes); "once": retried only
--                 when no connection could be made, and sent on a
--                 connection of its own so that libcurl never re-sends it
--   irreversible  true when it cannot be undone (the command confirms)
--   drops_history true when the provider drops the accounts' usage history
--                 with it: a client with a history store keeps it first
--   args          how the Lua arguments become wire fields, in wire order:
--                 pos = the argument's position (after self); field = a
--                 key of the options table at that position; wire = the
--                 wire name; rule = a function of proxyapi.check; required;
--                 secret: true when the value is masked (***) in every line
--                 printed or recorded, "pairs" when it is "user:pass,..."
--                 whose passwords are; doc: one line for the reference
--   batch         the wire field holding a list of accounts; lists longer
--                 than batch_size go out as several requests
--   result        what a success returns: "ok" (true), "list" (data.list),
--                 "page" (a page table), "ips" (a flat array of "host:port"),
--                 "data" (data as decoded)
--   text          { arg =, json =, separator = }: the reply is text when
--                 the `arg` field is given and is not `json` (in any case),
--                 split on the `separator` field
--   ordered       { a, b }: field a must not come after field b
--   paged         { iterator =, page =, size =, usage = }: replies are page
--                 tables; `iterator` names the method that walks every page
--   summary, returns, usage   the reference and the command's help
-- @module proxyapi.endpoints

local ACCOUNT = "/openapi/whitelist-account/"

local function names(doc)
  return { { pos = 1, wire = "accounts", rule = "names", required = true, doc = doc } }
end

local function account_and(wire, rule, doc, secret)
  return {
    { pos = 1, wire = "account", rule = "name", required = true, doc = "the account's username" },
    { pos = 2, wire = wire, rule = rule, required = true, secret = secret, doc = doc },
  }
end

local PAGE = { pos = 1, field = "page", wire = "page", rule = "page", doc = "page number, from 1" }
local SIZE = { pos = 1, field = "size", wire = "size", rule = "size", doc = "items per page" }

return {
  list_accounts = {
    method = "GET", path = ACCOUNT .. "list", effect = "read", retry = "read", result = "list",
    summary = "Lists the proxy sub-accounts.",
    returns = "array of accounts: id, username, password, created_at, remark, product_type, "
      .. "usage_flow (KB), limit_flow (GB, 0 unlimited), status (account_status)",
    usage = "for _, a in ipairs(assert(api:list_accounts())) do print(a.username, a.status) end",
  },

  add_accounts = {
    method = "POST", path = ACCOUNT .. "add", effect = "change", retry = "once", result = "ok",
    batch = "accounts",
    args = {
      { pos = 1, wire = "accounts", rule = "accounts", required = true, secret = "pairs",
        doc = 'the accounts: {username =, password =} tables or "user:pass" strings' },
      { pos = 2, field = "remark", wire = "remark", rule = "remark", doc = "a remark for every new account" },
      { pos = 2, field = "product_type", wire = "product_type", rule = "product_type",
        doc = "the product type of the new accounts" },
    },
    summary = "Adds proxy accounts.",
    returns = "true",
    usage = 'assert(api:add_accounts({ "team1:s3cret", { username = "team2", password = "pw2" } }, '
      .. '{ remark = "ads" }))',
  },
  delete_accounts = {
    method = "POST", path = ACCOUNT .. "delete", effect = "change", retry = "once", result = "ok",
    batch = "accounts", irreversible = true, drops_history = true,
    args = names("one name, or an array of names"),
    summary = "Deletes proxy accounts (irreversible; the provider takes about 5 minutes, and drops "
      .. "their usage history: a client with a `history` store keeps it first).",
    returns = "true",
    usage = 'assert(api:delete_accounts { "team1", "team2" })',
  },
  disable_accounts = {
    method = "POST", path = ACCOUNT .. "disable", effect = "change", retry = "read", result = "ok",
    batch = "accounts", args = names("one name, or an array of names"),
    summary = "Disables proxy accounts.",
    returns = "true",
    usage = 'assert(api:disable_accounts "team1")',
  },
  enable_accounts = {
    method = "POST", path = ACCOUNT .. "enable", effect = "change", retry = "read", result = "ok",
    batch = "accounts", args = names("one name, or an array of names"),
    summary = "Enables proxy accounts.",
    returns = "true",
    usage = 'assert(api:enable_accounts { "team1", "team2" })',
  },
  change_password = {
    method = "POST", path = ACCOUNT .. "change-password", effect = "change", retry = "read", result = "ok",
    args = account_and("password", "password", "the new password: letters and digits", true),
    summary = "Changes an account's password (the old one works for about 5 more minutes).",
    returns = "true",
    usage = 'assert(api:change_password("team1", "n3wPassw0rd"))',
  },
  change_remark = {
    method = "POST", path = ACCOUNT .. "change-remark", effect = "change", retry = "read", result = "ok",
    args = account_and("remark", "remark", "valid UTF-8 without control characters, at most 64 width "
      .. "units (ASCII 1, others 2); \"\" is allowed"),
    summary = "Changes an account's remark.",
    returns = "true",
    usage = 'assert(api:change_remark("team1", "price monitoring"))',
  },
  change_limit = {
    method = "POST", path = ACCOUNT .. "change-limit", effect = "change", retry = "read", result = "ok",
    args = account_and("limit", "gb", "traffic limit in GB, 0..102400; 0 means unlimited"),
    summary = "Changes an account's traffic limit.",
    returns = "true",
    usage = 'assert(api:change_limit("team1", 50))',
  },

  usage_flow = {
    method = "GET", path = "/openapi/user-usage-flow/total", effect = "read", retry = "read", result = "list",
    args = {
      { pos = 1, field = "start_time", wire = "start_time", rule = "time",
        doc = 'first day: "YYYY-MM-DD HH:MM:SS", an os.date("*t") table or an integer epoch' },
      { pos = 1, field = "end_time", wire = "end_time", rule = "time", doc = "last day, in the same forms" },
      { pos = 1, field = "username", wire = "username", rule = "name", doc = "only this account" },
      { pos = 1, field = "product_type", wire = "product_type", rule = "product_type",
        doc = "only accounts of this product type" },
    },
    ordered = { "start_time", "end_time" },
    summary = "Daily traffic usage, one entry per day of the window (default: the 7 days up to now).",
    returns = 'array of days: {day = "YYYY-MM-DD", flow = KB}',
    usage = "for _, d in ipairs(assert(api:usage_flow { start_time = os.time() - 86400 * 30 })) do "
      .. "print(d.day, d.flow) end",
  },

  list_products = {
    method = "GET", path = "/openapi/user-product/list", effect = "read", retry = "read", result = "page",
    args = {
      { pos = 1, field = "trade_no", wire = "trade_no", rule = "text", doc = "only this order number" },
      PAGE, SIZE,
      { pos = 1, field = "product_type", wire = "product_type", rule = "product_type",
        doc = "only packages of this product type" },
    },
    paged = { iterator = "each_product", page = "page", size = "size",
              usage = "for product in api:each_product() do print(product.trade_no, product.expired_at) end" },
    summary = "One page of the purchased packages.",
    returns = "page table {list =, page =, page_size =, total_count =, total_page =}; each package has "
      .. "id, created_at, expired_at, product_type, trade_no, order",
    usage = "local page = assert(api:list_products { page = 1, size = 50 })",
  },

  extract_ips = {
    method = "GET", path = "/openapi/ip/v3", effect = "hand_out", retry = "once", result = "ips",
    args = {
      { pos = 1, field = "cc", wire = "cc", rule = "text", doc = "country or region code" },
      { pos = 1, field = "state", wire = "state", rule = "text", doc = "state code" },
      { pos = 1, field = "city", wire = "city", rule = "text", doc = "city name" },
      { pos = 1, field = "num", wire = "num", rule = "count", doc = "how many IPs" },
      { pos = 1, field = "life", wire = "life", rule = "count", doc = "minutes each IP lives" },
      { pos = 1, field = "ep", wire = "ep", rule = "text", doc = "proxy network" },
      { pos = 1, field = "format", wire = "format", rule = "text", doc = 'reply format ("json" or text)' },
      { pos = 1, field = "lb", wire = "lb", rule = "separator", doc = "separator of a text reply" },
    },
    text = { arg = "format", json = "json", separator = "lb" },
    summary = "Extracts proxy IPs.",
    returns = 'flat array of "host:port" strings',
    usage = 'for _, ip in ipairs(assert(api:extract_ips { cc = "US", num = 10 })) do print(ip) end',
  },

  list_cities = {
    method = "GET", path = "/openapi/ip/dynamic-citys", effect = "read", retry = "read", result = "list",
    summary = "Lists the countries the dynamic proxies serve, with their cities.",
    returns = "array of countries: name_en, name_zh_cn, country_code, continent_code, items "
      .. "({city =, state =, ...})",
    usage = "for _, c in ipairs(assert(api:list_cities())) do print(c.country_code, #c.items) end",
  },
  search_cities = {
    method = "GET", path = "/openapi/ip/dynamic-citys/search", effect = "read", retry = "read", result = "list",
    args = {
      { pos = 1, wire = "country_code", rule = "text", required = true, doc = 'country code, e.g. "US"' },
      { pos = 2, wire = "state", rule = "text", required = true, doc = 'state code, e.g. "CA"' },
    },
    summary = "The cities of a state.",
    returns = "array of city names",
    usage = 'local cities = assert(api:search_cities("US", "CA"))',
  },
  list_states = {
    method = "GET", path = "/openapi/ip/dynamic-states", effect = "read", retry = "read", result = "list",
    summary = "Lists the countries the dynamic proxies serve, with their states.",
    returns = "array of countries, each with items ({state =, ...})",
    usage = "local states = assert(api:list_states())",
  },
  search_states = {
    method = "GET", path = "/openapi/ip/dynamic-states/search", effect = "read", retry = "read", result = "list",
    args = { { pos = 1, wire = "country_code", rule = "text", required = true, doc = 'country code, e.g. "DE"' } },
    summary = "The states of a country.",
    returns = "array of state codes",
    usage = 'local states = assert(api:search_states "DE")',
  },

  list_static_ips = {
    method = "GET", path = "/ip/get-static-ip", effect = "read", retry = "read", result = "data",
    args = {
      { pos = 1, field = "country_code", wire = "country_code", rule = "text", doc = "country code" },
      { pos = 1, field = "product_type", wire = "product_type", rule = "static_product_type", doc = "14 or 25" },
      { pos = 1, field = "trade_no", wire = "trade_no", rule = "text", doc = "order number" },
      PAGE, SIZE,
      { pos = 1, field = "status", wire = "status", rule = "status", doc = "static_status: 1 to 4" },
    },
    paged = { iterator = "each_static_ip", page = "page", size = "size",
              usage = 'for entry in api:each_static_ip { country_code = "US" } do print(entry.ip, entry.port) end' },
    summary = "One page of static IPs.",
    returns = "the decoded data: a page table like list_products'",
    usage = "local page = assert(api:list_static_ips { status = proxyapi.static_status.EXPIRING })",
  },
}
