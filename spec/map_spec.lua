-- api:map and split batches: concurrency proved from the fake's own
-- request timestamps, order, error isolation, progress, retries.
local helper = require "helper"
-- transfers still held by a client (the core's internal interface)
local pending = require("proxyapi.core").transfer.pending
local proxyapi = require "proxyapi"

--- The largest number of requests the fake was handling at one time.
local function max_overlap(log)
  local events = {}
  for _, e in ipairs(log) do
    events[#events + 1] = { e.t_start, 1 }
    events[#events + 1] = { e.t_end, -1 }
  end
  table.sort(events, function(a, b)
    if a[1] == b[1] then return a[2] < b[2] end
    return a[1] < b[1]
  end)
  local now, most = 0, 0
  for _, ev in ipairs(events) do
    now = now + ev[2]
    most = math.max(most, now)
  end
  return most
end

local function distinct_connections(log)
  local seen, n = {}, 0
  for _, e in ipairs(log) do
    if not seen[e.conn] then seen[e.conn], n = true, n + 1 end
  end
  return n
end

describe("api:map", function()
  local fake, api

  lazy_setup(function()
    fake = helper.start_fake()
    api = fake:client { concurrency = 4 }
  end)

  lazy_teardown(function()
    api:close()
    fake:stop()
  end)

  before_each(function()
    fake:reset()
    fake:clear_faults()
  end)

  it("runs the calls concurrently, up to `concurrency` at once", function()
    fake:config { delay = 0.2 }
    local items = {}
    for i = 1, 8 do items[i] = i end
    local results, errs = api:map(items, function(a, i)
      return assert(a:list_accounts()) and i * 10
    end, { concurrency = 8 })
    assert.same({}, errs)
    assert.equal(8, results.n)
    for i = 1, 8 do assert.equal(i * 10, results[i]) end
    local log = fake:log()
    assert.equal(8, #log)
    assert.equal(8, max_overlap(log))
  end)

  it("never has more than `concurrency` transfers in flight", function()
    fake:config { delay = 0.05 }
    local items = {}
    for i = 1, 12 do items[i] = i end
    local _, errs = api:map(items, function(a) return assert(a:list_accounts()) end, { concurrency = 3 })
    assert.same({}, errs)
    local log = fake:log()
    assert.equal(12, #log)
    assert.equal(3, max_overlap(log))
    assert.is_true(distinct_connections(log) <= 3)
  end)

  it("reuses connections across items (keep-alive)", function()
    local items = {}
    for i = 1, 40 do items[i] = i end
    local _, errs = api:map(items, function(a) return assert(a:list_accounts()) end, { concurrency = 4 })
    assert.same({}, errs)
    assert.is_true(distinct_connections(fake:log()) <= 4)
  end)

  it("keeps order and isolates errors per item", function()
    local raised = { "a raised value" }
    local results, errs = api:map({ 1, 2, 3, 4, 5 }, function(a, i)
      if i == 2 then error(raised) end
      if i == 3 then return a:call("GET", "/no/such/path") end
      if i == 4 then return nil, "plain failure" end
      return assert(a:search_states("US")) and i
    end)
    assert.equal(5, results.n)
    assert.equal(1, results[1])
    assert.equal(5, results[5])
    assert.is_nil(results[2])
    assert.is_nil(results[3])
    assert.equal(raised, errs[2])
    assert.is_true(proxyapi.is_error(errs[3]))
    assert.equal(404, errs[3].status)
    assert.equal("plain failure", errs[4])
    assert.is_nil(errs[1])
    assert.is_nil(errs[5])
  end)

  it("records a returned error object as the item's error", function()
    local bad = fake:client { app_key = "wrong" }
    local results, errs = bad:map({ 1, 2 }, function(a)
      local _, err = a:list_accounts()
      return err
    end)
    assert.is_nil(results[1])
    assert.equal(3, errs[1].code)
    assert.equal(3, errs[2].code)
    bad:close()
  end)

  it("reports progress once per item, up to the total", function()
    local calls = {}
    api:map({ "a", "b", "c", "d" }, function(a) return assert(a:list_states()) end, {
      concurrency = 2,
      progress = function(done, total) calls[#calls + 1] = { done, total } end,
    })
    assert.same({ { 1, 4 }, { 2, 4 }, { 3, 4 }, { 4, 4 } }, calls)
  end)

  it("loses nothing over many items", function()
    local names = {}
    for i = 1, 60 do names[i] = "many" .. i end
    local accounts = {}
    for i, n in ipairs(names) do accounts[i] = n .. ":pw" end
    assert(api:add_accounts(accounts))
    local results, errs = api:map(names, function(a, name)
      return a:change_limit(name, #name)
    end, { concurrency = 16 })
    assert.same({}, errs)
    local state = fake:accounts()
    for i, n in ipairs(names) do
      assert.is_true(results[i])
      assert.equal(#n, state[n].limit_flow)
    end
  end)

  it("retries inside map without blocking the other items", function()
    -- one request (whichever the fake serves first) waits out a Retry-After
    -- of 1 s; the other five must not wait for it
    fake:fault { path = "/openapi/ip/dynamic-states/search", status = 429, retry_after = 1, times = 1 }
    local results, errs = api:map({ 1, 2, 3, 4, 5, 6 }, function(a, i)
      return #assert(a:search_states("US")) + i
    end, { concurrency = 6 })
    assert.same({}, errs)
    assert.equal(6, results.n)
    -- in the fake's log: the five others were served while the sixth waited
    local log = fake:log()
    assert.equal(7, #log)
    local refused, retry = nil, log[7]
    for _, e in ipairs(log) do
      if e.status == 429 then refused = e end
    end
    assert.is_not_nil(refused)
    assert.equal(200, retry.status)
    assert.is_true(retry.t_start - refused.t_end >= 0.9, "the retry did not wait out Retry-After")
    for _, e in ipairs(log) do
      if e ~= refused and e ~= retry then
        assert.is_true(e.t_end < retry.t_start, "an item waited for the retried one")
      end
    end
  end)

  it("applies the Retries table inside map as outside", function()
    fake:fault { path = "/openapi/whitelist-account/add", status = 500, times = -1 }
    fake:fault { path = "/openapi/whitelist-account/list", status = 500, times = -1 }
    local _, errs = api:map({ 1, 2 }, function(a, i)
      if i == 1 then return a:add_accounts { "noretry:pw" } end
      return a:list_accounts()
    end)
    assert.equal(1, errs[1].attempts)
    assert.equal(3, errs[2].attempts)
  end)

  it("runs nested maps inside the outer one", function()
    local results, errs = api:map({ 1, 2 }, function(a, i)
      local inner = a:map({ 1, 2, 3 }, function(b, j) return assert(b:list_states()) and i * 10 + j end)
      return inner[1] + inner[2] + inner[3]
    end)
    assert.same({}, errs)
    assert.equal(11 + 12 + 13, results[1])
    assert.equal(21 + 22 + 23, results[2])
  end)

  it("copes with an empty list", function()
    local results, errs = api:map({}, function() error("never") end)
    assert.equal(0, results.n)
    assert.same({}, errs)
  end)

  it("fails an item whose function yields a value of its own", function()
    local results, errs = api:map({ 1, 2 }, function(_, i)
      if i == 1 then coroutine.yield("mine") end
      return i
    end)
    assert.equal(2, results[2])
    assert.truthy(tostring(errs[1]):find("yielded", 1, true))
  end)

  it("leaves nothing in flight when the progress callback raises", function()
    fake:config { delay = 0.1 }
    assert.has_error(function()
      api:map({ 1, 2, 3, 4 }, function(a) return a:list_accounts() end, {
        concurrency = 4, progress = function() error("stop here", 0) end,
      })
    end, "stop here")
    fake:config { delay = 0 }
    assert.equal(0, pending(api))
    assert(api:list_accounts())
  end)

  it("checks its arguments", function()
    assert.has_error(function() api:map("x", print) end, "bad argument #1 to 'map' (array expected, got string)")
    assert.has_error(function() api:map({}, 5) end, "bad argument #2 to 'map' (function expected, got number)")
    assert.has_error(function() api:map({}, print, { concurrency = 0 }) end,
      "bad argument #3 to 'map' (concurrency: must be at least 1, got 0)")
    assert.has_error(function() api:map({}, print, { workers = 2 }) end,
      "bad argument #3 to 'map' (unknown option 'workers')")
  end)
end)

describe("split batches", function()
  local fake

  lazy_setup(function() fake = helper.start_fake() end)
  lazy_teardown(function() fake:stop() end)
  before_each(function() fake:reset() end)

  it("run their chunks concurrently", function()
    local api = fake:client { batch_size = 1, concurrency = 8 }
    local names = {}
    for i = 1, 8 do names[i] = "chunk" .. i end
    local accounts = {}
    for i, n in ipairs(names) do accounts[i] = n .. ":pw" end
    assert(api:add_accounts(accounts))
    fake:clear_log()
    fake:config { delay = 0.2 }
    assert.is_true(api:disable_accounts(names))
    local log = fake:log()
    assert.equal(8, #log)
    assert.equal(8, max_overlap(log))
    local state = fake:accounts()
    for _, n in ipairs(names) do assert.equal(0, state[n].status) end
    api:close()
  end)

  it("report progress per chunk", function()
    local seen = {}
    local api = fake:client { batch_size = 2, progress = function(done, total)
      seen[#seen + 1] = done .. "/" .. total
    end }
    assert(api:add_accounts { "p1:pw", "p2:pw", "p3:pw", "p4:pw", "p5:pw" })
    assert.same({ "1/3", "2/3", "3/3" }, seen)
    api:close()
  end)
end)
