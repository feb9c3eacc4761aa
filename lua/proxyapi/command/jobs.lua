--- The jobs of proxyapi.jobs as subcommands (the job interface of
-- JOBS-CONTRACT.md: `name`, `summary`, `define(cmd)`, `run(ctx, args)`),
-- and their run over every profile: each profile's output is captured and
-- joined into one table, one CSV or one JSON document.
-- @module proxyapi.command.jobs

local cli = require "proxyapi.cli"
local core = require "proxyapi.core"
local output = require "proxyapi.output"
local errors = require "proxyapi.errors"

local ipairs, pcall, require, error, tostring, type = ipairs, pcall, require, error, tostring, type
local find, format, match, gsub = string.find, string.format, string.match, string.gsub
local concat = table.concat
local tmpfile = io.tmpfile

local jobs = {}

--- The jobs module, or nil when there is none (a broken one raises).
-- @treturn ?table
-- @usage local list = jobs.module()
function jobs.module()
  local ok, mod = pcall(require, "proxyapi.jobs")
  if ok then
    return mod
  end
  if type(mod) == "string" and find(mod, "module 'proxyapi.jobs' not found", 1, true) then
    return nil
  end
  error(mod, 0)
end

--- Adds a subcommand for every job of `jobs.list` to `parser`; the
-- action puts the job in the parsed result as `_job`.
-- @param parser
-- @tparam table taken command names already used
-- @treturn {table,...} the jobs mounted
-- @usage jobs.mount(parser, { accounts = true })
function jobs.mount(parser, taken)
  local mod = jobs.module()
  local mounted = {}
  for _, name in ipairs(mod and mod.list or {}) do
    local job = mod.load(name)
    if taken[job.name] then
      error(format("proxyapi.command: the job '%s' has the name of a command", job.name), 0)
    end
    taken[job.name] = true
    local cmd = cli.command(parser, job.name, job.summary)
    if job.define then
      job.define(cmd)
    end
    cmd:action(function(result)
      result._job = result._job or job
    end)
    mounted[#mounted + 1] = job
  end
  return mounted
end

local function captured(f)
  f:seek("set")
  local text = f:read("a") or ""
  f:close()
  return text
end

-- One JSON value from a job's output: its document, its JSON lines as an
-- array, or its text as a string.
local function json_text(text)
  local trimmed = match(text, "^%s*(.-)%s*$")
  if trimmed ~= "" and core.json_decode(trimmed) ~= nil then
    return trimmed
  end
  local lines = {}
  for line in gsub(text, "\r", ""):gmatch("[^\n]+") do
    if core.json_decode(line) == nil then
      return output.json(text)
    end
    lines[#lines + 1] = line
  end
  return "[" .. concat(lines, ",") .. "]"
end

--- Runs a job in every context; with one, as it is; with several, their
-- outputs joined, or all at once by the job's `run_all` when it has one
-- and its `all_at_once(parsed)` (if any) says so: a server or a loop that
-- never ends must serve every profile, not the first. Returns the exit
-- status (0 all, 3 some, else the first's).
-- @tparam table job
-- @tparam {table,...} list the contexts
-- @tparam table parsed
-- @param out where the joined output goes
-- @treturn integer
-- @usage local status = jobs.run(job, contexts, parsed, io.stdout)
function jobs.run(job, list, parsed, out)
  if #list == 1 and not list[1].failed then
    local status = job.run(list[1], parsed)
    return type(status) == "number" and status or 0
  end
  if job.run_all and (job.all_at_once == nil or job.all_at_once(parsed)) then
    return job.run_all(list, parsed)
  end
  local statuses, parts, ok_count = {}, {}, 0
  for i, ctx in ipairs(list) do
    local status, text = 2, ""
    if ctx.failed then
      ctx.err:write(format("proxyapi: profile %s: %s\n", tostring(ctx.profile), tostring(ctx.failed)))
    else
      local f = tmpfile()
      ctx.out = f
      local ok, result = pcall(job.run, ctx, parsed)
      if ok then
        status = type(result) == "number" and result or 0
      elseif errors.is_error(result) then
        -- one profile's failure: the others still run
        ctx.err:write(format("proxyapi: profile %s: %s\n", tostring(ctx.profile), tostring(result)))
        status = errors.exit_code(result)
      else
        f:close()
        error(result, 0)
      end
      text = captured(f)
    end
    statuses[i], parts[i] = status, text
    ok_count = ok_count + (status == 0 and 1 or 0)
  end
  local format_ = list[1].format
  if format_ == "json" then
    local items = {}
    for i, ctx in ipairs(list) do
      items[i] = format('{"profile":%s,"status":%d,"result":%s}', output.json(ctx.profile), statuses[i],
        parts[i] ~= "" and json_text(parts[i]) or "null")
    end
    out:write(format('{"command":%s,"dry_run":%s,"profiles":[%s]}\n', output.json(job.name),
      list[1].dry_run and "true" or "false", concat(items, ",")))
  elseif format_ == "csv" then
    local header
    for i, ctx in ipairs(list) do
      local rows = output.read_csv(parts[i]) or {}
      for j, row in ipairs(rows) do
        local fields = { j == 1 and "profile" or output.csv_field(ctx.profile) }
        for k, v in ipairs(row.fields) do
          fields[k + 1] = output.csv_field(v)
        end
        local line = concat(fields, ",")
        if j > 1 or header ~= line then
          out:write(line, "\n")
        end
        header = j == 1 and line or header
      end
    end
  else
    for i, ctx in ipairs(list) do
      out:write(format("== profile %s ==\n", tostring(ctx.profile)), parts[i])
      if i < #list then
        out:write("\n")
      end
    end
  end
  if ok_count == #list then
    return 0
  end
  return ok_count > 0 and 3 or statuses[1]
end

return jobs
