-- luacheck: read globals api
-- Keeps the accounts and their daily usage in the history database (`sync`).
-- The job is proxyapi.jobs.history (also `proxyapi history`); `--help` describes it.
local jobs = require "proxyapi.jobs"
os.exit(jobs.main(require "proxyapi.jobs.history", arg, function() return api end))
