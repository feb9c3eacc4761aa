--- provision's reading and planning: the CSV's rows checked by the
-- library's own argument rules (bad ones reported by line), and the plan
-- that makes the accounts match them — adds grouped by remark, then one
-- change per differing value, then the limits of new accounts — taking a
-- resumed run's passwords from the journal.
-- @module proxyapi.jobs.provision_plan

local check = require "proxyapi.check"
local common = require "proxyapi.jobs.common"
local output = require "proxyapi.output"

local ipairs, tonumber = ipairs, tonumber
local format, find, gsub = string.format, string.find, string.gsub
local tointeger = math.tointeger

local plan = {}

plan.COLUMNS = { "username", "password", "remark", "limit" }

-- A row's fields as { username=, password=, remark=, limit= }, or nil and
-- what is wrong. An empty password means: a random one for a new
-- account, the current one for an existing account.
local function parse_row(fields)
  if #fields < 2 or #fields > 4 then
    return nil, format("%d columns, expected 2 to 4 (username,password,remark,limit)", #fields)
  end
  local username, password, remark, limit = fields[1], fields[2], fields[3] or "", fields[4] or ""
  local ok, problem = check.name(username)
  if ok and password ~= "" then
    ok, problem = check.password(password, "password of '" .. username .. "'")
  end
  if ok then
    ok, problem = check.remark(remark)
  end
  if not ok then
    return nil, problem
  end
  local gb = limit == "" and 0 or (find(limit, "^%d+$") and tointeger(tonumber(limit)))
  if gb then
    gb, problem = check.gb(gb)
  end
  if not gb then
    return nil, problem or format("limit %q: an integer 0..102400 (GB) expected", limit)
  end
  return { username = username, password = password, remark = remark, limit = gb }
end

--- The good rows of a CSV text and the bad ones (`{line =, problem =}`),
-- or nil and what is wrong with the whole text.
function plan.read(text)
  text = gsub(text, "^\239\187\191", "") -- a UTF-8 byte order mark
  local records, err = output.read_csv(text)
  if not records then
    return nil, err
  end
  local rows, bad, first_line = {}, {}, {}
  for i, record in ipairs(records) do
    local is_header = i == 1 and #record.fields == #plan.COLUMNS
    for j, name in ipairs(plan.COLUMNS) do
      is_header = is_header and record.fields[j] == name
    end
    if not is_header then
      local row, problem = parse_row(record.fields)
      if row and first_line[row.username] then
        row, problem = nil, format("username '%s' repeated (first on line %d)", row.username,
          first_line[row.username])
      end
      if row then
        row.line, first_line[row.username], rows[#rows + 1] = record.line, record.line, row
      else
        bad[#bad + 1] = { line = record.line, problem = problem }
      end
    end
  end
  return rows, bad
end

--- The plan for `rows` against the accounts there are now. Returns a
-- table: `jobs` (first phase: `{call = "add", remark =, rows = {...}}` or
-- `{call = "change_x", row =, value =}`), `limits` (after the adds),
-- `credentials` (rows of the secrets file: `{username =, password =,
-- outcome =, done =}`), `added`, `changed`, `unchanged` (rows), `left`
-- (changes held back by --max-changes).
function plan.make(rows, accounts, prior, opts)
  local existing = {}
  for _, a in ipairs(accounts) do
    existing[a.username] = a
  end
  local p = { jobs = {}, limits = {}, credentials = {}, added = {}, changed = {}, unchanged = 0, left = 0 }
  local budget = opts.max_changes or math.huge
  local function take()
    if budget <= 0 then
      p.left = p.left + 1
      return false
    end
    budget = budget - 1
    return true
  end
  local groups = {}
  for _, row in ipairs(rows) do
    local a = existing[row.username]
    local before = prior and prior.adds[row.username]
    if a == nil then
      if take() then
        local password = row.password
        if password == "" then
          password = before and before.password or common.password(opts.length)
        end
        row.new_password = password
        local cred = { username = row.username, password = password, outcome = "pending", send = true }
        row.credential = cred
        p.credentials[#p.credentials + 1] = cred
        p.added[#p.added + 1] = row
        local group = groups[row.remark]
        if not group then
          group = { call = "add", remark = row.remark, rows = {} }
          groups[row.remark] = group
          p.jobs[#p.jobs + 1] = group
        end
        group.rows[#group.rows + 1] = row
      end
    else
      if before and row.password == "" then
        -- an add of the cut-short run that did go through: its password is in force
        p.credentials[#p.credentials + 1] = { username = row.username, password = before.password,
                                              outcome = "applied", done = true }
      end
      local n, wanted = #p.jobs, false
      local function differs(call, old, new)
        wanted = wanted or old ~= new
        if old ~= new and take() then
          p.jobs[#p.jobs + 1] = { call = call, row = row, value = new }
          if call == "change_password" then
            local cred = { username = row.username, password = new, outcome = "pending", send = true }
            row.credential = cred
            p.credentials[#p.credentials + 1] = cred
          end
        end
      end
      if row.password ~= "" then
        differs("change_password", a.password, row.password)
      end
      differs("change_remark", a.remark or "", row.remark)
      differs("change_limit", a.limit_flow, row.limit)
      if #p.jobs > n then
        p.changed[#p.changed + 1] = row
      elseif not wanted then
        p.unchanged = p.unchanged + 1
      end
    end
  end
  for _, row in ipairs(p.added) do
    if row.limit ~= 0 and take() then
      p.limits[#p.limits + 1] = { call = "change_limit", row = row, value = row.limit }
    end
  end
  return p
end

return plan
