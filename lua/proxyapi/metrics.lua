--- Prometheus text exposition (format 0.0.4) of accounts, packages and
-- API requests, and the atomic write node_exporter's textfile collector
-- needs. Pure except for `write_textfile`.
-- @module proxyapi.metrics

local variables = require "proxyapi.variables"

local type, pairs, ipairs, tostring, tonumber, pcall = type, pairs, ipairs, tostring, tonumber, pcall
local tointeger, mtype = math.tointeger, math.type
local format, gsub, match = string.format, string.gsub, string.match
local concat, sort = table.concat, table.sort

local metrics = {}

--- The content type of the text format, for an HTTP reply.
metrics.CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

-- Label values must be UTF-8: invalid bytes become U+FFFD.
local function utf8_clean(s)
  if utf8.len(s) then
    return s
  end
  local out, i, n = {}, 1, #s
  while i <= n do
    local ok, code = pcall(utf8.codepoint, s, i)
    if ok and code then
      local ch = utf8.char(code)
      out[#out + 1], i = ch, i + #ch
    else
      out[#out + 1], i = "\u{FFFD}", i + 1
    end
  end
  return concat(out)
end

local LABEL_ESCAPES = { ["\\"] = "\\\\", ['"'] = '\\"', ["\n"] = "\\n" }

--- A label value as the text format writes it (without the quotes):
-- backslash, double quote and newline escaped; invalid UTF-8 replaced.
-- @tparam any v
-- @treturn string
function metrics.escape_label(v)
  return (gsub(utf8_clean(tostring(v)), '[\\"\n]', LABEL_ESCAPES))
end

-- A sample value: integers exactly, floats with 17 significant digits.
local function number(v)
  if mtype(v) == "integer" then
    return format("%d", v)
  elseif v ~= v then
    return "NaN"
  elseif v == 1 / 0 or v == -1 / 0 then
    return v > 0 and "+Inf" or "-Inf"
  end
  local i = tointeger(v)
  if i then
    return format("%d", i)
  end
  local s = format("%.15g", v) -- the shortest of these two that reads back the same
  return tonumber(s) == v and s or format("%.17g", v)
end
metrics.number = number

-- labels: array of { name, value } in output order
local function label_text(labels)
  if #labels == 0 then
    return ""
  end
  local parts = {}
  for i, pair in ipairs(labels) do
    parts[i] = pair[1] .. '="' .. metrics.escape_label(pair[2]) .. '"'
  end
  return "{" .. concat(parts, ",") .. "}"
end

--- A metric family: HELP and TYPE once, then its samples sorted by their
-- label text, so the output is stable and diffable.
-- @tparam string name
-- @tparam string kind `"gauge"`, `"counter"` or `"histogram"`
-- @tparam string help
-- @tparam table samples array of `{ labels = { {name, value}, ... }, value = number, suffix = "" }`
-- @treturn string lines, each ending in "\n"
function metrics.family(name, kind, help, samples)
  local lines = { "# HELP " .. name .. " " .. gsub(help, "[\\\n]", { ["\\"] = "\\\\", ["\n"] = "\\n" }),
                  "# TYPE " .. name .. " " .. kind }
  local rows = {}
  for _, s in ipairs(samples) do
    rows[#rows + 1] = { key = s.order or label_text(s.labels), text = name .. (s.suffix or "") ..
      label_text(s.labels) .. " " .. number(s.value) }
  end
  sort(rows, function(a, b) return a.key < b.key end)
  for _, row in ipairs(rows) do
    lines[#lines + 1] = row.text
  end
  return concat(lines, "\n") .. "\n"
end

local KB = 1024
local GB = 1024 * 1024 * 1024

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do
    keys[#keys + 1] = k
  end
  sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  return keys
end

-- Accounts with one username twice (the provider allows it) would give
-- duplicate series: the first by id (else by order) is kept.
local function unique_accounts(list)
  local by_name = {}
  for i, a in ipairs(list or {}) do
    if type(a) == "table" and a.username ~= nil then
      local name, rank = tostring(a.username), type(a.id) == "number" and a.id or math.huge
      local prev = by_name[name]
      if not prev or rank < prev.rank or (rank == prev.rank and i < prev.i) then
        by_name[name] = { account = a, rank = rank, i = i }
      end
    end
  end
  return by_name
end

--- The gauges of a snapshot.
-- Families, always all five (a family without samples is valid):
-- `proxyapi_account_enabled`, `proxyapi_account_limit_bytes` (0 =
-- unlimited), `proxyapi_account_usage_bytes`,
-- `proxyapi_product_expiry_timestamp_seconds` (expired_at read in the
-- process's local time zone, or `snapshot.utc_offset` seconds east of
-- UTC), `proxyapi_up`. Labels `profile`, `account`; products `profile`,
-- `trade_no`, `product_type`. A field that is missing or not a number
-- leaves its sample out. With no profile at all, `snapshot.up` (if given)
-- becomes one `proxyapi_up` without labels.
-- @tparam table snapshot `{ profiles = { [name] = { up = bool|0|1, accounts = {...}, products = {...} } },
--   utc_offset = nil, up = nil }`
-- @treturn string the exposition text
-- @usage io.write(metrics.render { profiles = { acme = { up = true, accounts = api:list_accounts() } } })
function metrics.render(snapshot)
  local usage, limit, enabled, expiry, up = {}, {}, {}, {}, {}
  local profiles = snapshot.profiles or {}
  for _, pname in ipairs(sorted_keys(profiles)) do
    local p = profiles[pname]
    local is_up = p.up == true or p.up == 1
    up[#up + 1] = { labels = { { "profile", pname } }, value = is_up and 1 or 0 }
    local accounts = unique_accounts(p.accounts)
    for _, name in ipairs(sorted_keys(accounts)) do
      local a = accounts[name].account
      local labels = { { "profile", pname }, { "account", name } }
      if type(a.usage_flow) == "number" then
        usage[#usage + 1] = { labels = labels, value = a.usage_flow * KB }
      end
      if type(a.limit_flow) == "number" then
        limit[#limit + 1] = { labels = labels, value = a.limit_flow * GB }
      end
      if type(a.status) == "number" then
        enabled[#enabled + 1] = { labels = labels, value = a.status == 1 and 1 or 0 }
      end
    end
    local seen = {}
    for _, product in ipairs(p.products or {}) do
      local trade_no = type(product) == "table" and product.trade_no
      local t = trade_no and variables.epoch(product.expired_at, snapshot.utc_offset)
      if t and not seen[tostring(trade_no)] then
        seen[tostring(trade_no)] = true
        local labels = { { "profile", pname }, { "trade_no", trade_no } }
        if product.product_type ~= nil then
          labels[3] = { "product_type", product.product_type }
        end
        expiry[#expiry + 1] = { value = t, labels = labels }
      end
    end
  end
  if #up == 0 and snapshot.up ~= nil then
    up[1] = { labels = {}, value = (snapshot.up == true or snapshot.up == 1) and 1 or 0 }
  end
  return concat {
    metrics.family("proxyapi_account_enabled", "gauge", "1 when the proxy account is enabled, 0 when disabled.",
      enabled),
    metrics.family("proxyapi_account_limit_bytes", "gauge",
      "Traffic limit of the proxy account in bytes (limit_flow GB x 1024^3); 0 = unlimited.", limit),
    metrics.family("proxyapi_account_usage_bytes", "gauge",
      "Traffic the proxy account has used, in bytes (usage_flow KB x 1024).", usage),
    metrics.family("proxyapi_product_expiry_timestamp_seconds", "gauge",
      "When the purchased package expires (expired_at), as a Unix timestamp.", expiry),
    metrics.family("proxyapi_up", "gauge", "1 when the last poll of the provider's API succeeded.", up),
  }
end

-- Default buckets of the request duration histogram, in seconds: from a
-- fast loopback answer to the client's default 30 s timeout.
metrics.DURATION_BUCKETS = { 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30 }

local MAX_ENDPOINTS = 64 -- distinct endpoint labels; more are counted as "other"

local Requests = {}
Requests.__index = Requests

--- Request metrics fed by the client's `on_request` callback.
-- @tparam[opt] {number,...} buckets upper bounds in seconds, ascending (default `DURATION_BUCKETS`)
-- @treturn table an object with `:observe(info, endpoint)` and `:render()`
-- @usage local reqs = metrics.requests()
-- local api = proxyapi.new { on_request = function(info) reqs:observe(info) end }
function metrics.requests(buckets)
  buckets = buckets or metrics.DURATION_BUCKETS
  for i, b in ipairs(buckets) do
    if type(b) ~= "number" or (i > 1 and b <= buckets[i - 1]) then
      error("bad argument #1 to 'requests' (ascending numbers expected)", 2)
    end
  end
  return setmetatable({ buckets = buckets, totals = {}, durations = {}, endpoints = 0 }, Requests)
end

--- Counts one HTTP exchange (one attempt).
-- @tparam table info from `on_request`: `method`, `path`, `elapsed` (seconds), `error` (an error kind or nil)
-- @tparam[opt] string endpoint the label (default `"METHOD /path"`)
function Requests:observe(info, endpoint)
  endpoint = endpoint or format("%s %s", tostring(info.method), tostring(info.path))
  if not self.durations[endpoint] then
    if self.endpoints >= MAX_ENDPOINTS then
      endpoint = "other"
    else
      self.endpoints = self.endpoints + 1
    end
    if not self.durations[endpoint] then
      local counts = {}
      for i = 1, #self.buckets do
        counts[i] = 0
      end
      self.durations[endpoint] = { counts = counts, sum = 0, count = 0 }
    end
  end
  local outcome = info.error and tostring(info.error) or "ok"
  local key = endpoint .. "\0" .. outcome
  self.totals[key] = (self.totals[key] or 0) + 1
  local elapsed = info.elapsed
  if type(elapsed) == "number" and elapsed >= 0 and elapsed < math.huge then
    local d = self.durations[endpoint]
    for i, bound in ipairs(self.buckets) do
      if elapsed <= bound then
        d.counts[i] = d.counts[i] + 1
      end
    end
    d.sum, d.count = d.sum + elapsed, d.count + 1
  end
end

--- The request families: `proxyapi_api_requests_total{endpoint,outcome}`
-- (outcome `ok` or the error kind) and the histogram
-- `proxyapi_api_request_duration_seconds{endpoint}` (cumulative
-- `_bucket{le}` up to `+Inf`, `_sum`, `_count`; attempts without an
-- elapsed time are counted in the total only).
-- @treturn string
function Requests:render()
  local totals, hist = {}, {}
  for key, n in pairs(self.totals) do
    local endpoint, outcome = match(key, "^(.*)%z(.*)$")
    totals[#totals + 1] = { labels = { { "endpoint", endpoint }, { "outcome", outcome } }, value = n }
  end
  for endpoint, d in pairs(self.durations) do
    local base = "{" .. 'endpoint="' .. metrics.escape_label(endpoint) .. '"'
    for i, bound in ipairs(self.buckets) do
      hist[#hist + 1] = { suffix = "_bucket", labels = { { "endpoint", endpoint }, { "le", number(bound + 0.0) } },
                          value = d.counts[i], order = format("%s\1%04d", base, i) }
    end
    hist[#hist + 1] = { suffix = "_bucket", labels = { { "endpoint", endpoint }, { "le", "+Inf" } },
                        value = d.count, order = format("%s\1%04d", base, #self.buckets + 1) }
    hist[#hist + 1] = { suffix = "_sum", labels = { { "endpoint", endpoint } }, value = d.sum + 0.0,
                        order = base .. "\2" }
    hist[#hist + 1] = { suffix = "_count", labels = { { "endpoint", endpoint } }, value = d.count,
                        order = base .. "\3" }
  end
  return metrics.family("proxyapi_api_requests_total", "counter",
      "HTTP exchanges with the provider's API, by endpoint and outcome (ok or the error kind).", totals) ..
    metrics.family("proxyapi_api_request_duration_seconds", "histogram",
      "Duration of HTTP exchanges with the provider's API, per attempt.", hist)
end

--- Writes text to path atomically: a temporary file in the same folder
-- (hidden, not ending in .prom, so the textfile collector skips it) is
-- written, flushed, synced to disk when `proxyapi.core` has `fsync`, and
-- renamed over path; then the folder is synced (best effort: some file
-- systems refuse). On failure the temporary file is removed and path is
-- untouched.
-- @tparam string path e.g. `/var/lib/prometheus/node-exporter/proxyapi.prom`
-- @tparam string text
-- @treturn true
-- @treturn[2] nil
-- @treturn[2] string why
function metrics.write_textfile(path, text)
  local dir, base = match(path, "^(.*)/([^/]*)$")
  if not dir then
    dir, base = ".", path
  elseif dir == "" then
    dir = "/"
  end
  if base == "" or base == "." or base == ".." then
    return nil, path .. ": not a file name"
  end
  local ok, core = pcall(require, "proxyapi.core")
  local fsync = ok and type(core) == "table" and core.fsync or nil
  local tmp = format("%s/.%s.%d%06d.tmp", dir, base, os.time(), math.random(0, 999999))
  local f, err = io.open(tmp, "w")
  if not f then
    return nil, err
  end
  local function fail(msg)
    f:close()
    os.remove(tmp)
    return nil, msg
  end
  local wrote, werr = f:write(text)
  if not wrote then
    return fail(werr)
  end
  local flushed, ferr = f:flush()
  if not flushed then
    return fail(ferr)
  end
  if fsync then
    local synced, serr = fsync(tmp)
    if not synced then
      return fail(serr)
    end
  end
  local closed, cerr = f:close()
  if not closed then
    os.remove(tmp)
    return nil, cerr
  end
  local renamed, rerr = os.rename(tmp, path)
  if not renamed then
    os.remove(tmp)
    return nil, rerr
  end
  if fsync then
    pcall(fsync, dir)
  end
  return true
end

return metrics
