-- luacheck: read globals api
-- Prometheus metrics of the fleet: a textfile, or /metrics on a loopback port.
-- The job is proxyapi.jobs.metrics (also `proxyapi metrics`); `--help` describes it.
local jobs = require "proxyapi.jobs"
os.exit(jobs.main(require "proxyapi.jobs.metrics", arg, function() return api end))
