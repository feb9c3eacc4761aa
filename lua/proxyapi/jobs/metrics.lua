--- `proxyapi metrics --textfile FILE | --listen 127.0.0.1:PORT`: the
-- profile's accounts and packages as Prometheus gauges, written once,
-- atomically, for node_exporter's textfile collector, or served on
-- /metrics (proxyapi.metrics_http), polling the API at most once per
-- `--min-interval`. With `--listen`, the request counters and the
-- duration histogram count the client's HTTP exchanges: the host makes
-- the client with `on_request = function(info) if ctx.on_request then
-- ctx.on_request(info) end end`, and this job sets `ctx.on_request` (or
-- the host passes its own `ctx.requests`, a `metrics.requests()`).
-- @module proxyapi.jobs.metrics

local core = require "proxyapi.core"
local metrics = require "proxyapi.metrics"
local metrics_http = require "proxyapi.metrics_http"

local tonumber, tostring, pcall = tonumber, tostring, pcall

local job = {}

--- One poll of the API: a snapshot for `metrics.render` (up = false and
-- the error when listing failed; products left out when only they failed).
-- @param api a client
-- @tparam string profile the label
-- @treturn table snapshot
-- @return err the first failure, or nil
function job.poll(api, profile)
  local accounts, err = api:list_accounts()
  local p = { up = accounts ~= nil, accounts = accounts or {}, products = {} }
  if accounts then
    local ok, perr = pcall(function()
      for product in api:each_product {} do
        p.products[#p.products + 1] = product
      end
    end)
    if not ok then
      p.up, err, p.products = false, perr, {}
    end
  end
  return { profiles = { [profile] = p } }, err
end

local function interval_option(s)
  local n = tonumber(s)
  if not n or n < 1 or n > 86400 then
    return nil, "--min-interval: seconds from 1 to 86400 expected"
  end
  return n
end

function job.define(cmd)
  cmd:mutex(
    cmd:option("--textfile", "Write the gauges once to FILE, atomically (node_exporter's textfile collector)."):
      argname("FILE"),
    cmd:option("--listen", "Serve /metrics on HOST:PORT (loopback only unless --listen-any)."):argname("HOST:PORT")
  )
  cmd:flag("--listen-any", "Allow --listen on an address that is not loopback.")
  cmd:option("--min-interval", "Seconds between two polls of the API, at least (default 60).", nil,
    interval_option):argname("S")
end

local function label_of(ctx)
  return ctx.profile or "default"
end

local function textfile(ctx, path)
  local snapshot, err = job.poll(ctx.api, label_of(ctx))
  local ok, werr = metrics.write_textfile(path, metrics.render(snapshot))
  if not ok then
    ctx.err:write("proxyapi metrics: ", tostring(werr), "\n")
    return 2
  end
  if err then -- written with proxyapi_up 0, so that an alert can say so
    ctx.err:write("proxyapi metrics: ", tostring(err), "\n")
    return require("proxyapi.errors").exit_code(err)
  end
  return 0
end

local function listen(ctx, args, opts)
  local requests = ctx.requests
  if not requests then
    requests = metrics.requests()
    require("proxyapi.client").observe(ctx.api, function(info) requests:observe(info) end)
  end
  local profile, last_err = label_of(ctx), nil
  local ok, err = metrics_http.serve {
    listen = args.listen, allow_any = args.listen_any, min_interval = args.min_interval or 60,
    poll = function()
      local snapshot, perr = job.poll(ctx.api, profile)
      if perr then
        ctx.err:write("proxyapi metrics: poll: ", tostring(perr), "\n")
      end
      last_err = perr
      return snapshot
    end,
    extra = function() return requests:render() end,
    stop = opts.stop or function() return (core.interrupted()) end,
    on_listen = function(host, port)
      ctx.err:write(("proxyapi metrics: serving http://%s:%d/metrics\n"):format(host:find(":") and "[" .. host ..
        "]" or host, port))
      if opts.on_listen then
        opts.on_listen(host, port)
      end
    end,
    log = function(line) ctx.err:write("proxyapi metrics: ", line, "\n") end,
    max_requests = opts.max_requests,
  }
  if not ok then
    ctx.err:write("proxyapi metrics: ", tostring(err), "\n")
    return 2
  end
  local stopped, sig = core.interrupted()
  if stopped then
    return 128 + sig
  end
  return last_err and 5 or 0
end

--- Runs the job; `opts` (for specs and hosts): `stop`, `on_listen`, `max_requests` for --listen.
function job.run(ctx, args, opts)
  if args.textfile then
    return textfile(ctx, args.textfile)
  elseif args.listen then
    return listen(ctx, args, opts or {})
  end
  ctx.err:write("proxyapi metrics: give --textfile FILE or --listen HOST:PORT\n")
  return 2
end

return {
  name = "metrics",
  script = "metrics",
  summary = "Prometheus gauges of accounts and packages: --textfile FILE or --listen 127.0.0.1:PORT.",
  define = job.define,
  run = job.run,
  poll = job.poll,
}
