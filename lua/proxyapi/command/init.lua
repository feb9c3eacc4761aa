--- The `proxyapi` command: every endpoint (generated from the endpoint
-- table), the built-in commands and the jobs, from the shell. `main`
-- returns the exit status; it never calls os.exit, so that a host (pxlua,
-- a spec) decides when the process ends.
-- @module proxyapi.command
-- @usage os.exit(require("proxyapi.command").main(arg), true)

local core = require "proxyapi.core"
local cli = require "proxyapi.cli"
local errors = require "proxyapi.errors"
local output = require "proxyapi.output"
local context = require "proxyapi.command.context"
local parser_mod = require "proxyapi.command.parser"
local render = require "proxyapi.command.render"
local jobs = require "proxyapi.command.jobs"

local ipairs, pairs, type, tostring, require, xpcall = ipairs, pairs, type, tostring, require, xpcall
local pcall, error, select = pcall, error, select
local find, format = string.find, string.format
local traceback = debug.traceback

local command = {}

-- What runs: a generated command's spec, a built-in or a job.
local function plan(parsed)
  local spec = parsed._spec
  if spec then
    local changes = false
    for _, m in ipairs(spec.members) do
      changes = changes or m.ep.effect ~= "read"
    end
    local runner = spec.extension and spec.extension.run
      or spec.accounts and require("proxyapi.command.accounts").run or require("proxyapi.command.read").run
    return { name = spec.shell, needs_api = true, changes = changes,
             run = function(ctx) return runner(ctx, parsed, spec) end }
  elseif parsed._builtin then
    local b = parsed._builtin
    return { name = b.name, needs_api = b.needs_api, run = function(ctx) return b.run(ctx, parsed) end }
  end
  local job = parsed._job
  return { name = job.name, needs_api = true, changes = true, job = job, all_profiles = job.all_profiles }
end

local function error_fields(err)
  if errors.is_error(err) then
    return { kind = err.kind, code = err.code, status = err.status, msg = err.msg, endpoint = err.endpoint,
             text = tostring(err) }
  end
  return { text = tostring(err) }
end

-- Runs a report-making handler in every context.
local function run_reports(h, list)
  local results = {}
  for i, ctx in ipairs(list) do
    if ctx.failed then
      results[i] = { err = ctx.failed, status = errors.exit_code(ctx.failed) }
    else
      local report, status = h.run(ctx)
      if report == nil then
        results[i] = { err = status, status = errors.exit_code(nil, status) }
      else
        results[i] = { report = report, status = type(status) == "number" and status or 0 }
      end
    end
  end
  return results
end

local function emit_one(ctx, name, r)
  if r.err then
    ctx.err:write(tostring(r.err), "\n")
    if ctx.format == "json" then
      ctx.out:write(output.json { command = name, dry_run = ctx.dry_run, error = error_fields(r.err),
                                  profile = ctx.profile }, "\n")
    end
  elseif not r.report.streamed then
    render.emit(ctx, name, r.report)
  end
  return r.status
end

-- Every profile's rows in one report, each row with its profile.
local function emit_all(list, name, results)
  local rows, columns, summaries, notes, footer = {}, nil, {}, {}, {}
  local good = 0
  for i, ctx in ipairs(list) do
    local r = results[i]
    local item = { profile = ctx.profile, status = r.status }
    if r.err then
      list[1].err:write(format("proxyapi: profile %s: %s\n", tostring(ctx.profile), tostring(r.err)))
      item.error = error_fields(r.err)
    else
      for _, row in ipairs(r.report.rows or {}) do
        local copy = { profile = ctx.profile }
        for k, v in pairs(row) do
          copy[k] = v
        end
        rows[#rows + 1] = copy
      end
      columns = columns or r.report.columns
      for k, v in pairs(r.report.json or {}) do
        item[k] = v
      end
      for _, line in ipairs(r.report.notes or {}) do
        notes[#notes + 1] = line
      end
      for _, line in ipairs(r.report.footer or {}) do
        footer[#footer + 1] = ctx.profile .. ": " .. line
      end
    end
    good = good + (r.status == 0 and 1 or 0)
    summaries[i] = item
  end
  if columns then
    local with = { { key = "profile" } }
    for _, c in ipairs(columns) do
      with[#with + 1] = c
    end
    columns = with
  end
  render.emit(list[1], name, { rows = rows, columns = columns, notes = notes, footer = footer,
                               json = { profiles = summaries } })
  if good == #list then
    return 0
  end
  return good > 0 and 3 or results[1].status
end

local function usage(msg)
  error(errors.usage(msg), 0)
end

-- The run itself; `state` keeps what must be cleaned up, whatever happens.
local function run(argv, env, state)
  argv = parser_mod.hoist(argv)
  if parser_mod.wants_version(argv) then
    env.out:write("proxyapi ", require "proxyapi.version", "\n")
    return 0
  end
  local p = parser_mod.build(require "proxyapi.endpoints", require "proxyapi.command.names")
  local parsed, status = cli.parse(p, argv)
  if not parsed then
    return status
  end
  local h = plan(parsed)
  local g = {
    profile = parsed.profile, all_profiles = parsed.all_profiles, config = parsed.config,
    dry_run = parsed.dry_run == true, format = parsed.json and "json" or parsed.csv and "csv" or "table",
    out = env.out, err = env.err, stdin = env.stdin, tty = env.tty, tty_in = env.tty_in,
    progress = env.err_tty and require("proxyapi.pxlua").progress_bar(env.err) or nil,
  }
  state.format, state.name, state.out, state.dry_run = g.format, h.name, env.out, g.dry_run
  if parsed.fake then
    if g.profile or g.all_profiles or g.config then
      usage("--fake runs against a fake of its own: it takes no --profile, --all-profiles or --config")
    end
    local fake_mod = require "proxyapi.command.fake"
    local f, err = fake_mod.start()
    if f == nil then
      usage(err)
    end
    state.fake, g.fake = f, f
  end
  if g.all_profiles and (h.changes and not h.job or h.all_profiles == false) then
    usage("--all-profiles runs the reads, usage, report, history, watch and metrics; '" .. h.name ..
      "' works on one profile at a time")
  end
  if h.changes and not parsed.no_journal then
    local j, err = require("proxyapi.journal").open(g.fake and g.fake.journal or true)
    if j == nil then
      usage("journal: " .. tostring(err) .. " (--no-journal runs without one)")
    end
    state.journal, g.journal = j, j
  end
  local needs = h.needs_api == true
  local list
  if h.needs_api == "optional" then
    local ok, made = pcall(context.make, g, true)
    if not ok then
      -- proxy checks need no key: a client that only ever talks to proxies
      local opts = { app_key = "unused", base_url = "http://127.0.0.1", profile = false, journal = false }
      list = context.make(g, false)
      list[1].api = require("proxyapi").new(opts)
    else
      list = made
    end
  else
    list = context.make(g, needs)
  end
  state.contexts = list
  for _, ctx in ipairs(list) do
    ctx.parser, ctx.journal_path = p, g.fake and g.fake.journal or nil
  end
  if h.job then
    return jobs.run(h.job, list, parsed, env.out)
  end
  local results = run_reports(h, list)
  if #list == 1 then
    return emit_one(list[1], h.name, results[1])
  end
  return emit_all(list, h.name, results)
end

local function on_error(e)
  if errors.is_error(e) then
    return { err = e, trace = traceback("", 2) }
  elseif type(e) == "string" and find(e, "^bad argument #%d+ to '") then
    return { err = errors.usage(e) }
  elseif type(e) == "string" and find(e, "interrupted!$") then
    return { interrupted = true }
  end
  return { bug = traceback(tostring(e), 2) }
end

--- Runs the command line `argv` (`arg` of a script); returns the exit status.
-- @tparam table argv the arguments (from 1)
-- @tparam[opt] table env `out`, `err`, `stdin` (default the standard files,
-- and then terminal checks; given files are not terminals)
-- @treturn integer the exit status
-- @usage os.exit(require("proxyapi.command").main(arg), true)
function command.main(argv, env)
  local list = {}
  for i = 1, #argv do
    list[i] = argv[i]
  end
  local show_trace = false
  for _, a in ipairs(list) do
    show_trace = show_trace or a == "--traceback"
  end
  if env == nil then
    env = { out = io.stdout, err = io.stderr, stdin = io.stdin, tty = context.isatty(1),
            tty_in = context.isatty(0) and context.isatty(2), err_tty = context.isatty(2) }
  else
    env = { out = env.out or io.stdout, err = env.err or io.stderr, stdin = env.stdin or io.stdin }
  end
  local state = {}
  local ok, status = xpcall(run, on_error, list, env, state)
  if not ok then
    local e = status
    if e.err then
      env.err:write(tostring(e.err), "\n")
      if show_trace and e.trace then
        env.err:write(e.trace:gsub("^\n", ""), "\n")
      end
      if state.format == "json" then
        env.out:write(output.json { command = state.name, dry_run = state.dry_run, error = error_fields(e.err) },
          "\n")
      end
      status = errors.exit_code(e.err)
    elseif e.interrupted then
      status = 128 + (select(2, core.interrupted()) or 2)
    else
      env.err:write("proxyapi: bug: ", e.bug, "\n")
      status = 1
    end
  end
  local stopped, sig = core.interrupted()
  if stopped or (not ok and status == 130) then
    status = 128 + (sig or 2)
  end
  local word = (stopped or status >= 128) and "interrupted" or status == 0 and "ok" or "failed"
  local line = context.finish(state.contexts or {}, word)
  if word == "interrupted" then
    -- under pxlua (its core is built in) the host prints the line, once
    local host = package.preload["proxyapi.core"] and require "proxyapi.pxlua"
    if host and host.on_summary then
      host.on_summary(line)
    else
      env.err:write("proxyapi: interrupted: ", line, "\n")
    end
  end
  if state.journal then
    state.journal:close()
  end
  if state.fake then
    require("proxyapi.command.fake").stop(state.fake)
  end
  env.out:flush()
  return status
end

return command
