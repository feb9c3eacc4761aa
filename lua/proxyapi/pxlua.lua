--- The Lua side of the pxlua host: the globals `proxyapi` and `api`
-- (made when a script first uses them, from the command line's settings,
-- which win over the environment), the journal of its runs, the progress
-- bar, and the end of a run: after an interrupt, one summary line.
-- @module proxyapi.pxlua

local core = require "proxyapi.core"
local errors = require "proxyapi.errors"

local require, rawset, rawget, type, error, pcall, ipairs = require, rawset, rawget, type, error, pcall, ipairs
local getmetatable, setmetatable, tostring = getmetatable, setmetatable, tostring
local format, rep, floor = string.format, string.rep, math.floor
local stderr, os_exit, os_remove, tmpname = io.stderr, os.exit, os.remove, os.tmpname

local pxlua = {}

--- A progress callback that redraws one line on `stream` (a terminal).
function pxlua.progress_bar(stream, width)
  width = width or 30
  local last = -1
  return function(done, total)
    if total <= 0 then
      return
    end
    local filled = floor(width * done / total)
    if filled == last and done < total then
      return
    end
    last = filled
    stream:write(format("\r[%s%s] %d/%d", rep("#", filled), rep(" ", width - filled), done, total))
    if done >= total then
      stream:write("\r", rep(" ", width + 24), "\r")
      last = -1
    end
    stream:flush()
  end
end

local NO_KEY = "no app_key for 'api': set PROXYAPI_APP_KEY, use --app-key-file FILE, "
  .. "or run with --fake for a local fake of the API"

local host = { config = nil, api = nil, finished = false, fake_dir = nil }

--- A folder of its own for the journal of a --fake run: it lives and dies
-- with the fake, and never touches the operator's.
local function fake_journal()
  local dir = tmpname()
  os_remove(dir)
  assert(core.mkdir_private(dir))
  host.fake_dir = dir
  return dir .. "/journal.sqlite3"
end

local function remove_fake_journal()
  local dir = host.fake_dir
  if dir then
    for _, suffix in ipairs { "", "-wal", "-shm", "-journal" } do
      os_remove(dir .. "/journal.sqlite3" .. suffix)
    end
    os_remove(dir)
    host.fake_dir = nil
  end
end

--- The client behind the global `api`.
function pxlua.make_client(config)
  local proxyapi = require "proxyapi"
  local options = {
    app_key = config.app_key,
    base_url = config.base_url,
    timeout = config.timeout,
    dry_run = config.dry_run or nil,
    journal = config.journal,
    profile = config.profile,
    config = config.config,
  }
  if config.fake then
    options.proxy = false -- the fake is on loopback: never through a proxy
    options.profile = false -- nor with a profile's prefix or paths
  end
  if config.tty then
    options.progress = pxlua.progress_bar(stderr)
  end
  local ok, api = pcall(proxyapi.new, options)
  if not ok then
    -- the script never called new: say which setting is wrong instead
    local _, msg, why = require("proxyapi.client").check_options(options)
    if why == nil then
      -- the options are right, yet `new` refused: the journal cannot be
      -- opened (group-readable, say), a configuration error too
      local inner = type(api) == "string" and api:match("^bad argument #1 to 'new' %((.*)%)$")
      if not inner then
        error(api, 0)
      end
      error(errors.usage("cannot make the global 'api': " .. inner .. " (--no-journal runs without one)"), 0)
    elseif why.missing == "app_key" then
      error(errors.usage(NO_KEY), 0)
    elseif why.option then
      msg = why.option .. ": " .. why.problem .. (why.label ~= why.option and " (from " .. why.label .. ")" or "")
    end
    error(errors.usage("cannot make the global 'api' from the command line and the environment: " .. msg), 0)
  end
  host.api = api
  return api
end

--- Reads the key file, finds the journal, and installs the lazy globals
-- `proxyapi` and `api` in _G (keeping any __index the environment had).
-- Raises a usage error object (exit status 2) for a bad setting.
function pxlua.setup(config)
  if config.app_key_file then
    local key, err = core.read_secret_file(config.app_key_file)
    if key == nil then
      error(errors.usage(err), 0)
    end
    config.app_key, config.app_key_file = key, nil
  end
  if config.no_journal then
    config.journal = nil
  else
    config.journal = config.fake and fake_journal() or true
  end
  host.config = config
  local G = _G
  local meta = getmetatable(G) or {}
  local previous = meta.__index
  meta.__index = function(t, name)
    if name == "proxyapi" then
      local module = require "proxyapi"
      rawset(t, name, module)
      return module
    elseif name == "api" then
      local api = pxlua.make_client(config)
      rawset(t, name, api)
      return api
    elseif type(previous) == "function" then
      return previous(t, name)
    elseif previous ~= nil then
      return previous[name]
    end
    return rawget(t, name)
  end
  setmetatable(G, meta)
  -- a script that ends with os.exit still ends its run, and an interrupt
  -- still has its summary and status
  os.exit = function(code, close) -- luacheck: ignore 122
    local status = pxlua.finish(code == nil and 0 or code == true and 0 or code == false and 1 or code)
    return os_exit(status or code, close)
  end
end

--- The end of the host's run, once: ends the journal's run and removes a
-- --fake journal; after an interrupt prints `interrupted: 41 applied, 0
-- failed, 16 unknown (journal run 17)` on stderr and returns the exit
-- status (130 for SIGINT, 143 for SIGTERM).
function pxlua.finish(code)
  if host.finished then
    return nil
  end
  host.finished = true
  local stopped, sig = core.interrupted()
  local rec = host.api and require("proxyapi.client").recorder(host.api)
  local status
  if stopped then
    status = 128 + sig
    local line = host.summary or rec and require("proxyapi.record").summary(rec) or "0 applied, 0 failed, 0 unknown"
    stderr:write("pxlua: interrupted: ", line, "\n")
  end
  if rec then
    pcall(require("proxyapi.record").finish, rec,
      stopped and "interrupted" or (type(code) == "number" and code ~= 0) and "failed" or "ok")
  end
  if host.api then
    host.api:close()
  end
  remove_fake_journal()
  return status
end

--- For programs run by pxlua that make clients of their own (the
-- proxyapi command): the summary line pxlua prints after an interrupt,
-- instead of the one of the global `api`.
-- @tparam string line e.g. "41 applied, 0 failed, 16 unknown (journal run 17)"
function pxlua.on_summary(line)
  host.summary = line
end

--- For specs: what the host made (not the key).
function pxlua.state()
  return { journal = host.config and host.config.journal, fake_dir = host.fake_dir, finished = host.finished,
           api = host.api and tostring(host.api) }
end

return pxlua
