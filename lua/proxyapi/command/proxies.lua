--- `proxyapi check-proxies FILE|-`: fetches a URL through each proxy of a
-- list (host:port, host:port:user:pass, user:pass@host:port,
-- scheme://...), concurrently, printing results as they land: JSON lines
-- with --json, CSV rows with --csv, a table at the end otherwise. Proxy
-- passwords show as ***.
-- @module proxyapi.command.proxies

local net = require "proxyapi.net"
local errors = require "proxyapi.errors"
local output = require "proxyapi.output"
local input = require "proxyapi.command.input"

local ipairs, tostring, tonumber, error, pcall = ipairs, tostring, tonumber, error, pcall
local find, match, gsub, format = string.find, string.match, string.gsub, string.format
local min = math.min
local tointeger = math.tointeger

local command = { name = "check-proxies", summary = "Fetch a URL through each proxy of a list." }

local function usage(msg)
  error(errors.usage(msg), 0)
end

--- Adds FILE, --url, --timeout, --concurrency and --scheme.
-- @param cmd
-- @usage command.define(cmd)
function command.define(cmd)
  cmd:argument("FILE", "the proxies, one a line (- for stdin): host:port, host:port:user:pass, "
    .. "user:pass@host:port or scheme://[user:pass@]host:port")
  cmd:option("--url", "what to fetch through each (default: a 204 page of gstatic.com)"):argname("URL")
  cmd:option("--timeout", "seconds per proxy (default 5)"):argname("S")
  cmd:option("--concurrency", "proxies checked at once (default 16)"):argname("N")
  cmd:option("--scheme", "the scheme of lines without one (default http)"):argname("SCHEME")
end

--- A proxy line in the form `api:check_proxies` takes.
-- @tparam string line
-- @treturn string
-- @usage command.normalise("1.2.3.4:8080:u:p") --> "http://u:p@1.2.3.4:8080"
function command.normalise(line, scheme)
  if find(line, "^%a[%w+.-]*://") or find(line, "@", 1, true) then
    return line
  end
  local host, port, user, pass = match(line, "^([^:%[%]]+):(%d+):([^:]+):(.+)$")
  if host then
    return format("%s://%s:%s@%s:%s", scheme or "http", net.percent_encode(user), net.percent_encode(pass),
      host, port)
  end
  return line
end

--- A proxy address as it may be shown: its password as ***.
-- @tparam string addr
-- @treturn string
-- @usage command.shown("http://u:p@h:1") --> "http://u:***@h:1"
function command.shown(addr)
  local masked = gsub(addr, "^(%a[%w+.-]*://[^:/@]*):[^@]*@", "%1:***@")
  masked = gsub(masked, "^([^:/@]*):[^@/]*@", "%1:***@")
  return (gsub(masked, "^([^:]+:%d+:[^:]+):.+$", "%1:***"))
end

local function number(text, label, integer)
  if text == nil then
    return nil
  end
  local n = tonumber(text)
  if integer then
    n = n and tointeger(n)
  end
  if n == nil or n <= 0 then
    usage(format("%s: a positive %s expected, got %s", label, integer and "integer" or "number", text))
  end
  return n
end

local COLUMNS = { { key = "addr" }, { key = "ok" }, { key = "status", right = true },
                  { key = "latency_ms", right = true }, { key = "error" } }

--- Runs the checks; returns the report (rows already written when
-- streaming) and the exit status: 0 all worked, 3 some, 5 none.
-- @tparam table ctx
-- @tparam table parsed
-- @treturn table the report
-- @treturn integer the status
-- @usage local report, status = command.run(ctx, parsed)
function command.run(ctx, parsed)
  local lines = input.read_lines(parsed.FILE or parsed.file or "-", ctx.stdin)
  local opts = { url = parsed.url, timeout = number(parsed.timeout, "--timeout"), scheme = parsed.scheme }
  local concurrency = number(parsed.concurrency, "--concurrency", true) or 16
  local addrs = {}
  for i, line in ipairs(lines) do
    addrs[i] = command.normalise(line, parsed.scheme)
    local ok, why = net.parse_proxy(addrs[i], parsed.scheme)
    if not ok then
      usage(format("%s line %d: %s", parsed.FILE or "-", i, command.shown(tostring(why))))
    end
  end
  local rows, good, first_err = {}, 0, nil
  local stream = ctx.format ~= "table"
  if ctx.format == "csv" then
    output.write_csv({ "addr", "ok", "status", "latency_ms", "error" }, {}, ctx.out)
  end
  local i = 1
  while i <= #addrs do
    local chunk = {}
    for j = i, min(#addrs, i + concurrency - 1) do
      chunk[#chunk + 1] = addrs[j]
    end
    opts.concurrency = concurrency
    local ok, results = pcall(ctx.api.check_proxies, ctx.api, chunk, opts)
    if not ok then
      usage(tostring(results))
    end
    for k, r in ipairs(results) do
      local row = { addr = command.shown(lines[i + k - 1]), ok = r.ok == true, status = r.status,
                    latency_ms = r.latency_ms and tointeger(r.latency_ms // 1) or nil,
                    error = r.err and r.err.msg or nil }
      rows[#rows + 1] = row
      good = good + (row.ok and 1 or 0)
      first_err = first_err or r.err
      if ctx.format == "json" then
        ctx.out:write(output.json(row), "\n")
      elseif ctx.format == "csv" then
        local fields = {}
        for n, c in ipairs(COLUMNS) do
          fields[n] = output.csv_field(row[c.key])
        end
        ctx.out:write(table.concat(fields, ","), "\n")
      end
    end
    ctx.out:flush()
    i = i + #chunk
  end
  local status = 0
  if good < #rows then
    status = good > 0 and 3 or (first_err and errors.exit_code(nil, first_err) or 5)
  end
  if stream then
    return { streamed = true }, status
  end
  return { rows = rows, columns = COLUMNS }, status
end

return command
