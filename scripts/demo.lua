-- luacheck: read globals api
-- The README's example, run by `make demo`-like sessions through pxlua
-- against the fake: list the accounts, disable those whose traffic
-- crossed a threshold, and pull ten fresh IPs as proxy URLs
-- (proxyapi.jobs.demo; `--help` describes it).
local jobs = require "proxyapi.jobs"
os.exit(jobs.main(require "proxyapi.jobs.demo", arg, function() return api end))
