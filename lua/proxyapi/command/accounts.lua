--- The generated commands that change accounts: which accounts (NAME...,
-- `--match GLOB` over the account list, `--from FILE|-`), their new
-- secrets (generated from /dev/urandom, or `user:pass` lines: never a
-- password on the command line), `--max-changes`, the confirmation of what
-- cannot be undone, then the requests (one batch, or one per account,
-- concurrently) and a row per account with its outcome.
-- @module proxyapi.command.accounts

local check = require "proxyapi.check"
local errors = require "proxyapi.errors"
local generate = require "proxyapi.command.generate"
local input = require "proxyapi.command.input"
local names = require "proxyapi.command.names"

local ipairs, tostring, type = ipairs, tostring, type
local format, find, match, byte, sub = string.format, string.find, string.match, string.byte, string.sub
local concat = table.concat
local tointeger, tonumber = math.tointeger, tonumber
local io_open = io.open

local accounts = {}

local usage = generate.usage

local ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
local DEFAULT_LENGTH = 16

--- A random password of letters and digits from /dev/urandom (each of
-- the 62 characters equally likely: bytes of 248 and over are skipped).
-- @tparam integer length
-- @treturn string
-- @usage local pw = accounts.password(20)
function accounts.password(length)
  local f = assert(io_open("/dev/urandom", "rb"))
  local chars = {}
  while #chars < length do
    local bytes = f:read(length * 2)
    for i = 1, #bytes do
      local b = byte(bytes, i)
      if b < 248 and #chars < length then
        local k = b % 62 + 1
        chars[#chars + 1] = sub(ALPHABET, k, k)
      end
    end
  end
  f:close()
  return concat(chars)
end

-- How the command finds an account's secret: "pairs" (the first argument
-- is user:pass pairs), "second" (the second argument is one), or nil.
local function secret_mode(ep)
  local first, second = ep.args[1], ep.args[2]
  if first.secret == "pairs" then
    return "pairs", first
  elseif second and second.pos == 2 and not second.field and second.secret then
    return "second", second
  end
  return nil
end

--- Adds NAME..., --match, --from, --max-changes (and --length, --yes) to `cmd`.
-- @param cmd an argparse command
-- @tparam table spec
-- @usage accounts.define(cmd, spec)
function accounts.define(cmd, spec)
  local ep = spec.members[1].ep
  local mode = secret_mode(ep)
  cmd:argument("NAME", "account names (never passwords)"):args("*"):target("names")
  if ep.args[1].rule ~= "accounts" then
    cmd:option("--match", "the existing accounts whose username matches this glob (* ? [...])"):argname("GLOB")
  end
  cmd:option("--from", mode and "user:pass lines (or names, for generated passwords) from FILE, - for stdin"
    or "account names from FILE, one a line (- for stdin)"):argname("FILE")
  cmd:option("--max-changes", "change at most N accounts: refuse before change N+1 (nothing beyond N is sent)")
    :argname("N")
  if mode then
    cmd:option("--length", format("length of generated passwords (default %d)", DEFAULT_LENGTH)):argname("N")
  end
  if ep.irreversible then
    cmd:flag("-y --yes", "do not ask for confirmation (needed when not on a terminal)")
  end
end

local function positive(text, label)
  local n = text and find(text, "^%d+$") and tointeger(tonumber(text))
  if text ~= nil and (n == nil or n < 1) then
    usage(label .. ": a positive integer expected, got " .. tostring(text))
  end
  return n
end

--- The accounts a command is about, in order, without repeats:
-- `{ username =, password = }` (passwords only from --from lines).
local function targets_of(ctx, parsed, mode)
  local list, seen = {}, {}
  local function add(name, password, where)
    local ok, msg = check.name(name)
    if not ok then
      usage(format("%s: %s", where, msg))
    end
    if not seen[name] then
      seen[name] = true
      list[#list + 1] = { username = name, password = password }
    end
  end
  for _, name in ipairs(parsed.names or {}) do
    if find(name, ":", 1, true) then
      usage("passwords never go on the command line (they show in ps and the shell's history): "
        .. "give user:pass lines with --from FILE or --from -")
    end
    add(name, nil, "NAME")
  end
  if parsed.from then
    for _, line in ipairs(input.read_lines(parsed.from, ctx.stdin)) do
      local user, pass = match(line, "^([^:]*):(.*)$")
      if user and not mode then
        usage("--from: names only, one a line (this command sets no password)")
      end
      if pass then
        local ok, msg = check.password(pass, "password")
        if not ok then
          usage(format("--from: account %s: %s", user, msg))
        end
      end
      add(user or line, pass, "--from")
    end
  end
  if parsed.match then
    local method = names.roles.accounts
    local all, err = ctx.api[method](ctx.api)
    if all == nil then
      return nil, err
    end
    local pattern = input.glob_pattern(parsed.match)
    for _, a in ipairs(all) do
      if type(a.username) == "string" and find(a.username, pattern) then
        add(a.username, nil, "--match")
      end
    end
    if #list == 0 then
      usage("--match " .. parsed.match .. ": no account matches")
    end
  end
  if #list == 0 then
    usage("which accounts? give NAME..., --match GLOB or --from FILE")
  end
  return list
end

local function outcome_of(err, name)
  if err == nil then
    return "applied"
  end
  for _, unknown in ipairs(type(err.unknown) == "table" and err.unknown or {}) do
    if unknown == name then
      return "unknown" -- it may have reached the server: the journal says so too
    end
  end
  for _, failed in ipairs(type(err.failed) == "table" and err.failed or { name }) do
    if failed == name then
      return (err.maybe_applied or err.outcome == "unknown") and "unknown" or "failed"
    end
  end
  return "applied"
end

local function call_each(ctx, member, targets, mode, secret, value)
  local first = member.ep.args[1]
  local results, errs = ctx.api:map(targets, function(api, t)
    local given = { [first.wire] = t.username }
    if mode == "second" then
      given[secret.wire] = t.password
    elseif value ~= nil then
      given[member.ep.args[2].wire] = value
    end
    return generate.call(api, member, generate.arguments(member, ctx.parsed, given))
  end)
  for i, t in ipairs(targets) do
    local err = errs[i]
    t.outcome = err == nil and "applied" or ((err.maybe_applied or err.outcome == "unknown") and "unknown" or "failed")
    t.err = errs[i]
  end
  return errors.exit_code(results, errs)
end

local function call_batch(ctx, member, targets, mode)
  local first = member.ep.args[1]
  local list = {}
  for i, t in ipairs(targets) do
    list[i] = mode == "pairs" and { username = t.username, password = t.password } or t.username
  end
  local result, err = generate.call(ctx.api, member, generate.arguments(member, ctx.parsed, { [first.wire] = list }))
  local failed = 0
  for _, t in ipairs(targets) do
    t.outcome = outcome_of(result == nil and err or nil, t.username)
    if t.outcome ~= "applied" then
      t.err, failed = err, failed + 1
    end
  end
  if failed == 0 then
    return 0
  elseif failed < #targets then
    return 3
  end
  return errors.exit_code(nil, err)
end

--- Runs an account command; returns its report and exit status.
-- @tparam table ctx the command's context
-- @tparam table parsed
-- @tparam table spec
-- @treturn table the report
-- @treturn integer the exit status
-- @return[2] nil
-- @treturn[2] table the error (of the account list `--match` read)
-- @usage local report, status = accounts.run(ctx, parsed, spec)
function accounts.run(ctx, parsed, spec)
  local member = spec.members[1]
  local ep = member.ep
  local mode, secret = secret_mode(ep)
  local max = positive(parsed.max_changes, "--max-changes")
  local length = positive(parsed.length, "--length") or DEFAULT_LENGTH
  -- the value of a second argument that is no secret (a remark, a limit)
  local value
  local second = ep.args[2]
  if second and second.pos == 2 and not second.field and not mode then
    local o = member.by_wire[second.wire]
    value = generate.value(second, parsed[o.target], o.label)
  end
  ctx.parsed = parsed
  local targets, err = targets_of(ctx, parsed, mode)
  if targets == nil then
    return nil, err
  end
  for _, t in ipairs(targets) do
    if mode and t.password == nil then
      t.password, t.generated = accounts.password(length), true
    end
  end
  local skipped = {}
  if max and #targets > max then
    for i = #targets, max + 1, -1 do
      skipped[#skipped + 1] = targets[i]
      targets[i] = nil
    end
  end
  local notes = {}
  if ep.irreversible and not ctx.dry_run and not parsed.yes then
    local shown = {}
    for i = 1, math.min(#targets, 5) do
      shown[i] = targets[i].username
    end
    local question = format("%s: %d account%s (%s%s). This cannot be undone. Go on?", spec.shell, #targets,
      #targets == 1 and "" or "s", concat(shown, ", "), #targets > 5 and ", ..." or "")
    if not ctx.tty_in then
      usage(spec.shell .. ": not on a terminal: add --yes to confirm (nothing was sent)")
    elseif not ctx.confirm(question) then
      usage(spec.shell .. ": not confirmed; nothing was sent")
    end
  end
  local status
  if ep.batch then
    status = call_batch(ctx, member, targets, mode)
  else
    status = call_each(ctx, member, targets, mode, secret, value)
  end
  local rows, summary = {}, { applied = 0, failed = 0, unknown = 0, skipped = #skipped }
  for _, t in ipairs(targets) do
    local outcome = ctx.dry_run and t.outcome == "applied" and "dry-run" or t.outcome
    summary[t.outcome] = summary[t.outcome] + 1
    rows[#rows + 1] = { username = t.username, outcome = outcome,
                        password = mode and (ctx.dry_run and "***" or t.password) or nil,
                        error = t.err and tostring(t.err) or nil }
  end
  for i = #skipped, 1, -1 do
    rows[#rows + 1] = { username = skipped[i].username, outcome = "skipped", password = mode and "***" or nil }
  end
  if #skipped > 0 then
    notes[#notes + 1] = format("proxyapi: --max-changes %d: %d account%s not changed (nothing was sent for them)",
      max, #skipped, #skipped == 1 and " was" or "s were")
    status = status == 0 and 3 or status
  end
  if ctx.dry_run then
    notes[#notes + 1] = format("proxyapi: dry run: would run `%s` for %d account%s; nothing was sent", spec.shell,
      #targets, #targets == 1 and "" or "s")
  end
  return { rows = rows, json = { summary = summary }, notes = notes }, status
end

return accounts
