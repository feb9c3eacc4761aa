-- The journal of changes, for pxlua: `pxlua scripts/journal.lua [--run ID|--last]
-- [--show-secrets] [--json|--csv]` or `... prune --before DATE`; the same
-- code as `proxyapi journal` (proxyapi.command.journal).
local dir = (arg and arg[0] or ""):match "^(.*)/[^/]*$" or "."
package.path = dir .. "/../lua/?.lua;" .. dir .. "/../lua/?/init.lua;" .. package.path
package.cpath = dir .. "/../build/?.so;" .. package.cpath

local argv = { "journal" }
for i = 1, #arg do
  argv[#argv + 1] = arg[i]
end
os.exit(require("proxyapi.command").main(argv), true)
