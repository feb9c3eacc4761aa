-- luacheck: read globals api
-- A daily traffic report with a bar chart.
-- The job is proxyapi.jobs.report (also `proxyapi report`); `--help` describes it.
local jobs = require "proxyapi.jobs"
os.exit(jobs.main(require "proxyapi.jobs.report", arg, function() return api end))
