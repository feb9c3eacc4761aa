--- Keeping what the provider drops: an endpoint marked `drops_history`
-- (deleting accounts) takes their usage history with it, so a client
-- with a history store (the `history` option: true, a path, or an open
-- history; opened at the first such call) stores each account's whole
-- usage first and sends nothing when it cannot; the accounts the request
-- removed are then marked deleted, their usage kept.
-- @module proxyapi.keep

local errors = require "proxyapi.errors"

local type, tostring, ipairs, require = type, tostring, ipairs, require
local stderr = io.stderr

local keep = {}

local function names_of(req)
  return req.names or { req.fields.account or req.fields.username }
end

local function not_kept(req, err)
  local is = errors.is_error(err)
  return nil, errors.new {
    kind = is and err.kind or "journal", endpoint = req.route.endpoint, attempts = 0,
    retryable = is and err.retryable or false, failed = names_of(req), succeeded = {},
    msg = "the usage history could not be kept first (" .. tostring(is and err.msg or err) .. "); nothing was sent",
  }
end

--- Before `req` is sent: stores the usage of the accounts it names. Returns
-- the history store, false when there is none (or in a dry run), or nil
-- and an error object: then nothing may be sent.
function keep.before(st, api, req)
  local h = st.history
  if h == nil or st.dry_run then
    return false
  end
  local history = require "proxyapi.history"
  if type(h) ~= "table" then
    local err
    h, err = history.open(h)
    if h == nil then
      return not_kept(req, "history: " .. tostring(err))
    end
    st.history = h
  end
  local ok, err = h:sync_accounts(api, history.base_host(api), names_of(req))
  if not ok then
    return not_kept(req, err)
  end
  return h
end

--- After `req` went out through store `h`: marks deleted the accounts it
-- removed (all on success, `err.succeeded` of a partly failed batch).
function keep.after(h, api, req, err)
  if not h then
    return
  end
  local host = require("proxyapi.history").base_host(api)
  for _, name in ipairs(err == nil and names_of(req) or err.succeeded or {}) do
    local ok, merr = h:record_account_deleted(host, name)
    if not ok then
      stderr:write("proxyapi: warning: history: ", tostring(merr), "\n")
    end
  end
end

return keep
