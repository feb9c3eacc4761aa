--- The Lua side of the pxlua prompt (csrc/pxlua_repl.c holds readline):
-- Tab completion of names, the history file and which lines stay out of
-- it, `help`, and printing results (proxyapi.repl_show).
--
-- Completion never runs code: it walks tables with rawget and follows
-- metatables' `__index` only where that is a table. The lazy globals of
-- pxlua (`proxyapi`, and `api` before its first use) are completed from
-- stand-ins: the module, and the client's methods table.
-- @module proxyapi.repl

local core = require "proxyapi.core"
local net = require "proxyapi.net"
local show = require "proxyapi.repl_show"
local help = require "proxyapi.repl_help"

local type, rawget, rawset, next, select, pcall = type, rawget, rawset, next, select, pcall
local pairs, ipairs = pairs, ipairs
local getmetatable, setmetatable, require = getmetatable, setmetatable, require
local byte, find, sub, lower, format = string.byte, string.find, string.sub, string.lower, string.format
local sort = table.sort
local is_name, KEYWORDS = show.is_name, show.KEYWORDS

local repl = {}

--- Lines kept in the history file.
repl.HISTORY_SIZE = 1000

-- ---------------------------------------------------------------------
-- Completion

local MAX_CHAIN = 16 -- __index tables followed, at most

-- t[name] as the language would find it, without calling anything:
-- raw fields, then the __index tables of the metatables.
local function field(v, name)
  for _ = 1, MAX_CHAIN do
    if type(v) == "table" then
      local x = rawget(v, name)
      if x ~= nil then
        return x
      end
    end
    local mt = getmetatable(v)
    local index = type(mt) == "table" and rawget(mt, "__index") or nil
    if type(index) ~= "table" then
      return nil
    end
    v = index
  end
end

-- The names v answers to (name -> value, the nearest one winning).
local function names_of(v, found)
  local seen = {}
  for _ = 1, MAX_CHAIN do
    if type(v) == "table" and not seen[v] then
      seen[v] = true
      local k, x = next(v)
      while k ~= nil do
        if is_name(k) and found[k] == nil then
          found[k] = x
        end
        k, x = next(v, k)
      end
    end
    local mt = getmetatable(v)
    v = type(mt) == "table" and rawget(mt, "__index") or nil
    if type(v) ~= "table" then
      break
    end
  end
  return found
end

--- The completions of the expression that ends `line` (the text before
-- the cursor): each is the whole trailing word (`[%w_.:]*`) as it would
-- read completed, a function's with "(" after it.
-- @tparam string line
-- @tparam table env the globals
-- @tparam[opt] table stand_ins values for globals not (yet) in env
-- @treturn {string,...} sorted
-- @usage repl.complete("string.fo", _G) --> { "string.format(" }
function repl.complete(line, env, stand_ins)
  stand_ins = stand_ins or {}
  local word = line:match("[%w_.:]*$")
  local partial = word:match("[%w_]*$")
  local path = sub(word, 1, #word - #partial)
  local sep = sub(path, -1)
  if find(partial, "^%d") then
    return {}
  end
  local found
  if path == "" then
    found = names_of(env, {})
    for name, value in pairs(stand_ins) do
      if found[name] == nil then
        found[name] = value
      end
    end
    for keyword in pairs(KEYWORDS) do
      if found[keyword] == nil then
        found[keyword] = false
      end
    end
  else
    local v
    for name in (sub(path, 1, -2) .. "."):gmatch("(.-)%.") do
      if not is_name(name) then
        return {}
      end
      if v == nil then
        v = field(env, name)
        if v == nil then
          v = stand_ins[name]
        end
      else
        v = field(v, name)
      end
      if v == nil then
        return {}
      end
    end
    found = names_of(v, {})
  end
  local list, hidden = {}, sub(partial, 1, 2) ~= "__"
  for name, value in pairs(found) do
    if sub(name, 1, #partial) == partial and not (hidden and sub(name, 1, 2) == "__")
      and (sep ~= ":" or type(value) == "function") then
      list[#list + 1] = path .. name .. (type(value) == "function" and "(" or "")
    end
  end
  sort(list)
  return list
end

-- ---------------------------------------------------------------------
-- History

--- The history file: `$XDG_STATE_HOME/proxyapi/repl_history`, else
-- `~/.local/state/proxyapi/repl_history`; nil without an absolute
-- XDG_STATE_HOME or HOME.
-- @tparam[opt=os.getenv] function getenv
-- @treturn ?string
function repl.history_path(getenv)
  getenv = getenv or os.getenv
  local state = getenv("XDG_STATE_HOME")
  if state == nil or sub(state, 1, 1) ~= "/" then
    local home = getenv("HOME")
    if home == nil or sub(home, 1, 1) ~= "/" then
      return nil
    end
    state = home .. "/.local/state"
  end
  return state .. "/proxyapi/repl_history"
end

--- Makes the history file's folder (0700) and the file (0600) if they
-- are missing, and checks the file: a regular file of ours that neither
-- group nor others may read or write. Returns the path, or nil and why
-- it is not used.
-- @tparam string path
function repl.open_history(path)
  local dir = path:match("^(.*)/[^/]+$")
  local ok, msg = core.mkdir_private(dir)
  if not ok then
    return nil, "cannot make the folder of the history file: " .. msg
  end
  ok, msg = core.create_private(path)
  if not ok and msg ~= "exists" then
    return nil, "cannot create the history file: " .. msg
  end
  local st, err = core.stat(path)
  if st == nil then
    return nil, err
  elseif st.type ~= "file" then
    return nil, format("history file %s is a %s: not used", path, st.type)
  elseif st.uid ~= core.uid() then
    return nil, format("history file %s belongs to another user: not used", path)
  elseif st.mode & 63 ~= 0 then -- 077
    return nil, format("history file %s can be read by group or others (mode %03o): "
      .. "not loaded or written; allow only its owner: chmod 600 %s", path, st.mode & 511, path)
  end
  return path
end

-- A secret is kept as a rolling hash and its length only (wrapping
-- 64-bit arithmetic), so the filter holds no copy of the key.
local BASE = 1099511628211

local function fingerprint(s)
  local h, power = 0, 1
  for i = 1, #s do
    h = h * BASE + byte(s, i)
    power = power * BASE
  end
  return { len = #s, hash = h, power = power }
end

local function holds(line, fp)
  local n, k = #line, fp.len
  if n < k then
    return false
  end
  local h = 0
  for i = 1, k do
    h = h * BASE + byte(line, i)
  end
  for i = k + 1, n + 1 do
    if h == fp.hash then
      return true
    elseif i <= n then
      h = h * BASE + byte(line, i) - byte(line, i - k) * fp.power
    end
  end
  return false
end

-- `app_key` (any case, also `["app_key"]` or a JSON "app_key":) given
-- or compared to a string literal.
local LITERAL_KEY = "app_key[\"'%]]*%s*[=:]=?%s*[\"'%[]"

--- The rule for the history: a function(line) that is false for a line
-- to keep out of it, which is one that holds any of the secrets given
-- (raw or percent-encoded), or that sets `app_key` to a string literal.
-- @param ... the secrets (strings; others are ignored)
-- @treturn function
-- @usage local keep = repl.history_filter(os.getenv "PROXYAPI_APP_KEY")
function repl.history_filter(...)
  local prints = {}
  for i = 1, select("#", ...) do
    local secret = select(i, ...)
    if type(secret) == "string" and secret ~= "" then
      prints[#prints + 1] = fingerprint(secret)
      local encoded = net.percent_encode(secret)
      if encoded ~= secret then
        prints[#prints + 1] = fingerprint(encoded)
      end
    end
  end
  return function(line)
    if find(lower(line), LITERAL_KEY) then
      return false
    end
    for _, fp in ipairs(prints) do
      if holds(line, fp) then
        return false
      end
    end
    return true
  end
end

-- The key file of `--app-key-file FILE` among pxlua's options (negative
-- indices of arg when there is a script, from 1 when there is none).
local function key_file_secret(arg)
  if type(arg) ~= "table" then
    return nil
  end
  local low = 0
  while rawget(arg, low - 1) ~= nil do
    low = low - 1
  end
  local first, last = low < 0 and low or 1, low < 0 and -1 or #arg
  for i = first, last - 1 do
    if rawget(arg, i) == "--" then
      break
    elseif rawget(arg, i) == "--app-key-file" and type(rawget(arg, i + 1)) == "string" then
      return (core.read_secret_file(rawget(arg, i + 1)))
    end
  end
end

-- ---------------------------------------------------------------------
-- The prompt

--- What csrc/pxlua_repl.c asks: sets the global `help` (unless there is
-- one), and returns the session: `print(...)` prints results,
-- `complete(line)` lists completions, `remember(line)` is false for a
-- line kept out of the history; `history` is the history file (nil when
-- none: the input is not a terminal, no home, or `warning` says why).
-- @tparam table env the globals
-- @tparam[opt] table options `tty`: the input is a terminal; `getenv`
-- @treturn table
function repl.start(env, options)
  options = options or {}
  local getenv = options.getenv or os.getenv
  local known = repl.history_filter(getenv("PROXYAPI_APP_KEY"), key_file_secret(rawget(env, "arg")))
  local session = {
    history_size = repl.HISTORY_SIZE,
    -- and the key of the global client, wherever it came from (a profile's
    -- key file or variable): its scrubber knows every spelling of it
    remember = function(line)
      local api = rawget(env, "api")
      if type(api) == "userdata" then -- (scrub raises for anything but a client)
        local ok, scrubbed = pcall(core.transfer.scrub, api, line)
        if ok and scrubbed ~= line then
          return false
        end
      end
      return known(line)
    end,
  }
  if options.tty then
    local path = repl.history_path(getenv)
    if path ~= nil then
      session.history, session.warning = repl.open_history(path)
    end
  end
  local ok, proxyapi = pcall(require, "proxyapi")
  local stand_ins = {
    proxyapi = ok and proxyapi or nil,
    api = setmetatable({}, { __index = core.Client }),
  }
  function session.complete(line)
    return repl.complete(line, env, stand_ins)
  end
  function session.print(...)
    io.stdout:write(show.values(...), "\n")
  end
  if rawget(env, "help") == nil then
    rawset(env, "help", help.help)
  end
  return session
end

return repl
