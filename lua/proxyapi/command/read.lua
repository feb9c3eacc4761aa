--- Running a generated command that reads: the member its positionals
-- pick, every page of a paged endpoint unless one page is asked for,
-- `--match`/`--from` on the spec's filter field, passwords masked.
-- @module proxyapi.command.read

local errors = require "proxyapi.errors"
local generate = require "proxyapi.command.generate"
local input = require "proxyapi.command.input"
local render = require "proxyapi.command.render"

local ipairs, pcall, error = ipairs, pcall, error
local find = string.find

local read = {}

local function paged_option(member, field)
  for _, o in ipairs(member.options) do
    if o.arg.field == field then
      return o.target
    end
  end
end

--- Every item of every page, through the endpoint's iterator.
local function all_pages(api, paged, args)
  local items = {}
  local ok, err = pcall(function()
    for item in api[paged.iterator](api, args[1]) do
      items[#items + 1] = item
    end
  end)
  if not ok then
    if errors.is_error(err) then
      return nil, err
    end
    error(err, 0)
  end
  return items
end

--- Keeps the rows whose `field` matches `--match` or is listed by `--from`.
-- @tparam table rows
-- @tparam string field
-- @tparam table parsed
-- @param stdin
-- @treturn table the rows kept
-- @usage rows = read.filter(rows, "username", parsed, io.stdin)
function read.filter(rows, field, parsed, stdin)
  if parsed.match == nil and parsed.from == nil then
    return rows
  end
  local pattern = parsed.match and input.glob_pattern(parsed.match)
  local listed
  if parsed.from then
    listed = {}
    for _, name in ipairs(input.read_lines(parsed.from, stdin)) do
      listed[name] = true
    end
  end
  local kept = {}
  for _, row in ipairs(rows) do
    local v = row[field]
    if v ~= nil and (pattern == nil or find(v, pattern)) and (listed == nil or listed[v]) then
      kept[#kept + 1] = row
    end
  end
  return kept
end

--- Runs a read command; returns its report, or nil and the error.
-- @tparam table ctx the command's context (`api`, `stdin`)
-- @tparam table parsed argparse's result
-- @tparam table spec from `generate.specs`
-- @treturn table the report
-- @return[2] nil
-- @treturn[2] table the error object
-- @usage local report, err = read.run(ctx, parsed, spec)
function read.run(ctx, parsed, spec)
  local member = generate.member(spec, parsed)
  local args = generate.arguments(member, parsed)
  local paged = member.ep.paged
  local result, err
  if paged and (parsed.all or (parsed[paged_option(member, paged.page) or 1] == nil
      and parsed[paged_option(member, paged.size) or 1] == nil)) then
    result, err = all_pages(ctx.api, paged, args)
  else
    result, err = generate.call(ctx.api, member, args)
  end
  if result == nil then
    return nil, err
  end
  local report = render.of(result)
  if spec.filter then
    report.rows = read.filter(report.rows, spec.filter, parsed, ctx.stdin)
  end
  if not parsed.show_passwords then
    render.mask(report.rows)
  end
  return report
end

return read
