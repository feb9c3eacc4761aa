--- proxyapi: a Lua client for the residential-proxy provider's OpenAPI.
-- The C core (proxyapi.core) makes the transfers and marshals JSON; this
-- side holds the policy: argument rules, the endpoint table, batching,
-- paging and retries.
-- @module proxyapi

local client = require "proxyapi.client"
local errors = require "proxyapi.errors"
local check = require "proxyapi.check"

local type, tostring = type, tostring
local format, find, gsub = string.format, string.find, string.gsub
local tointeger = check.tointeger
local arg_error = check.arg_error

local proxyapi = {}

proxyapi.VERSION = require "proxyapi.version"

proxyapi.product = {
  DYNAMIC_RESIDENTIAL_TRAFFIC = 9,
  DYNAMIC_RESIDENTIAL_IP = 11,
  STATIC_DATACENTER_IP = 14,
  STATIC_RESIDENTIAL_IP = 25,
}

proxyapi.static_status = { VALID = 1, INVALID = 2, EXPIRING = 3, MAINTENANCE = 4 }
proxyapi.code = { OK = 200, INVALID_APP_KEY = 3, NOT_VERIFIED = 156 }
proxyapi.account_status = { DISABLED = 0, ENABLED = 1 }

local PRODUCT_NAMES = {
  [9] = "Dynamic Residential Traffic Package",
  [11] = "Dynamic Residential IP",
  [14] = "Static Datacenter IP",
  [25] = "Static Residential IP",
}

--- The English name of a product type, or nil for an unknown one.
function proxyapi.product_name(product_type)
  return PRODUCT_NAMES[tointeger(product_type) or false]
end

--- True for the error objects that failed calls return.
proxyapi.is_error = errors.is_error

--- Makes a client (see the Client section of API.md for the options).
function proxyapi.new(options)
  return client.new(options, proxyapi.VERSION)
end

local function userinfo_escape(s)
  return (gsub(s, "[^%w%-%._~]", function(c)
    return format("%%%02X", c:byte())
  end))
end

local SCHEMES = { http = true, https = true, socks4 = true, socks4a = true, socks5 = true, socks5h = true }

--- A proxy URL from "host:port" and optional scheme and credentials:
-- proxy_url("1.2.3.4:1140", {username = "u", password = "p"}) -->
-- "http://u:p@1.2.3.4:1140".
function proxyapi.proxy_url(addr, options)
  if type(addr) ~= "string" or not find(addr, "^[%w%.%-]+:%d+$") and not find(addr, "^%[[%x:]+%]:%d+$") then
    arg_error(1, "proxy_url", format('"host:port" expected, got %s',
      type(addr) == "string" and format("%q", addr) or type(addr)))
  end
  local port = math.tointeger(addr:match(":(%d+)$"))
  if port == nil or port < 1 or port > 65535 then
    arg_error(1, "proxy_url", "port must be from 1 to 65535")
  end
  options = options or {}
  if type(options) ~= "table" then
    arg_error(2, "proxy_url", "table of options expected, got " .. type(options))
  end
  local scheme = options.scheme or "http"
  if not SCHEMES[scheme] then
    arg_error(2, "proxy_url", "scheme: one of http, https, socks4, socks4a, socks5, socks5h expected, got "
      .. tostring(scheme))
  end
  local user, pass = options.username, options.password
  if user ~= nil and type(user) ~= "string" or pass ~= nil and type(pass) ~= "string" then
    arg_error(2, "proxy_url", "username and password must be strings")
  end
  if pass ~= nil and user == nil then
    arg_error(2, "proxy_url", "a password needs a username")
  end
  local credentials = ""
  if user ~= nil then
    credentials = userinfo_escape(user) .. (pass and ":" .. userinfo_escape(pass) or "") .. "@"
  end
  return scheme .. "://" .. credentials .. addr
end

return proxyapi
