--- `proxyapi metrics --textfile FILE | --listen 127.0.0.1:PORT`: the
-- profile's accounts and packages as Prometheus gauges, written once,
-- atomically, for node_exporter's textfile collector, or served on
-- /metrics (proxyapi.metrics_http), polling the API at most once per
-- `--min-interval`. With `--listen`, the request counters and the
-- duration histogram count the clients' HTTP exchanges (`client.observe`;
-- or the host passes its own `ctx.requests`, a `metrics.requests()`).
-- With `--all-profiles` every profile goes into the one file, or the one
-- server, each under its own `profile` label (`run_all`).
-- @module proxyapi.jobs.metrics

local core = require "proxyapi.core"
local metrics = require "proxyapi.metrics"
local metrics_http = require "proxyapi.metrics_http"

local tonumber, tostring, pcall, pairs, ipairs = tonumber, tostring, pcall, pairs, ipairs

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

-- One poll of every context's API, as one snapshot; each failure said
-- (naming its profile when there are several). Returns the snapshot, the
-- first failure and how many profiles were polled without one.
local function poll_all(list, what)
  local snapshot, first_err, fine = { profiles = {} }, nil, 0
  for _, ctx in ipairs(list) do
    local one, err = job.poll(ctx.api, label_of(ctx))
    for name, p in pairs(one.profiles) do
      snapshot.profiles[name] = p
    end
    if err then
      ctx.err:write("proxyapi metrics: ", what, #list > 1 and "profile " .. label_of(ctx) .. ": " or "",
                    tostring(err), "\n")
      first_err = first_err or err
    else
      fine = fine + 1
    end
  end
  return snapshot, first_err, fine
end

-- The status of a pass: 0 when every profile was polled, 3 when some were.
local function status_of(first_err, fine)
  if first_err == nil then
    return 0
  end
  return fine > 0 and 3 or require("proxyapi.errors").exit_code(first_err)
end

local function textfile(list, path)
  local snapshot, err, fine = poll_all(list, "")
  local ok, werr = metrics.write_textfile(path, metrics.render(snapshot))
  if not ok then
    list[1].err:write("proxyapi metrics: ", tostring(werr), "\n")
    return 2
  end
  return status_of(err, fine) -- written with proxyapi_up 0 for a failed one, so that an alert can say so
end

local function listen(list, args, opts)
  local ctx = list[1]
  local requests = ctx.requests
  if not requests then
    requests = metrics.requests()
    for _, c in ipairs(list) do
      require("proxyapi.client").observe(c.api, function(info) requests:observe(info) end)
    end
  end
  local last_err
  local ok, err = metrics_http.serve {
    listen = args.listen, allow_any = args.listen_any, min_interval = args.min_interval or 60,
    poll = function()
      local snapshot, perr = poll_all(list, "poll: ")
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

--- Runs the job over several contexts at once (`--all-profiles`): one
-- file, or one server, for all of them. A context whose client could not
-- be made (`ctx.failed`) is said and left out.
-- @tparam {table,...} list the contexts
-- @tparam table args
-- @tparam[opt] table opts `stop`, `on_listen`, `max_requests` for --listen
-- @treturn integer the exit status
function job.run_all(list, args, opts)
  local live = {}
  for _, ctx in ipairs(list) do
    if ctx.failed then
      ctx.err:write("proxyapi: profile ", tostring(ctx.profile), ": ", tostring(ctx.failed), "\n")
    else
      live[#live + 1] = ctx
    end
  end
  if #live == 0 then
    return 2
  end
  local status
  if args.textfile then
    status = textfile(live, args.textfile)
  elseif args.listen then
    status = listen(live, args, opts or {})
  else
    list[1].err:write("proxyapi metrics: give --textfile FILE or --listen HOST:PORT\n")
    return 2
  end
  return (#live < #list and status == 0) and 3 or status
end

--- Runs the job; `opts` (for specs and hosts): `stop`, `on_listen`, `max_requests` for --listen.
function job.run(ctx, args, opts)
  return job.run_all({ ctx }, args, opts)
end

return {
  name = "metrics",
  script = "metrics",
  summary = "Prometheus gauges of accounts and packages: --textfile FILE or --listen 127.0.0.1:PORT.",
  define = job.define,
  run = job.run,
  run_all = job.run_all,
  poll = job.poll,
}
