--- Sending one request value: what happens between a method and the
-- wire. After an interrupt nothing starts. A dry run reports the requests
-- that change or hand out something and sends only reads. A change is
-- written down before it is sent and its outcome after (proxyapi.record);
-- then the exchange does the rest (retries, the envelope, the shape).
-- @module proxyapi.send

local core = require "proxyapi.core"
local errors = require "proxyapi.errors"
local record = require "proxyapi.record"
local request = require "proxyapi.request"
local transport = require "proxyapi.transport"

local exchange, line = transport.exchange, request.line
local interrupted = core.interrupted

local send = {}

local function cancelled(req)
  return errors.new { kind = "cancelled", msg = "interrupted: no new request starts", endpoint = req.route.endpoint,
                      attempts = 0, retryable = false }
end

--- Sends `req` (or, in a dry run, reports it); returns the shaped result,
-- or nil and an error object. A dry run's result is what an empty reply
-- would give: true for writes, {} for extract_ips.
function send.one(st, req, shape)
  if interrupted() then
    return nil, cancelled(req)
  end
  if req.route.effect == "read" then -- nothing to write down
    local result, err = exchange(st, req, shape)
    if result == nil then
      return nil, err
    end
    return result -- one value, as a call that succeeded returns
  end
  if st.dry_run then
    st.dry_run("proxyapi: dry-run: " .. line(req))
    return shape(nil)
  end
  local rec = st.record
  local entry = false
  if rec.journal ~= nil then
    local jerr
    entry, jerr = record.intent(rec, st.handle, req)
    if entry == nil then
      return nil, jerr
    end
  end
  local result, err, reached = exchange(st, req, shape, entry and function()
    record.attempt(rec, entry)
  end)
  record.outcome(rec, entry, req, result, err, reached)
  if result == nil then
    return nil, err
  end
  return result
end

return send
