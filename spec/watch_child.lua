-- Runs one job (history, watch or metrics) as the proxyapi command will,
-- in a pxlua child process, for the specs that need a real process
-- (signals, kill -9, a server Prometheus scrapes):
--   build/pxlua spec/watch_child.lua JOB [job arguments...]
-- The client comes from PROXYAPI_BASE_URL and PROXYAPI_APP_KEY; the
-- journal is WATCH_JOURNAL (none when unset); the profile's settings are
-- the table the Lua file WATCH_SETTINGS returns; WATCH_PROFILE names it;
-- WATCH_FORMAT is table, json or csv; WATCH_DRY_RUN=1 is --dry-run;
-- WATCH_COMMAND_OUTPUT collects notify commands' output.
local proxyapi = require "proxyapi"
local cli = require "proxyapi.cli"

local name = arg[1]
local job = require("proxyapi.jobs." .. name)
local list = {}
for i = 1, #arg do
  list[i] = arg[i]
end
local parser = cli.parser("proxyapi")
job.define(cli.command(parser, job.name, job.summary))
local args, status = cli.parse(parser, list)
if not args then
  os.exit(status)
end

local settings = {}
if os.getenv("WATCH_SETTINGS") then
  settings = assert(dofile(os.getenv("WATCH_SETTINGS")))
end
local dry = os.getenv("WATCH_DRY_RUN") == "1"
local ctx = { out = io.stdout, err = io.stderr, stdin = io.stdin, format = os.getenv("WATCH_FORMAT") or "json",
              dry_run = dry, profile = os.getenv("WATCH_PROFILE") or "test", settings = settings, tty = false,
              confirm = function() return false end }
local journal = os.getenv("WATCH_JOURNAL")
ctx.api = proxyapi.new {
  proxy = false, journal = journal or false, dry_run = dry, retry_backoff = 0.05, timeout = 10,
}
io.stdout:setvbuf("line")
local code = job.run(ctx, args, { command_output = os.getenv("WATCH_COMMAND_OUTPUT") })
ctx.api:close()
os.exit(code)
