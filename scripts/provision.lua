-- luacheck: read globals api proxyapi
-- Provisions proxy accounts from a CSV file, idempotently: missing accounts
-- are added, existing ones are changed only where they differ from the file.
local cli = require "proxyapi.cli"
local check = require "proxyapi.check"


local COLUMNS = { "username", "password", "remark", "limit" }

local opts, files = cli.parse(arg, {
  name = "provision",
  usage = "pxlua [--dry-run] provision.lua [--dry-run] FILE",
  description = "Makes the accounts listed in FILE (CSV: username,password,remark,limit; the\n"
    .. "header row is optional; '-' reads stdin) exist as listed. Remark and limit may\n"
    .. "be empty or left out: an empty remark means \"\", an empty limit 0 (unlimited,\n"
    .. "in GB otherwise). Existing accounts get change_password / change_remark /\n"
    .. "change_limit only where a value differs, so a second run sends nothing. New\n"
    .. "accounts are added with one add_accounts call per distinct remark (the remark\n"
    .. "is set by the add itself), then change_limit where the limit is not 0.\n"
    .. "Accounts not in FILE are left alone. Bad rows are reported as FILE:LINE: ...\n"
    .. "and skipped; the other rows still go through. Prints 'added N, updated M,\n"
    .. "unchanged K, bad rows B'; exits 1 if a row was bad or a change failed.",
  options = { { name = "--dry-run", type = "flag", help = "change nothing; report what would change" } },
  min_args = 1, max_args = 1,
})
local path = files[1]

-- pxlua's own --dry-run (given before the script) makes every POST a no-op.
local dry_run = opts.dry_run or api:settings().dry_run

-- A row's fields as { username=, password=, remark=, limit= }, or nil and
-- what is wrong, by the library's own argument rules (a bad argument
-- would raise, and one bad account would stop a whole batch).
local function parse_row(fields)
  if #fields < 2 or #fields > 4 then
    return nil, string.format("%d columns, expected 2 to 4 (username,password,remark,limit)", #fields)
  end
  local username, password, remark, limit = fields[1], fields[2], fields[3] or "", fields[4] or ""
  local ok, problem = check.name(username)
  if ok then ok, problem = check.password(password, "password of '" .. username .. "'") end
  if ok then ok, problem = check.remark(remark) end
  if not ok then return nil, problem end
  local gb = limit == "" and 0 or (limit:find("^%d+$") and math.tointeger(tonumber(limit)))
  if gb then gb, problem = check.gb(gb) end
  if not gb then return nil, problem or string.format("limit %q: an integer 0..102400 (GB) expected", limit) end
  return { username = username, password = password, remark = remark, limit = gb }
end

local file = path == "-" and io.stdin or io.open(path, "rb")
if not file then cli.die("provision: cannot open " .. path) end
local text = file:read("a"):gsub("^\239\187\191", "") -- a UTF-8 byte order mark
file:close()
local records, csv_err = cli.read_csv(text)
if not records then cli.die(string.format("%s:%s", path, csv_err:gsub("^line ", ""))) end

local rows, first_line, bad = {}, {}, 0
for i, record in ipairs(records) do
  local is_header = i == 1 and #record.fields == #COLUMNS
  for j, name in ipairs(COLUMNS) do is_header = is_header and record.fields[j] == name end
  if not is_header then
    local row, problem = parse_row(record.fields)
    if row and first_line[row.username] then
      row, problem = nil, string.format("username '%s' repeated (first on line %d)",
        row.username, first_line[row.username])
    end
    if row then
      first_line[row.username], rows[#rows + 1] = record.line, row
    else
      io.stderr:write(string.format("%s:%d: %s\n", path, record.line, problem))
      bad = bad + 1
    end
  end
end

local accounts, err = api:list_accounts()
if not accounts then cli.die("provision: " .. tostring(err)) end
local existing = {}
for _, a in ipairs(accounts) do existing[a.username] = a end

-- The plan: adds grouped by remark, then one job per differing value.
local jobs, new_rows, changed_rows, unchanged, groups = {}, {}, {}, 0, {}
for _, row in ipairs(rows) do
  local a = existing[row.username]
  if a == nil then
    new_rows[#new_rows + 1] = row
    if not groups[row.remark] then
      groups[row.remark] = { call = "add", remark = row.remark, rows = {} }
      jobs[#jobs + 1] = groups[row.remark]
    end
    table.insert(groups[row.remark].rows, row)
  else
    local before = #jobs
    local function differs(call, old, new)
      if old ~= new then jobs[#jobs + 1] = { call = call, row = row, value = new } end
    end
    differs("change_password", a.password, row.password)
    differs("change_remark", a.remark or "", row.remark)
    differs("change_limit", a.limit_flow, row.limit)
    if #jobs > before then changed_rows[#changed_rows + 1] = row else unchanged = unchanged + 1 end
  end
end

local failures = {} -- username -> first error
local function run(list)
  if opts.dry_run or #list == 0 then return end -- (under pxlua --dry-run the client fakes the POSTs)
  local _, errs = api:map(list, function(client, job)
    if job.call == "add" then
      local pairs_list = {}
      for i, row in ipairs(job.rows) do pairs_list[i] = { username = row.username, password = row.password } end
      return client:add_accounts(pairs_list, { remark = job.remark ~= "" and job.remark or nil })
    end
    return client[job.call](client, job.row.username, job.value)
  end)
  for i, job in ipairs(list) do
    local job_err = errs[i]
    if job_err then
      local names = job.call == "add" and proxyapi.is_error(job_err) and job_err.failed or nil
      if not names then
        names = {}
        for k, row in ipairs(job.rows or { job.row }) do names[k] = row.username end
      end
      for _, name in ipairs(names) do failures[name] = failures[name] or job_err end
    end
  end
end

run(jobs)
local limits = {}
for _, row in ipairs(new_rows) do
  if row.limit ~= 0 and not failures[row.username] then
    limits[#limits + 1] = { call = "change_limit", row = row, value = row.limit }
  end
end
run(limits)

local added, updated, failed = 0, 0, 0
for _, row in ipairs(rows) do
  if failures[row.username] then
    io.stderr:write(row.username, ": ", tostring(failures[row.username]), "\n")
    failed = failed + 1
  end
end
for _, row in ipairs(new_rows) do added = added + (failures[row.username] and 0 or 1) end
for _, row in ipairs(changed_rows) do updated = updated + (failures[row.username] and 0 or 1) end

io.stdout:write(string.format("added %d, updated %d, unchanged %d, bad rows %d%s%s\n", added, updated, unchanged,
  bad, failed > 0 and ", failed " .. failed or "", dry_run and " (dry run: nothing changed)" or ""))
os.exit((bad > 0 or failed > 0) and 1 or 0)
