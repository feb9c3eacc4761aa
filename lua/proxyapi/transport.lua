--- One API exchange: the transfer, the envelope, the Retries table.
--
-- A call made inside a coroutine that api:map runs hands its transfer
-- (or its backoff wait) to the map's loop by yielding, so many calls
-- share one libcurl multi handle while user code reads sequentially.
-- Anywhere else the same code blocks in the C core.
-- @module proxyapi.transport

local core = require "proxyapi.core"
local errors = require "proxyapi.errors"

local type, setmetatable = type, setmetatable
local running, yield = coroutine.running, coroutine.yield
local math_type, random = math.type, math.random
local find = string.find

local transport = {}

--- Tokens a coroutine yields to its loop: (TRANSFER, id) or (SLEEP, seconds).
transport.TRANSFER = setmetatable({}, { __name = "proxyapi.transfer" })
transport.SLEEP = setmetatable({}, { __name = "proxyapi.sleep" })

--- Coroutines run by a loop, each mapped to its loop ({handle = core client}).
transport.loops = setmetatable({}, { __mode = "k" })

local TRANSFER, SLEEP, loops = transport.TRANSFER, transport.SLEEP, transport.loops

--- The loop the running coroutine belongs to, if it drives `handle`.
function transport.loop_of(handle)
  local co, main = running()
  if main then
    return nil
  end
  local loop = loops[co]
  if loop ~= nil and loop.handle == handle then
    return loop
  end
  return nil
end

local loop_of = transport.loop_of

--- Runs a transfer; returns what the core's _result returns.
function transport.transfer(handle, method, url, query, body, timeout, flags, extra)
  if loop_of(handle) then
    local id = handle:_submit(method, url, query, body, timeout, flags, extra)
    return yield(TRANSFER, id)
  end
  return handle:_perform(method, url, query, body, timeout, flags, extra)
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

local FLAG_AT_MOST_ONCE, FLAG_RAW = 1, 2
transport.FLAG_RAW = FLAG_RAW

local function protocol(status, msg)
  return { kind = "protocol", status = status, msg = msg, retryable = false }
end

--- Turns one transfer's outcome into (nil, data, is_text) or (error fields).
local function classify(status, payload, failure, msg, raw)
  if failure ~= nil and failure ~= "json" then
    return {
      kind = failure == "tls" and "network" or failure, status = status, msg = msg,
      retryable = failure == "network" or failure == "timeout",
    }
  end
  if status == nil or status < 200 or status > 299 then
    local err = { kind = "http", status = status, retryable = RETRY_STATUS[status] or false }
    if type(payload) == "table" then
      err.code = math_type(payload.code) == "integer" and payload.code or nil
      err.msg = type(payload.msg) == "string" and payload.msg or nil
    end
    err.msg = err.msg or REASON[status] or "HTTP error"
    return err
  end
  if failure == "json" then
    return protocol(status, msg)
  end
  if raw then
    if not find(payload, "^%s*{") then
      return nil, payload, true -- a text-format reply
    end
    local decoded, jmsg = core.json_decode(payload)
    if decoded == nil then
      return protocol(status, jmsg or "reply is null")
    end
    payload = decoded
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

--- Makes a request, retrying as the Retries table says.
-- `req`: method, path, url, query (flat array) or body (table), policy
-- ("read" or "once"), raw, shape (turns data into the result, or returns
-- nil and why the reply has the wrong shape). Returns the result, or nil
-- and an error object.
function transport.exchange(st, req)
  local handle, policy = st.handle, req.policy
  local flags = (policy == "once" and FLAG_AT_MOST_ONCE or 0) + (req.raw and FLAG_RAW or 0)
  local attempt, tries = 0, 0
  while true do
    attempt = attempt + 1
    local status, payload, failure, msg, elapsed, retry_after, reached, sends =
      transport.transfer(handle, req.method, req.url, req.query, req.body, st.timeout, flags)
    -- libcurl may have resent the request by itself (a reused connection
    -- found dead): the server saw each of those tries
    tries = tries + (sends > 1 and sends or 1)
    local err, data, is_text = classify(status, payload, failure, msg, req.raw)
    if err == nil and req.shape then
      local smsg
      data, smsg = req.shape(data, is_text)
      if data == nil then
        err = protocol(status, smsg)
      end
    end
    if st.on_request then
      st.on_request { method = req.method, path = req.path, status = status, elapsed = elapsed,
                      attempt = attempt, error = err and err.kind or nil }
    end
    if err == nil then
      return data
    end
    local retry
    if policy == "read" then
      retry = err.retryable
    else -- at most once: only when nothing can have reached the server
      retry = err.retryable and not reached
    end
    if retry_after ~= nil and retry_after > st.retry_max_wait then
      err.retry_after, retry = retry_after, false -- longer than we may wait
    end
    if retry and attempt <= st.retries then
      if not transport.pause(handle, retry_after or backoff(st, attempt)) then
        err = { kind = "cancelled", msg = "interrupted", retryable = false }
        retry = false
      end
    else
      retry = false
    end
    if not retry then
      err.attempts = tries
      err.endpoint = req.method .. " " .. req.path
      err.msg = st.scrub(err.msg)
      if policy == "once" and reached and err.kind ~= "api" and err.kind ~= "http" then
        err.maybe_applied = true
      end
      return nil, errors.new(err)
    end
  end
end

return transport
