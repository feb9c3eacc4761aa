--- Requests that are more than one: a list of accounts longer than
-- batch_size goes out as several requests, run `concurrency` at a time,
-- and a paged endpoint is walked page by page by its iterator.
-- @module proxyapi.batch

local errors = require "proxyapi.errors"
local request = require "proxyapi.request"
local scheduler = require "proxyapi.scheduler"
local send = require "proxyapi.send"
local shapes = require "proxyapi.shapes"
local transport = require "proxyapi.transport"
local core = require "proxyapi.core"

local error, pcall, move = error, pcall, table.move
local concat = table.concat
local json_encode = core.json_encode

local batch = {}

--- Pages an iterator reads at most: a server whose pages never end (and
-- never repeat) is a protocol error past this many.
batch.MAX_PAGES = 1000

--- Sends a request value whose `items` may be more than one chunk; every
-- account of a failed chunk is reported in `err.failed`, and those of the
-- chunks that went through in `err.succeeded`.
function batch.send(st, req, shape)
  local items, names = req.items, req.names
  local size, count = st.batch_size, #items
  if count <= size then -- one request: the value is this call's own, no copy
    req.fields[req.batch] = count == 1 and items[1] or concat(items, ",")
    local result, err = send.one(st, req, shape)
    if result == nil then
      err.failed, err.succeeded, err.unknown = names, {}, err.outcome == "unknown" and names or {}
      return nil, err
    end
    return result
  end
  local nchunks = (count + size - 1) // size
  local chunk_errors, raised = {}, nil
  local function run_chunk(k)
    local first, last = (k - 1) * size + 1, k * size < count and k * size or count
    local chunk = request.with(req, req.batch, concat(items, ",", first, last))
    chunk.names = move(names, first, last, 1, {})
    return send.one(st, chunk, shape)
  end
  local function finished(k, ok, result, err)
    if not ok then
      raised = raised or result -- a bug (say in on_request): raised once all are done
    elseif result == nil then
      chunk_errors[k] = err
    end
  end
  if nchunks == 1 or st.dry_run or transport.loop_of(st.handle) then
    for k = 1, nchunks do
      finished(k, true, run_chunk(k))
    end
  else
    scheduler.run(st.handle, nchunks, run_chunk, st.concurrency, finished, st.progress)
  end
  if raised ~= nil then
    error(raised, 0)
  end
  local first_error, failed, succeeded, unknown = nil, {}, {}, {}
  for k = 1, nchunks do
    local err = chunk_errors[k]
    first_error = first_error or err
    for i = (k - 1) * size + 1, k * size < count and k * size or count do
      local into = err and failed or succeeded
      into[#into + 1] = names[i]
      if err and err.outcome == "unknown" then
        unknown[#unknown + 1] = names[i]
      end
    end
  end
  if first_error then
    first_error.failed, first_error.succeeded, first_error.unknown = failed, succeeded, unknown
    return nil, first_error
  end
  return true
end

local function paging_error(req, msg)
  return errors.new { kind = "protocol", msg = msg, endpoint = req.route.endpoint, attempts = 1,
                      retryable = false }
end

-- A page's items as text, to tell a page that repeats the previous one.
local function fingerprint(list)
  local ok, text = pcall(json_encode, list)
  return ok and text or nil
end

--- An iterator over every item of every page of the paged request `req`
-- (its endpoint's `paged` field names the page and size fields). It ends
-- where the replies say the end is — after `total_page` pages or
-- `total_count` items, at a page shorter than its size, or at an empty
-- page — and raises the error object of a failed page, as io.lines does,
-- or a protocol error when the paging is inconsistent: a page that repeats
-- the previous one, or no end after batch.MAX_PAGES pages.
function batch.pages(st, req, paged)
  local page = req.fields[paged.page] or 1
  local size = req.fields[paged.size]
  local list, i, finished = nil, 0, false
  local seen, pages, previous = 0, 0, nil
  local function fail(err)
    finished, list = true, nil
    error(err, 0)
  end
  return function()
    while true do
      if list ~= nil and i < #list then
        i = i + 1
        return list[i]
      end
      if finished then
        return nil
      end
      local result, err = send.one(st, request.with(req, paged.page, page), shapes.page)
      if result == nil then
        fail(err)
      end
      pages = pages + 1
      list, i = result.list, 0
      local n = #list
      seen = seen + n
      local expected = result.page_size or size
      if n == 0 or (result.total_page and page >= result.total_page)
        or (result.total_count and seen >= result.total_count) or (expected and n < expected) then
        finished = true
      else
        local mark = fingerprint(list)
        if mark ~= nil and mark == previous then
          fail(paging_error(req, ("paging is inconsistent: page %d repeats page %d"):format(page, page - 1)))
        elseif pages >= batch.MAX_PAGES then
          fail(paging_error(req, ("paging did not end after %d pages"):format(pages)))
        end
        previous = mark
      end
      page = page + 1
    end
  end
end

return batch
