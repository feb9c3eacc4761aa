-- luacheck: read globals api
-- Evaluates the profile's quota rules and acts on them (`--once` or `--every 5m`).
-- The job is proxyapi.jobs.watch (also `proxyapi watch`); `--help` describes it.
local jobs = require "proxyapi.jobs"
os.exit(jobs.main(require "proxyapi.jobs.watch", arg, function() return api end))
