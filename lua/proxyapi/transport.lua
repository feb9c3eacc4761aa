--- One API exchange: the transfer, the envelope, the Retries table.
--
-- A call made inside a coroutine that a loop (proxyapi.scheduler) runs
-- hands its transfer, or its backoff wait, to that loop by yielding, so
-- many calls share one libcurl multi handle while user code reads
-- sequentially. Anywhere else — and wherever the coroutine cannot yield,
-- such as inside a table.sort comparator — the same code blocks in the
-- C core instead.
-- @module proxyapi.transport

local core = require "proxyapi.core"
local errors = require "proxyapi.errors"

local type, setmetatable = type, setmetatable
local running, yield, isyieldable = coroutine.running, coroutine.yield, coroutine.isyieldable
local math_type, random = math.type, math.random
local ops = core.transfer
local perform, submit, scrub = ops.perform, ops.submit, ops.scrub

local transport = {}

--- Tokens a coroutine yields to its loop: (TRANSFER, id) or (SLEEP, seconds).
transport.TRANSFER = setmetatable({}, { __name = "proxyapi.transfer" })
transport.SLEEP = setmetatable({}, { __name = "proxyapi.sleep" })

--- Coroutines run by a loop, each mapped to its loop ({handle =, id =}).
transport.loops = setmetatable({}, { __mode = "k" })

local TRANSFER, SLEEP, loops = transport.TRANSFER, transport.SLEEP, transport.loops

--- The loop the running coroutine belongs to, if it drives `handle` and
-- the coroutine can hand work to it.
function transport.loop_of(handle)
  local co, main = running()
  if main then
    return nil
  end
  local loop = loops[co]
  if loop ~= nil and loop.handle == handle and isyieldable() then
    return loop
  end
  return nil
end

local loop_of = transport.loop_of

--- Runs the request value `req` on `handle`; returns the core's result table.
function transport.transfer(handle, req)
  local _, main = running()
  if not main then -- in a coroutine: is it one of a loop's?
    local loop = loop_of(handle)
    if loop then
      return yield(TRANSFER, submit(handle, req, loop.id))
    end
  end
  return perform(handle, req)
end

--- Waits; false when Ctrl-C cut the wait short.
function transport.pause(handle, seconds)
  if loop_of(handle) then
    return yield(SLEEP, seconds)
  end
  return core.sleep(seconds)
end

local RETRY_STATUS = { [429] = true, [500] = true, [502] = true, [503] = true, [504] = true }

local REASON = {
  [400] = "Bad Request", [401] = "Unauthorized", [403] = "Forbidden", [404] = "Not Found",
  [405] = "Method Not Allowed", [408] = "Request Timeout", [413] = "Payload Too Large",
  [429] = "Too Many Requests", [500] = "Internal Server Error", [501] = "Not Implemented",
  [502] = "Bad Gateway", [503] = "Service Unavailable", [504] = "Gateway Timeout",
}

local function protocol(status, msg)
  return { kind = "protocol", status = status, msg = msg, retryable = false }
end

--- Turns the core's result into (nil, data, is_text) or an error's fields.
local function classify(r)
  local kind, status = r.kind, r.status
  if kind ~= nil then
    return { kind = kind, status = status, msg = r.msg, retryable = kind == "network" or kind == "timeout" }
  end
  local payload = r.data
  if status == nil or status < 200 or status > 299 then
    local err = { kind = "http", status = status, retryable = RETRY_STATUS[status] or false }
    if type(payload) == "table" then
      err.code = math_type(payload.code) == "integer" and payload.code or nil
      err.msg = type(payload.msg) == "string" and payload.msg or nil
    end
    err.msg = err.msg or REASON[status] or "HTTP error"
    return err
  end
  if r.bad_json then
    return protocol(status, r.bad_json)
  end
  if r.text then
    return nil, r.text, true
  end
  if type(payload) ~= "table" then
    return protocol(status, "reply is not a JSON object")
  end
  local code = payload.code
  if code == 200 or code == 0 then
    return nil, payload.data
  end
  if math_type(code) ~= "integer" then
    return protocol(status, "reply has no integer code")
  end
  return { kind = "api", code = code, status = status, retryable = false,
           msg = type(payload.msg) == "string" and payload.msg or "" }
end

local function backoff(st, attempt)
  local wait = st.retry_backoff * 2 ^ (attempt - 1)
  if wait > st.retry_max_wait then
    wait = st.retry_max_wait
  end
  return wait / 2 + random() * wait / 2
end

--- Sends a request value, retrying as the Retries table says.
-- `shape(data, separator, is_text)` turns a success's data into the
-- result, or returns nil and why the reply has the wrong shape;
-- `on_retry()`, if given, is called before each retry. Returns the result,
-- or nil, an error object and whether the last try may have reached the
-- server.
function transport.exchange(st, req, shape, on_retry)
  local handle, route = st.handle, req.route
  local policy = route.policy
  local attempt, tries = 0, 0
  while true do
    attempt = attempt + 1
    local r = transport.transfer(handle, req)
    -- libcurl may have resent the request by itself (a reused connection
    -- found dead): the server saw each of those tries
    local sends = r.sends
    tries = tries + (sends > 1 and sends or 1)
    local err, data, is_text = classify(r)
    if err == nil then
      local smsg
      data, smsg = shape(data, req.separator, is_text)
      if data == nil then
        err = protocol(r.status, smsg)
      end
    end
    if st.on_request then
      st.on_request { method = route.method, path = route.path, status = r.status, elapsed = r.elapsed,
                      attempt = attempt, error = err and err.kind or nil }
    end
    if err == nil then
      return data
    end
    local retry
    if policy == "read" then
      retry = err.retryable
    else -- at most once: only when nothing can have reached the server
      retry = err.retryable and not r.reached
    end
    local retry_after = r.retry_after
    if retry_after ~= nil and retry_after > st.retry_max_wait then
      err.retry_after, retry = retry_after, false -- longer than we may wait
    end
    if retry and attempt <= st.retries then
      if not transport.pause(handle, retry_after or backoff(st, attempt)) then
        err = { kind = "cancelled", msg = "interrupted", retryable = false }
        retry = false
      elseif on_retry then
        on_retry()
      end
    else
      retry = false
    end
    if not retry then
      err.attempts = tries
      err.endpoint = route.endpoint
      err.msg = type(err.msg) == "string" and scrub(handle, err.msg) or err.msg
      if policy == "once" and r.reached and err.kind ~= "api" and err.kind ~= "http" then
        err.maybe_applied = true
      end
      return nil, errors.new(err), r.reached
    end
  end
end

return transport
