-- How `make bench` prints: one Markdown table of every row (so the
-- README's tables can be updated from it), the smaller tables of the
-- instruction counts and peak memory, and a PASS/MISS line per target.
-- Everything said is also kept for build/bench/report.txt.

local format, concat = string.format, table.concat

local R = {}

local lines = {}

function R.say(fmt, ...)
  local line = select("#", ...) > 0 and format(fmt, ...) or fmt
  io.stdout:write(line, "\n")
  io.stdout:flush()
  lines[#lines + 1] = line
end
local say = R.say

function R.write(path)
  local f = io.open(path, "w")
  if f then
    f:write(concat(lines, "\n"), "\n")
    f:close()
  end
end

--- 1234567.8 -> "1,234,568"; small values keep one decimal.
function R.num(v, decimals)
  if v == nil then
    return "-"
  end
  if decimals == nil then
    decimals = math.abs(v) < 100 and 1 or 0
  end
  local s = format("%." .. decimals .. "f", v)
  local int, rest = s:match("^(-?%d+)(.*)$")
  int = int:reverse():gsub("(%d%d%d)", "%1,"):reverse():gsub("^(-?),", "%1")
  return int .. rest
end
local num = R.num

function R.ratio(a, b)
  if not (a and b) or b == 0 then
    return "-"
  end
  return format("%.2f×", a / b)
end
local ratio = R.ratio

-- ---------------------------------------------------------------------
-- The main table

function R.main_header(title)
  say("")
  say(title)
  say("")
  say("| work | contender | µs/call | best µs | cpu µs | server µs | vs floor + decode | vs Lua-cURLv3 + cjson "
    .. "| cpu vs floor + decode |")
  say("|---|---|---:|---:|---:|---:|---:|---:|---:|")
end

--- The rows of one work; ratios to the contenders keyed `base` and `lcurlv3`.
-- The work's label goes on its first row only.
function R.group(work, contenders, opts)
  opts = opts or {}
  local by = {}
  for _, c in ipairs(contenders) do
    by[c.key] = by[c.key] or c
  end
  local base = by.base and by.base.us
  local base_cpu = by.base and by.base.cpu_us
  local lcurl = by.lcurlv3 and by.lcurlv3.us
  for i, c in ipairs(contenders) do
    local label = i == 1 and work or ""
    local name = c.name
    if opts.bold and opts.bold[c.key] then
      name = "**" .. name .. "**"
    end
    if c.skip then
      say("| %s | %s | skipped: %s | | | | | | |", label, name, c.skip)
    elseif not c.us then
      say("| %s | %s | FAILED: %s | | | | | | |", label, name, (c.failure or "?"):gsub("[\n|]", " "):sub(1, 200))
    else
      local cpu = c.cpu_us and num(c.cpu_us) or "-"
      say("| %s | %s | %s | %s | %s | %s | %s | %s | %s |", label, name, num(c.us), num(c.best), cpu,
        c.server_us and num(c.server_us) or "-", ratio(c.us, base), ratio(c.us, lcurl), ratio(c.cpu_us, base_cpu))
    end
  end
end

-- ---------------------------------------------------------------------
-- Targets

local results = {}

--- One target: `ok` true, false or nil (not measured).
function R.target(text, ok, note)
  local verdict = ok == nil and "SKIP" or ok and "PASS" or "MISS"
  results[#results + 1] = { text = text, verdict = verdict, note = note }
end

function R.print_targets()
  say("")
  say("Targets (a MISS does not fail `make bench`)")
  local pass = 0
  for _, t in ipairs(results) do
    local note = t.verdict == "SKIP" and "not measured" or t.note
    say("  %-5s %s%s", t.verdict, t.text, note and "  (" .. note .. ")" or "")
    if t.verdict == "PASS" then
      pass = pass + 1
    end
  end
  say("  %d of %d targets pass", pass, #results)
  return pass, #results
end

--- "1 KB 1.04×, POST 1.10×" for the rows of `cells` ({label, value}); value
-- nil prints "-". Returns the text and whether every measured value <= limit
-- (nil when none was measured, false when one is missing).
function R.all_within(cells, limit)
  local parts, ok, any = {}, true, false
  for _, cell in ipairs(cells) do
    local v = cell[2]
    parts[#parts + 1] = cell[1] .. " " .. (v and format("%.2f×", v) or "-")
    if v then
      any = true
      ok = ok and v <= limit
    else
      ok = false
    end
  end
  if not any then
    return concat(parts, ", "), nil
  end
  return concat(parts, ", "), ok
end

return R
