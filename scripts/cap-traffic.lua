-- luacheck: read globals api
-- Disables, or caps, the accounts whose traffic reached a threshold.
-- The job is proxyapi.jobs.cap (also `proxyapi cap`); `--help` describes it.
local jobs = require "proxyapi.jobs"
os.exit(jobs.main(require "proxyapi.jobs.cap", arg, function() return api end))
