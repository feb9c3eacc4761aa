--- Addresses: hosts and ports, proxy URLs and their schemes, and the
-- percent-encoding the wire uses (one rule for each, shared by the
-- client's options, proxyapi.proxy_url and check_proxies).
-- @module proxyapi.net

local core = require "proxyapi.core"
local check = require "proxyapi.check"

local type, tonumber, tostring, char = type, tonumber, tostring, string.char
local find, match, lower, format, gsub = string.find, string.match, string.lower, string.format, string.gsub
local math_tointeger = math.tointeger

local net = {}

--- The proxy schemes libcurl takes.
net.PROXY_SCHEMES = { http = true, https = true, socks4 = true, socks4a = true, socks5 = true, socks5h = true }
local SCHEME_LIST = "http, https, socks4, socks4a, socks5, socks5h"

--- Text percent-encoded exactly as the query string writes it.
-- @function percent_encode
net.percent_encode = core.percent_encode

local function percent_decode(s)
  return (gsub(s, "%%(%x%x)", function(h)
    return char(tonumber(h, 16))
  end))
end

--- The port of a "host:port" value (a name or IPv4 address, or a
-- bracketed IPv6 address, then digits), or nil when it has not that shape.
-- @param value
-- @treturn ?integer the port (which may be out of range: the caller says)
-- @usage net.host_port("1.2.3.4:1140") --> 1140
function net.host_port(value)
  if type(value) ~= "string" or not (find(value, "^[%w%.%-]+:%d+$") or find(value, "^%[[%x:]+%]:%d+$")) then
    return nil
  end
  return math_tointeger(tonumber(match(value, ":(%d+)$"))) or 0
end

--- A proxy scheme libcurl takes, in any case; returned in lower case.
-- @param value
-- @return the scheme
-- @return[2] nil
-- @treturn[2] string what is wrong
-- @usage net.proxy_scheme("SOCKS5") --> "socks5"
function net.proxy_scheme(value)
  local scheme = type(value) == "string" and lower(value)
  if not net.PROXY_SCHEMES[scheme] then
    return nil, "scheme: one of " .. SCHEME_LIST .. " expected, got " .. check.shown(value)
  end
  return scheme
end

--- A proxy address: "host:port" (with `scheme`) or
-- "scheme://[user:pass@]host:port[/]" (credentials percent-decoded).
-- @tparam string addr
-- @tparam[opt="http"] string scheme for a bare "host:port"
-- @treturn string the proxy URL without credentials
-- @treturn ?string the username
-- @treturn ?string the password
-- @return[2] nil
-- @treturn[2] string what is wrong
-- @usage net.parse_proxy("socks5://u:p@1.2.3.4:1080") --> "socks5://1.2.3.4:1080", "u", "p"
function net.parse_proxy(addr, scheme)
  if type(addr) ~= "string" then
    return nil, "string expected, got " .. type(addr)
  end
  local shown = check.shown(addr)
  local s, rest = match(addr, "^(%a[%w]*)://(.+)$")
  if s == nil then
    s, rest = scheme or "http", addr
  end
  s = lower(s)
  if not net.PROXY_SCHEMES[s] then
    return nil, format("%s: unsupported proxy scheme %s", shown, check.shown(s))
  end
  local userinfo, hostport = match(rest, "^(.*)@([^@]+)$")
  hostport = match(hostport or rest, "^(.-)/?$")
  if not net.host_port(hostport) then
    return nil, format("%s: host:port expected", shown)
  end
  local user, pass
  if userinfo then
    user, pass = match(userinfo, "^([^:]*):(.*)$")
    user, pass = percent_decode(user or userinfo), pass and percent_decode(pass)
    if find(user, "%z") or pass and find(pass, "%z") then
      return nil, format("%s: credentials with a NUL", shown)
    end
  end
  return s .. "://" .. hostport, user, pass
end

--- Whether a host (as written in a URL) is a loopback one.
-- @tparam string host
-- @treturn boolean
-- @usage net.is_loopback("127.0.0.1") --> true
function net.is_loopback(host)
  host = lower(host)
  return host == "localhost" or host == "[::1]" or find(host, "^127%.%d+%.%d+%.%d+$") ~= nil
end

--- The host[:port] of a URL, without any userinfo: what the journal, the
-- history and messages name a service by (a path or userinfo may hold a
-- token). A string that is not a URL is returned as it is.
-- @tparam string url
-- @treturn string
-- @usage net.url_host("https://u:t@hooks.example:8443/x") --> "hooks.example:8443"
function net.url_host(url)
  url = tostring(url)
  local authority = match(url, "^%a[%w+.-]*://([^/?#]*)")
  if authority == nil then
    return url
  end
  return (match(authority, "([^@]*)$"))
end

return net
