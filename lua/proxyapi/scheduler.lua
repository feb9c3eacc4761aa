--- The loop behind api:map and split batches: one coroutine per item,
-- at most `concurrency` alive, all driven by one libcurl multi handle.
-- A coroutine yields (TRANSFER, id) when it starts a transfer and
-- (SLEEP, seconds) when it backs off; the loop resumes it with the
-- transfer's result, or when its wait is over, without blocking the
-- others.
--
-- Each loop has an id, and the core hands a loop only the transfers it
-- submitted: a loop started inside another (a map from a progress
-- callback, a split batch inside a coroutine of a map function's own)
-- never takes the outer loop's transfers, and both finish.
-- @module proxyapi.scheduler

local core = require "proxyapi.core"
local transport = require "proxyapi.transport"

local create, resume, status, close = coroutine.create, coroutine.resume, coroutine.status, coroutine.close
local pcall, error, next, select = pcall, error, next, select
local remove = table.remove
local now, sleep, interrupted = core.now, core.sleep, core.interrupted
local ops = core.transfer
local poll, result, cancel, isopen = ops.poll, ops.result, ops.cancel, ops.isopen
local TRANSFER, SLEEP, loops = transport.TRANSFER, transport.SLEEP, transport.loops

local scheduler = {}

-- the longest single wait, so that a stuck transfer still sees timers
local MAX_WAIT = 1.0

local last_id = 0

-- What a coroutine waiting on a transfer gets when its client was closed
-- under it (by the function of another item, say).
local CLOSED = { kind = "cancelled", msg = "the client was closed", sends = 0, elapsed = 0 }

--- Runs body(i) for i = 1..count, each in its own coroutine, and calls
-- on_done(i, ok, ...) with what it returned (ok = true) or raised
-- (ok = false), then progress(done, count) if given.
function scheduler.run(handle, count, body, concurrency, on_done, progress)
  last_id = last_id + 1
  local loop = { handle = handle, id = last_id }
  local waiting = {} -- transfer id -> coroutine
  local sleepers = {} -- { at = time, co = coroutine }, in arrival order
  local index = {} -- coroutine -> item
  local next_item, active, done = 1, 0, 0

  local function finish(co, ok, ...)
    local i = index[co]
    index[co], loops[co] = nil, nil
    active, done = active - 1, done + 1
    on_done(i, ok, ...)
    if progress then
      progress(done, count)
    end
  end

  local function settle(co, ok, token, arg, ...)
    if status(co) == "dead" then
      return finish(co, ok, token, arg, ...)
    end
    if token == TRANSFER then
      waiting[arg] = co
    elseif token == SLEEP then
      sleepers[#sleepers + 1] = { at = now() + arg, co = co }
    else
      close(co)
      finish(co, false, "proxyapi: a function run by api:map yielded a value of its own")
    end
  end

  local function step(co, ...)
    return settle(co, resume(co, ...))
  end

  local function fill()
    while active < concurrency and next_item <= count do
      local i = next_item
      local co = create(body)
      next_item, active = i + 1, active + 1
      loops[co], index[co] = loop, i
      step(co, i)
    end
  end

  local function wake_sleepers()
    local due, wait, t = nil, MAX_WAIT, now()
    local stop = interrupted()
    for j = #sleepers, 1, -1 do
      local s = sleepers[j]
      if stop or s.at <= t then
        due = due or {}
        due[#due + 1] = s.co
        remove(sleepers, j)
      elseif s.at - t < wait then
        wait = s.at - t
      end
    end
    if due then
      for j = #due, 1, -1 do
        step(due[j], not stop)
      end
      return 0
    end
    return wait
  end

  local function resume_finished(...)
    for j = 1, select("#", ...) do
      local id = select(j, ...)
      local r = result(handle, id)
      local co = waiting[id]
      waiting[id] = nil
      if co ~= nil then -- else its coroutine is gone: the result is dropped
        step(co, r)
      end
    end
  end

  -- the client was closed by one of the functions: every waiting call
  -- ends as cancelled, and later calls raise in their own coroutines
  local function closed()
    local list = {}
    for id, co in next, waiting do
      list[#list + 1] = co
      waiting[id] = nil
    end
    for _, co in next, list do
      step(co, CLOSED)
    end
  end

  local ok, err = pcall(function()
    fill()
    while done < count do
      local wait = wake_sleepers()
      if next(waiting) ~= nil then
        if isopen(handle) then
          resume_finished(poll(handle, loop.id, wait))
        else
          closed()
        end
      elseif wait > 0 and done < count and #sleepers > 0 then
        sleep(wait)
      end
      fill()
    end
  end)
  if not ok then
    -- leave nothing in flight behind a raised error
    for id in next, waiting do
      cancel(handle, id)
    end
    for co in next, index do
      close(co)
      loops[co] = nil
    end
    error(err, 0)
  end
end

return scheduler
