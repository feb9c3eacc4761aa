-- luacheck: read globals api
-- Fresh proxy IPs for a location, with an account's credentials.
-- The job is proxyapi.jobs.pull_ips (also `proxyapi pull-ips`); `--help` describes it.
local jobs = require "proxyapi.jobs"
os.exit(jobs.main(require "proxyapi.jobs.pull_ips", arg, function() return api end))
