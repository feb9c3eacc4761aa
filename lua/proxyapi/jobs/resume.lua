--- What `--resume RUN` knows of a cut-short run, from the journal: the
-- run and the runs it resumed in turn (their command lines name them:
-- `--resume N`), the password each account was last given there with its
-- outcome, and the accounts some other run has changed since (left alone).
-- @module proxyapi.jobs.resume

local common = require "proxyapi.jobs.common"

local ipairs, pairs, tonumber, tostring, type = ipairs, pairs, tonumber, tostring, type
local format, find, sub, gmatch, concat = string.format, string.find, string.sub, string.gmatch, table.concat
local tointeger, insert = math.tointeger, table.insert

local resume = {}

--- How many resumed runs a chain may hold.
resume.MAX_CHAIN = 64

--- The words of a command line as the journal keeps it (proxyapi.record
-- quotes a word in '…', with '\'' for a quote inside).
function resume.words(command)
  local words, i, n = {}, 1, #command
  while i <= n do
    local s = find(command, "[^ ]", i)
    if s == nil then
      break
    end
    i = s
    local word = {}
    while i <= n and sub(command, i, i) ~= " " do
      local c = sub(command, i, i)
      if c == "'" then
        local j = find(command, "'", i + 1, true) or n + 1
        word[#word + 1] = sub(command, i + 1, j - 1)
        i = j + 1
      elseif c == "\\" then
        word[#word + 1] = sub(command, i + 1, i + 1)
        i = i + 2
      else
        local j = find(command, "[ '\\]", i) or n + 1
        word[#word + 1] = sub(command, i, j - 1)
        i = j
      end
    end
    words[#words + 1] = concat(word)
  end
  return words
end

--- The value of the last `--name V` or `--name=V` among words, or nil.
function resume.option(words, name)
  local value
  for i, word in ipairs(words) do
    if word == name then
      value = words[i + 1]
    elseif sub(word, 1, #name + 1) == name .. "=" then
      value = sub(word, #name + 2)
    end
  end
  return value
end

local function by_id(runs)
  local map = {}
  for _, run in ipairs(runs) do
    map[run.id] = run
  end
  return map
end

--- The run and those it resumed, oldest first; or nil and a message.
local function chain_of(j, run_id)
  local runs, err = j:runs()
  if runs == nil then
    return nil, "journal: " .. tostring(err)
  end
  local known, chain, id = by_id(runs), {}, run_id
  while id do
    local run = known[id]
    if run == nil then
      return nil, format("the journal (%s) has no run %d", j.path, id)
    elseif run.status == "running" then
      return nil, format("journal run %d is still running (pid %s): let it finish or stop it first", id,
        tostring(run.pid))
    elseif #chain >= resume.MAX_CHAIN then
      return nil, format("journal run %d resumes more than %d runs", run_id, resume.MAX_CHAIN)
    end
    insert(chain, 1, run)
    local previous = resume.option(resume.words(run.command or ""), "--resume")
    local prev_id = previous and tointeger(tonumber(previous))
    id = prev_id and prev_id < id and prev_id or nil
  end
  return chain
end

--- Loads what the journal knows of run `run_id` (and the runs it
-- resumed). Returns a table, or nil and a message:
-- `passwords[account] = {password=, outcome=, run=}` (password changes),
-- `adds[account] = {password=, outcome=, run=}` (accounts added),
-- `changed_since[account] = run` (changed by another run since: leave
-- alone), `runs` (ids, oldest first), `command` (the first run's words).
function resume.load(ctx, run_id)
  local j = ctx.journal
  if j == nil then
    return nil, "--resume needs the journal (it is off: --no-journal)"
  end
  local chain, err = chain_of(j, run_id)
  if chain == nil then
    return nil, err
  end
  local paths, host = ctx.api:settings().paths, common.base_host(ctx)
  local state = { passwords = {}, adds = {}, changed_since = {}, runs = {}, in_chain = {},
                  command = resume.words(chain[1].command or "") }
  for _, run in ipairs(chain) do
    state.runs[#state.runs + 1], state.in_chain[run.id] = run.id, true
    local entries, eerr = j:entries { run = run.id, show_secrets = true }
    if entries == nil then
      return nil, "journal: " .. tostring(eerr)
    end
    for _, e in ipairs(entries) do
      if host and e.base_host and e.base_host ~= host then
        return nil, format("journal run %d changed accounts at %s, not at %s", run.id, e.base_host, host)
      end
      local params = e.params
      if e.path == paths.change_password and type(params.account) == "string" then
        state.passwords[params.account] = { password = tostring(params.password),
          outcome = e.outcomes[params.account] or e.outcome, run = run.id }
      elseif e.path == paths.add_accounts and type(params.accounts) == "string" then
        for name, password in gmatch(params.accounts, "([^,:]+):([^,]*)") do
          state.adds[name] = { password = password, outcome = e.outcomes[name] or e.outcome, run = run.id }
        end
      end
    end
  end
  -- another run that changed one of these accounts since wins
  local later = j:entries { since = chain[1].started }
  for _, e in ipairs(later or {}) do
    if not state.in_chain[e.run] and e.run > chain[1].id then
      for _, account in ipairs(e.accounts) do
        local mine = state.passwords[account] or state.adds[account]
        if mine and e.run > mine.run and (e.path == paths.change_password or e.path == paths.add_accounts
          or e.path == paths.delete_accounts) then
          state.changed_since[account] = e.run
        end
      end
    end
  end
  return state
end

--- Whether the first run of the chain was started by the job: a word of
-- its command line is the script (`…/rotate-passwords.lua`) or the
-- command's subcommand (`rotate`). Only then do its selection options
-- (read back with `resume.option`) say which accounts it meant.
function resume.started_by(state, job)
  local script = job.script .. ".lua"
  for _, word in ipairs(state.command) do
    if word == job.name or word == script or sub(word, -#script - 1) == "/" .. script then
      return true
    end
  end
  return false
end

--- How many accounts the loaded state names.
function resume.size(state)
  local n = 0
  for _ in pairs(state.passwords) do n = n + 1 end
  for name in pairs(state.adds) do
    if not state.passwords[name] then n = n + 1 end
  end
  return n
end

return resume
