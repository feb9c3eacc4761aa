--- The provider's endpoints, each described once, as data; one code path
-- in proxyapi.client serves them all.
--
-- Fields of an endpoint:
--   method, path  what goes on the wire
--   retry         "read": retried on network failures, timeouts, 429 and
--                 5xx (reads and idempotent writes); "once": retried only
--                 when no connection could be made (each call changes or
--                 hands out something)
--   args          how the Lua arguments become wire parameters, in order:
--                 pos = the argument's position (after self); field = a key
--                 of the options table at that position; wire = the wire
--                 name; rule = a function of proxyapi.check; required
--   batch         the wire parameter that holds a list; lists longer than
--                 batch_size go out as several requests
--   result        what a success returns: "ok" (true), "list" (data.list),
--                 "page" (a page table), "ips" (a flat array of "ip:port"),
--                 "data" (data as decoded)
-- @module proxyapi.endpoints

local ACCOUNT = "/openapi/whitelist-account/"

local names = { { pos = 1, wire = "accounts", rule = "names", required = true } }

local function account_and(wire, rule)
  return {
    { pos = 1, wire = "account", rule = "name", required = true },
    { pos = 2, wire = wire, rule = rule, required = true },
  }
end

return {
  list_accounts = { method = "GET", path = ACCOUNT .. "list", retry = "read", result = "list" },

  add_accounts = {
    method = "POST", path = ACCOUNT .. "add", retry = "once", result = "ok", batch = "accounts",
    args = {
      { pos = 1, wire = "accounts", rule = "accounts", required = true },
      { pos = 2, field = "remark", wire = "remark", rule = "remark" },
      { pos = 2, field = "product_type", wire = "product_type", rule = "product_type" },
    },
  },
  delete_accounts = {
    method = "POST", path = ACCOUNT .. "delete", retry = "once", result = "ok", batch = "accounts",
    args = names,
  },
  disable_accounts = {
    method = "POST", path = ACCOUNT .. "disable", retry = "read", result = "ok", batch = "accounts",
    args = names,
  },
  enable_accounts = {
    method = "POST", path = ACCOUNT .. "enable", retry = "read", result = "ok", batch = "accounts",
    args = names,
  },
  change_password = {
    method = "POST", path = ACCOUNT .. "change-password", retry = "read", result = "ok",
    args = account_and("password", "password"),
  },
  change_remark = {
    method = "POST", path = ACCOUNT .. "change-remark", retry = "read", result = "ok",
    args = account_and("remark", "remark"),
  },
  change_limit = {
    method = "POST", path = ACCOUNT .. "change-limit", retry = "read", result = "ok",
    args = account_and("limit", "gb"),
  },

  usage_flow = {
    method = "GET", path = "/openapi/user-usage-flow/total", retry = "read", result = "list",
    args = {
      { pos = 1, field = "start_time", wire = "start_time", rule = "time" },
      { pos = 1, field = "end_time", wire = "end_time", rule = "time" },
      { pos = 1, field = "username", wire = "username", rule = "name" },
      { pos = 1, field = "product_type", wire = "product_type", rule = "product_type" },
    },
    ordered = { "start_time", "end_time" },
  },

  list_products = {
    method = "GET", path = "/openapi/user-product/list", retry = "read", result = "page",
    args = {
      { pos = 1, field = "trade_no", wire = "trade_no", rule = "text" },
      { pos = 1, field = "page", wire = "page", rule = "page" },
      { pos = 1, field = "size", wire = "size", rule = "size" },
      { pos = 1, field = "product_type", wire = "product_type", rule = "product_type" },
    },
  },

  extract_ips = {
    method = "GET", path = "/openapi/ip/v3", retry = "once", result = "ips",
    args = {
      { pos = 1, field = "cc", wire = "cc", rule = "text" },
      { pos = 1, field = "state", wire = "state", rule = "text" },
      { pos = 1, field = "city", wire = "city", rule = "text" },
      { pos = 1, field = "num", wire = "num", rule = "count" },
      { pos = 1, field = "life", wire = "life", rule = "count" },
      { pos = 1, field = "ep", wire = "ep", rule = "text" },
      { pos = 1, field = "format", wire = "format", rule = "text" },
      { pos = 1, field = "lb", wire = "lb", rule = "separator" },
    },
  },

  list_cities = { method = "GET", path = "/openapi/ip/dynamic-citys", retry = "read", result = "list" },
  search_cities = {
    method = "GET", path = "/openapi/ip/dynamic-citys/search", retry = "read", result = "list",
    args = {
      { pos = 1, wire = "country_code", rule = "text", required = true },
      { pos = 2, wire = "state", rule = "text", required = true },
    },
  },
  list_states = { method = "GET", path = "/openapi/ip/dynamic-states", retry = "read", result = "list" },
  search_states = {
    method = "GET", path = "/openapi/ip/dynamic-states/search", retry = "read", result = "list",
    args = { { pos = 1, wire = "country_code", rule = "text", required = true } },
  },

  list_static_ips = {
    method = "GET", path = "/ip/get-static-ip", retry = "read", result = "data",
    args = {
      { pos = 1, field = "country_code", wire = "country_code", rule = "text" },
      { pos = 1, field = "product_type", wire = "product_type", rule = "static_product_type" },
      { pos = 1, field = "trade_no", wire = "trade_no", rule = "text" },
      { pos = 1, field = "page", wire = "page", rule = "page" },
      { pos = 1, field = "size", wire = "size", rule = "size" },
      { pos = 1, field = "status", wire = "status", rule = "status" },
    },
  },
}
