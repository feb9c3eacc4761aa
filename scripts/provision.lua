-- luacheck: read globals api
-- Accounts from a CSV of username,password,remark,limit, idempotently.
-- The job is proxyapi.jobs.provision (also `proxyapi provision`); `--help` describes it.
local jobs = require "proxyapi.jobs"
os.exit(jobs.main(require "proxyapi.jobs.provision", arg, function() return api end))
