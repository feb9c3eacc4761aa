--- The endpoint commands, generated from the endpoint table: a command
-- per shell name (proxyapi.command.names; the method's own name for an
-- endpoint it does not list), whose positional arguments and options are
-- the endpoint's `args` (help from `doc`), with the guard rails of
-- `effect` and `irreversible`. Endpoints that share a shell name become
-- one command that picks the endpoint by how many positional arguments
-- it is given (`states`, `states CC`, `states CC STATE`).
-- @module proxyapi.command.generate

local check = require "proxyapi.check"
local cli = require "proxyapi.cli"
local errors = require "proxyapi.errors"

local ipairs, pairs, tostring, require = ipairs, pairs, tostring, require
local format, gsub, upper, find = string.format, string.gsub, string.upper, string.find
local sort, concat, unpack = table.sort, table.concat, table.unpack
local tointeger, tonumber = math.tointeger, tonumber

local generate = {}

-- Rules whose first argument is the account (or accounts) a change is about.
local ACCOUNT_RULES = { name = true, names = true, accounts = true }

local METAVAR = { time = "DATE", gb = "GB", count = "N", page = "N", size = "N", product_type = "TYPE",
                  static_product_type = "TYPE", status = "N", remark = "TEXT", separator = "SEP" }

local function usage(msg)
  error(errors.usage(msg), 0)
end
generate.usage = usage

--- Whether an endpoint's first argument names the accounts it changes.
-- @tparam table ep an entry of the endpoint table
-- @treturn boolean
-- @usage if generate.targets_accounts(ep) then ... end
function generate.targets_accounts(ep)
  local first = ep.args and ep.args[1]
  return ep.effect ~= "read" and first ~= nil and first.pos == 1 and first.field == nil
    and ACCOUNT_RULES[first.rule] == true
end

local function shell_word(name)
  return (gsub(name, "_", "-"))
end

--- The command-line value of an argument: the text as given, or the
-- integer it spells, or a date's midnight, whichever the argument's rule
-- takes (the rule's message otherwise, as a usage error).
-- @tparam table a an argument of the endpoint table
-- @tparam string text
-- @tparam string label the option as the user wrote it
-- @return the value
-- @raise a usage error object (exit status 2)
-- @usage generate.value({ rule = "gb" }, "50", "--gb") --> 50
function generate.value(a, text, label)
  local rule = check[a.rule]
  if rule == nil then
    return text
  end
  local candidates = { text }
  if find(text, "^%-?%d+$") then
    candidates[#candidates + 1] = tointeger(tonumber(text))
  end
  if find(text, "^%d%d%d%d%-%d%d%-%d%d$") then
    candidates[#candidates + 1] = text .. " 00:00:00"
  end
  local msg
  for _, c in ipairs(candidates) do
    local v, why = rule(c, a.wire)
    if v ~= nil then
      return c
    end
    msg = why
  end
  usage(format("%s: %s", label, tostring(msg)))
end

--- The Lua arguments of a call of `member` from the parsed command line:
-- positionals first (or `given`, by wire name), options into the tables
-- at their positions.
-- @tparam table member `{ name =, ep =, positional = {...}, options = {...} }`
-- @tparam table parsed argparse's result
-- @tparam[opt] table given wire name -> value, already Lua values
-- @treturn table the arguments, with `n`
-- @usage local args = generate.arguments(spec.members[1], parsed); api[name](api, table.unpack(args, 1, args.n))
function generate.arguments(member, parsed, given)
  local list, n = {}, 0
  given = given or {}
  for _, a in ipairs(member.ep.args or {}) do
    local value = given[a.wire]
    if value == nil then
      local o = member.by_wire[a.wire]
      local text = o and parsed[o.target]
      if text ~= nil then
        value = generate.value(a, text, o.label)
      end
    end
    if a.field then
      if value ~= nil then
        list[a.pos] = list[a.pos] or {}
        list[a.pos][a.field] = value
      end
    else
      list[a.pos] = value
    end
    if a.pos > n and (value ~= nil or not a.field) then
      n = a.pos
    end
  end
  list.n = n
  return list
end

--- Calls a member's method with the arguments of `generate.arguments`.
-- @param api a client
-- @tparam table member
-- @tparam table args
-- @return what the method returns
-- @usage local result, err = generate.call(ctx.api, member, args)
function generate.call(api, member, args)
  return api[member.name](api, unpack(args, 1, args.n))
end

-- The options and positionals of an endpoint, as the command line names them.
local function describe(name, ep, shell)
  local renames = shell.options or {}
  local member = { name = name, ep = ep, positional = {}, options = {}, by_wire = {} }
  local accounts = generate.targets_accounts(ep)
  for i, a in ipairs(ep.args or {}) do
    local key = a.field or a.wire
    local word = shell_word(renames[key] or key)
    local o = { arg = a, doc = a.doc, target = "f_" .. a.wire }
    if accounts and i == 1 then
      o = nil -- the accounts: NAME..., --match, --from (proxyapi.command.accounts)
    elseif accounts and a.pos == 2 and not a.field and a.secret then
      o = nil -- a secret: generated, or read from --from; never on the command line
    elseif a.field or accounts then
      o.flag, o.label = "--" .. word, "--" .. word
      o.metavar = METAVAR[a.rule] or upper(gsub(word, "%-", "_"))
      o.required = not a.field
      member.options[#member.options + 1] = o
    else
      o.metavar, o.label = upper(gsub(word, "%-", "_")), upper(gsub(word, "%-", "_"))
      member.positional[#member.positional + 1] = o
    end
    if o then
      member.by_wire[a.wire] = o
    end
  end
  return member
end

-- What a change says in its help.
local function effect_note(ep)
  local notes = {}
  if ep.effect == "change" then
    notes[#notes + 1] = "Changes the fleet: each request is recorded in the journal first "
      .. "(unless --no-journal); --dry-run shows the requests instead of sending them."
  elseif ep.effect == "hand_out" then
    notes[#notes + 1] = "Hands out something the provider counts: recorded in the journal; "
      .. "--dry-run sends nothing."
  end
  if ep.irreversible then
    notes[#notes + 1] = "Irreversible: asks for confirmation on a terminal, and needs --yes otherwise."
  end
  if ep.returns then
    notes[#notes + 1] = "The API returns: " .. ep.returns .. "."
  end
  return #notes > 0 and concat(notes, "\n") or nil
end

--- The command specs made from an endpoint table: one per shell path.
-- @tparam table table_ the endpoint table
-- @tparam table names the shell-name table (proxyapi.command.names)
-- @treturn table specs in a stable order: `{ path = {...}, shell =, members = {...},
-- extend =, filter =, show_passwords =, accounts = bool }`
-- @usage for _, spec in ipairs(generate.specs(endpoints, names)) do print(spec.shell) end
function generate.specs(table_, names)
  local by_path, order = {}, {}
  local methods = {}
  for name in pairs(table_) do
    methods[#methods + 1] = name
  end
  sort(methods)
  for _, name in ipairs(methods) do
    local ep = table_[name]
    local shell = names.commands[name] or { shell_word(name) }
    for _, path in ipairs(shell) do
      local spec = by_path[path]
      if spec == nil then
        spec = { shell = path, path = {}, members = {} }
        for word in path:gmatch("%S+") do
          spec.path[#spec.path + 1] = word
        end
        by_path[path], order[#order + 1] = spec, path
      end
      local member = describe(name, ep, shell)
      spec.members[#spec.members + 1] = member
      spec.extend = spec.extend or shell.extend
      spec.filter = spec.filter or shell.filter
      spec.show_passwords = spec.show_passwords or shell.show_passwords
      spec.accounts = spec.accounts or generate.targets_accounts(ep)
    end
  end
  sort(order)
  local list = {}
  for i, path in ipairs(order) do
    local spec = by_path[path]
    -- the member with fewer positionals first: it runs when fewer are given
    sort(spec.members, function(a, b)
      if #a.positional ~= #b.positional then
        return #a.positional < #b.positional
      end
      return a.name < b.name
    end)
    for j = 2, #spec.members do
      if spec.accounts or #spec.members[j].positional == #spec.members[j - 1].positional then
        error(format("proxyapi.command: '%s' cannot tell %s from %s", path, spec.members[j - 1].name,
          spec.members[j].name))
      end
    end
    list[i] = spec
  end
  return list
end

local function description(spec)
  if #spec.members == 1 then
    local ep = spec.members[1].ep
    if ep.paged then
      return (ep.summary or "") .. " Every page, unless --" .. shell_word(ep.paged.page) .. " or --"
        .. shell_word(ep.paged.size) .. " asks for one."
    end
    return ep.summary
  end
  local parts = {}
  for _, m in ipairs(spec.members) do
    local words = {}
    for _, p in ipairs(m.positional) do
      words[#words + 1] = p.metavar
    end
    parts[#parts + 1] = (#words == 0 and "" or "With " .. concat(words, " ") .. ": ") .. (m.ep.summary or m.name)
  end
  return concat(parts, "\n")
end

--- Adds the options of a member (those not already there) to `cmd`.
local function add_options(cmd, member, seen)
  for _, o in ipairs(member.options) do
    if not seen[o.flag] then
      seen[o.flag] = true
      local opt = cmd:option(o.flag, o.doc):target(o.target):argname(o.metavar)
      if o.required then
        opt:count(1)
      end
    end
  end
end

--- Adds a command for every spec to `parser`, under its group commands;
-- returns the specs by leaf command. Each leaf's action puts its spec in
-- the parsed result as `_spec`.
-- @param parser from `cli.parser`
-- @tparam table specs from `specs`
-- @tparam table names the shell-name table
-- @treturn table group commands by name
-- @usage generate.define(parser, generate.specs(endpoints, names), names)
function generate.define(parser, specs, names)
  local groups = {}
  for _, spec in ipairs(specs) do
    local parent = parser
    for i = 1, #spec.path - 1 do
      local word = spec.path[i]
      local key = concat(spec.path, " ", 1, i)
      if groups[key] == nil then
        groups[key] = cli.command(parent, word, names.groups[word] or word)
      end
      parent = groups[key]
    end
    local leaf = spec.path[#spec.path]
    local cmd = cli.command(parent, leaf, description(spec))
    local note = effect_note(spec.members[#spec.members].ep)
    if note then
      cmd:epilog(note)
    end
    spec.command = cmd
    local widest = spec.members[#spec.members]
    for i, p in ipairs(widest.positional) do
      local arg = cmd:argument(p.metavar, p.doc):target(p.target)
      if #spec.members[1].positional < i then
        arg:args("?")
      end
    end
    local seen = {}
    for _, m in ipairs(spec.members) do
      add_options(cmd, m, seen)
    end
    if spec.accounts then
      require("proxyapi.command.accounts").define(cmd, spec)
    end
    if spec.filter then
      cmd:option("--match", "only the rows whose " .. spec.filter .. " matches this glob (* ? [...])")
        :argname("GLOB")
      cmd:option("--from", "only the rows whose " .. spec.filter .. " is a line of FILE (- for stdin)")
        :argname("FILE")
    end
    if spec.show_passwords then
      cmd:flag("--show-passwords", "show passwords instead of ***")
    end
    local paged = widest.ep.paged
    if paged then
      cmd:flag("--all", "every page (the default when neither --" .. shell_word(paged.page) .. " nor --"
        .. shell_word(paged.size) .. " is given)")
    end
    if spec.extend then
      spec.extension = require("proxyapi.command." .. spec.extend)
      spec.extension.define(cmd, spec)
    end
    cmd:action(function(result)
      result._spec = result._spec or spec
    end)
  end
  return groups
end

--- The member a read command runs: the one with as many positionals as given.
-- @tparam table spec
-- @tparam table parsed
-- @treturn table the member
-- @usage local member = generate.member(spec, parsed)
function generate.member(spec, parsed)
  local given = 0
  for _, p in ipairs(spec.members[#spec.members].positional) do
    if parsed[p.target] ~= nil then
      given = given + 1
    end
  end
  for _, m in ipairs(spec.members) do
    if #m.positional == given then
      return m
    end
  end
  usage(format("%s: %d arguments do not name an endpoint", spec.shell, given))
end

return generate
