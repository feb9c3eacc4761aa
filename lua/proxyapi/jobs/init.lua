--- The automation jobs, shared by the `proxyapi` command (a subcommand
-- each) and the scripts in scripts/ (run under pxlua). A job is a module
-- `{ name =, script =, summary =, define = function(cmd), run =
-- function(ctx, args) -> status }`; see the job interface (ctx's fields:
-- api, out, err, stdin, format, dry_run, profile, settings, journal, tty,
-- confirm).
-- @module proxyapi.jobs

local cli = require "proxyapi.cli"

local type, error, pcall, require, tostring = type, error, pcall, require, tostring
local gsub, match = string.gsub, string.match
local stdout, stderr, stdin, read = io.stdout, io.stderr, io.stdin, io.read

local ipairs = ipairs

local jobs = {}

--- The jobs' names, in help order.
jobs.list = { "rotate", "cap", "report", "pull-ips", "provision", "history", "watch", "metrics" }

local MODULES = { demo = true }
for _, name in ipairs(jobs.list) do
  MODULES[name] = true
end

--- The job named `name` (a name of `jobs.list`, or "demo").
-- @tparam string name
-- @return the job module
-- @return[2] nil
-- @treturn[2] string "no job named …"
-- @usage local rotate = assert(jobs.load "rotate")
function jobs.load(name)
  if type(name) ~= "string" or not MODULES[name] then
    return nil, "no job named '" .. tostring(name) .. "'"
  end
  return require("proxyapi.jobs." .. gsub(name, "%-", "_"))
end

local tty_cache = {}

local function is_tty(file)
  if tty_cache[file] == nil then
    local fd = file == stdout and 1 or file == stderr and 2 or nil
    tty_cache[file] = fd ~= nil and os.execute("[ -t " .. fd .. " ]") == true
  end
  return tty_cache[file]
end

--- A job's context for a client (`ctx` of the job interface); `opts` may
-- give `format`, `profile`, `settings`, `out`, `err`, `stdin`, `journal`,
-- `tty`, `confirm`. The journal is the one the client writes to.
-- @param api a client
-- @tparam[opt] table opts
-- @treturn table ctx
-- @usage local ctx = jobs.context(api, { format = "json" })
function jobs.context(api, opts)
  opts = opts or {}
  local rec = require("proxyapi.client").recorder(api)
  local out = opts.out or stdout
  local ctx = {
    api = api, out = out, err = opts.err or stderr, stdin = opts.stdin or stdin,
    format = opts.format or "table", dry_run = api:settings().dry_run, profile = opts.profile,
    settings = opts.settings or {}, journal = opts.journal or (rec and rec.journal) or nil,
  }
  if opts.tty ~= nil then
    ctx.tty = opts.tty
  else
    ctx.tty = is_tty(out)
  end
  ctx.confirm = opts.confirm or function(question)
    if not (ctx.tty and is_tty(stderr)) then
      return false
    end
    ctx.err:write(question, " [y/N] ")
    ctx.err:flush()
    local answer = read("l")
    return answer ~= nil and match(answer, "^%s*[yY]") ~= nil
  end
  return ctx
end

--- Runs a job as a script: parses `args` (a script's `arg`) with the
-- job's options plus `--json` and `--csv`, then runs it with `api` (a
-- client, or a function that makes one: so that `--help` and usage
-- errors never need a key). Returns the exit status (0 after --help, 2
-- after a usage error).
-- @param job a job module
-- @tparam table args
-- @param api a client, or a function returning one
-- @treturn integer the exit status
-- @usage os.exit(require("proxyapi.jobs").main(require "proxyapi.jobs.rotate", arg, function() return api end))
function jobs.main(job, args, api)
  local script = job.script .. ".lua"
  args = args or {}
  for i = 1, #args do
    if args[i] == "--" then
      break
    elseif args[i] == "--dry-run" then
      -- the client makes the dry run, and it is made before the script runs
      stderr:write(script, ": --dry-run goes to pxlua, before the script: pxlua --dry-run ", script, " ...\n")
      return 2
    end
  end
  local parser = cli.parser(script, job.summary)
  local as_json = parser:flag("--json", "Print one JSON document.")
  local as_csv = parser:flag("--csv", "Print CSV.")
  parser:mutex(as_json, as_csv)
  job.define(parser)
  local parsed, status = cli.parse(parser, args)
  if parsed == nil then
    return status
  end
  if type(api) == "function" then
    api = api()
  end
  if api == nil then
    error("jobs.main: no client", 2)
  end
  local profile, settings = require("proxyapi.client").profile(api)
  local ctx = jobs.context(api, { format = parsed.json and "json" or parsed.csv and "csv" or "table",
                                  profile = profile, settings = settings })
  local ok, result = pcall(job.run, ctx, parsed)
  ctx.out:flush()
  if not ok then
    error(result, 0)
  end
  return result or 0
end

return jobs
