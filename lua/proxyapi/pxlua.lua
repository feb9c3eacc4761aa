--- The Lua side of the pxlua host: the globals `proxyapi` and `api`,
-- made when a script first uses them, and the progress bar.
-- @module proxyapi.pxlua

local require, rawset, rawget, type, error, pcall = require, rawset, rawget, type, error, pcall
local getmetatable, setmetatable = getmetatable, setmetatable
local format, rep, floor = string.format, string.rep, math.floor

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

--- The client behind the global `api`, from the command line's settings
-- (which win over the environment: proxyapi.new reads that).
function pxlua.make_client(config)
  local proxyapi = require "proxyapi"
  local options = {
    app_key = config.app_key,
    base_url = config.base_url,
    timeout = config.timeout,
    dry_run = config.dry_run or nil,
  }
  if config.fake then
    options.proxy = false -- the fake is on loopback: never through a proxy
  end
  if config.tty then
    options.progress = pxlua.progress_bar(io.stderr)
  end
  local ok, api = pcall(proxyapi.new, options)
  if not ok then
    -- the script never called new: say which setting is wrong instead
    local _, msg, why = require("proxyapi.client").check_options(options)
    if why == nil then
      error(api, 0)
    elseif why.missing == "app_key" then
      error(NO_KEY, 0)
    elseif why.option then
      msg = why.option .. ": " .. why.problem .. (why.label ~= why.option and " (from " .. why.label .. ")" or "")
    end
    error("cannot make the global 'api' from the command line and the environment: " .. msg, 0)
  end
  return api
end

--- Installs the lazy globals `proxyapi` and `api` in _G, keeping any
-- __index a script's environment already had.
function pxlua.setup(config)
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
end

return pxlua
