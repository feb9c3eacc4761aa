--- Sending one request value: what happens between a method and the
-- wire. A dry run reports the requests that change or hand out something
-- and sends only reads; everything else goes through the exchange
-- (retries, the envelope, the result's shape).
-- @module proxyapi.send

local request = require "proxyapi.request"
local transport = require "proxyapi.transport"

local exchange, line = transport.exchange, request.line

local send = {}

--- Sends `req` (or, in a dry run, reports it); returns the shaped result,
-- or nil and an error object. A dry run's result is what an empty reply
-- would give: true for writes, {} for extract_ips.
function send.one(st, req, shape)
  if st.dry_run and req.route.effect ~= "read" then
    st.dry_run("proxyapi: dry-run: " .. line(req))
    return shape(nil)
  end
  return exchange(st, req, shape)
end

return send
