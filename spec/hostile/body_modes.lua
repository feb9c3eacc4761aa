-- Attacks in well-formed HTTP replies, for spec/hostile/server.lua:
-- wrong shapes, paging that never ends, echoes of the app_key, odd
-- Retry-After values, huge arrays. Same form as wire_modes.lua.
local cjson = require "cjson"

local modes = {}
local array = cjson.array_mt

local function envelope(data, code, msg)
  return cjson.encode { code = code or 200, msg = msg or "success", data = data }
end

-- ---------------------------------------------------------------------
-- body=<name>: a fixed reply

local fixtures = {
  data_array = '{"code":200,"msg":"ok","data":[1,2,3]}',
  data_string = '{"code":200,"msg":"ok","data":"surprise"}',
  list_object = '{"code":200,"msg":"ok","data":{"list":{"a":1}}}',
  list_string = '{"code":200,"msg":"ok","data":{"list":"a,b"}}',
  ip_objects = '{"code":200,"msg":"ok","data":{"list":[{"ip":"1.2.3.4","port":8000}]}}',
  ip_words = '{"code":200,"msg":"ok","data":{"list":["no IPs left in this region"]}}',
  ip_good = '{"code":200,"msg":"ok","data":{"list":[["1.2.3.4:8000","5.6.7.8:8001"]]}}',
  code_string = '{"code":"200","msg":"ok","data":{"list":[]}}',
  code_float = '{"code":200.5,"msg":"ok","data":{"list":[]}}',
  code_missing = '{"msg":"ok","data":{"list":[]}}',
  code_null = '{"code":null,"msg":"ok","data":{"list":[]}}',
  code_true = '{"code":true,"msg":"ok","data":{"list":[]}}',
  code_huge = '{"code":1e300,"msg":"ok","data":{"list":[]}}',
  top_array = '[{"code":200,"msg":"ok","data":{"list":[]}}]',
  top_string = '"success"',
  top_null = "null",
  empty = "",
  nan = '{"code":200,"msg":"ok","data":{"list":[NaN]}}',
  infinite = '{"code":200,"msg":"ok","data":{"list":[1e400]}}',
  nul_msg = '{"code":5,"msg":"bad\\u0000thing"}',
  bad_utf8_msg = '{"code":5,"msg":"bad \255\254 thing"}',
  deep = '{"code":200,"msg":"ok","data":{"list":' .. ("["):rep(100000) .. ("]"):rep(100000) .. "}}",
}

-- replies that are not JSON: { content type, body }
local texts = {
  text_html = { "text/html", "<html><head><title>502 Bad Gateway</title></head>\r\n"
    .. "<body><h1>Bad Gateway</h1><p>upstream: connect() failed</p></body></html>\r\n" },
  text_words = { "text/plain", "no IPs left in this region\n" },
  text_good = { "text/plain", "1.2.3.4:8000\r\n5.6.7.8:8001\r\n" },
}

function modes.body(c, _, param)
  local text = texts[param]
  if text then
    c:respond(200, text[2], { "Content-Type: " .. text[1] })
  else
    c:respond(200, assert(fixtures[param], "no fixture " .. param))
  end
end

-- ---------------------------------------------------------------------
-- pages=<kind>: paging for list_products and list_static_ips

local CAP = 50 -- after this many requests a segment gets an empty page
local ENDLESS_CAP = 1100

local function items(first, last)
  local list = setmetatable({}, array)
  for n = first, last do
    list[#list + 1] = { id = n, trade_no = "T" .. n, ip = "10.0." .. n // 250 .. "." .. n % 250,
                        product_type = 25 }
  end
  return list
end

local function query_int(req, name)
  return math.tointeger(tonumber((req.query or ""):match("[?&]?" .. name .. "=(%d+)")))
end

local pagers = {}

-- ignores `page`; says nothing of where the end is
function pagers.ignore()
  return { list = items(1, 10) }
end

-- honours page and size, tells total_count only; clamps a page past the end
function pagers.count(req)
  local size, total = query_int(req, "size") or 10, 25
  local last = (total + size - 1) // size
  local p = math.min(query_int(req, "page") or 1, last)
  return { list = items((p - 1) * size + 1, math.min(p * size, total)), total_count = total }
end

-- says five full pages and sends the same one five times
pagers["repeat"] = function(req)
  return { list = items(1, 10), page = query_int(req, "page") or 1, page_size = 10, total_page = 5,
           total_count = 50 }
end

-- a short first page that claims more pages follow
function pagers.short_more(req)
  local p = query_int(req, "page") or 1
  local list = p == 1 and items(1, 3) or items(p * 10 + 1, p * 10 + 10)
  return { list = list, page = p, page_size = 10, total_page = 5, total_count = 43 }
end

-- new full pages forever, whatever `page` says
function pagers.endless(req)
  return { list = items((req.hit - 1) * 10 + 1, req.hit * 10) }
end

-- what the reference describes: every field, consistent
function pagers.consistent(req)
  local size, total = query_int(req, "size") or 10, 25
  local p = query_int(req, "page") or 1
  local pages = (total + size - 1) // size
  local list = p <= pages and items((p - 1) * size + 1, math.min(p * size, total)) or items(1, 0)
  return { list = list, page = p, page_size = size, total_count = total, total_page = pages }
end

function modes.pages(c, req, param)
  local cap = param == "endless" and ENDLESS_CAP or CAP
  if req.hit > cap then
    c:respond(200, envelope { list = items(1, 0) })
  else
    c:respond(200, envelope(assert(pagers[param], "no pager " .. param)(req)))
  end
end

-- ---------------------------------------------------------------------
-- echo=<where>,<spelling>: the app_key received, echoed back

local spell = {}
function spell.raw(k) return k end
function spell.lower(k) return k:lower() end
function spell.upper(k) return k:upper() end
function spell.pct_upper(k)
  return (k:gsub(".", function(ch) return string.format("%%%02X", ch:byte()) end))
end
function spell.pct_lower(k)
  return (k:gsub(".", function(ch) return string.format("%%%02x", ch:byte()) end))
end
-- every other byte encoded, alternating upper and lower hex
function spell.pct_mixed(k)
  local out = {}
  for i = 1, #k do
    local ch = k:sub(i, i)
    out[i] = i % 2 == 0 and ch or string.format(i % 4 == 1 and "%%%02X" or "%%%02x", ch:byte())
  end
  return table.concat(out)
end
-- what a URL encoder would do: only the reserved bytes
function spell.url(k)
  return (k:gsub("[^%w%-_.~]", function(ch) return string.format("%%%02X", ch:byte()) end))
end
function spell.url_lower(k)
  return (k:gsub("[^%w%-_.~]", function(ch) return string.format("%%%02x", ch:byte()) end))
end
function spell.url_lower_case(k)
  return spell.url(k):lower()
end
function spell.double_pct(k)
  return (spell.url(k):gsub("%%", "%%25"))
end
-- JSON escapes, written into the JSON text as such
function spell.json_u(k)
  return (k:gsub(".", function(ch) return string.format("\\u%04X", ch:byte()) end))
end
function spell.json_slash(k)
  return (k:gsub("/", "\\/"))
end
function spell.html(k)
  return (k:gsub("[^%w]", function(ch) return string.format("&#%d;", ch:byte()) end))
end

local function echoed(req, spelling)
  return "invalid app_key: " .. assert(spell[spelling], "no spelling " .. spelling)(req.app_key or "")
end

local echo = {}
function echo.api(c, text)
  c:respond(200, '{"code":3,"msg":"' .. text .. '"}')
end
function echo.http(c, text)
  c:respond(403, '{"code":3,"msg":"' .. text .. '"}')
end
function echo.s500(c, text)
  c:respond(500, '{"code":500,"msg":"' .. text .. '"}')
end
function echo.text(c, text)
  c:respond(403, text .. "\n", { "Content-Type: text/plain" })
end
function echo.iptext(c, text)
  c:respond(200, text .. "\n", { "Content-Type: text/plain" })
end
function echo.badjson(c, text)
  c:respond(200, '{"code":3,"msg":"' .. text .. '" <- ' .. text)
end
function echo.location(c, text)
  c:respond(302, '{"code":302,"msg":"moved"}', { "Location: /elsewhere?" .. text })
end

function modes.echo(c, req, param)
  local where, spelling = param:match("^(%w+),([%w_]+)$")
  assert(echo[where], "no echo place " .. tostring(where))(c, echoed(req, spelling))
end

-- ---------------------------------------------------------------------
-- ra=<status>,<name>: a refusal with an odd Retry-After

local function http_date(offset)
  return os.date("!%a, %d %b %Y %H:%M:%S GMT", os.time() + offset)
end

local retry_after = {
  hex = "0x3", inf = "1e999", neg = "-1", frac = "3.5", spaced = "  7  ", seven = "7",
  huge = ("9"):rep(400), big = "99999999999999999999", garbage = "soon", plus = "+3",
  sci = "1e2", zero = "0", empty = "", hexfloat = "0x1p4",
  past = function() return http_date(-3600) end,
  future = function() return http_date(3600) end,
  far = function() return "Fri, 31 Dec 9999 23:59:59 GMT" end,
}

function modes.ra(c, _, param)
  local status, name = param:match("^(%d+),(%w+)$")
  local value = assert(retry_after[name], "no Retry-After " .. tostring(name))
  if type(value) == "function" then
    value = value()
  end
  c:respond(math.tointeger(tonumber(status)), envelope(nil, tonumber(status), "slow down"),
    { "Retry-After: " .. value })
end

-- ---------------------------------------------------------------------
-- numbers=<n>: a list of n zeros

local arrays = {}

function modes.numbers(c, _, param)
  local n = math.tointeger(tonumber(param)) or 1000
  if arrays[n] == nil then
    arrays = { [n] = '{"code":200,"msg":"ok","data":{"list":[' .. ("0,"):rep(n - 1) .. '0]}}' }
  end
  c:respond(200, arrays[n])
end

return modes
