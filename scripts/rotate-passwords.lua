-- luacheck: read globals api
-- New random passwords for all (or matching) accounts, written ahead of the changes.
-- The job is proxyapi.jobs.rotate (also `proxyapi rotate`); `--help` describes it.
local jobs = require "proxyapi.jobs"
os.exit(jobs.main(require "proxyapi.jobs.rotate", arg, function() return api end))
