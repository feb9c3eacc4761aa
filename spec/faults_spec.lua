-- A fault matrix against the fake API: every kind of fault the fake can
-- inject (rows) against every kind of call (columns), one `it` per cell,
-- named "<fault> x <call>". Each cell checks what the contract's Errors and
-- Retries sections promise: the error kind, how often the request was tried
-- (err.attempts and the requests the fake received), maybe_applied,
-- retry_after, a bounded time, and for batches that every item is accounted
-- for. After each cell the same client must still work with nothing left in
-- flight. The single behaviours are in errors_spec.lua; this is the sweep.
local helper = require "helper"
-- transfers still held by a client (the core's internal interface)
local pending = require("proxyapi.core").transfer.pending
local proxyapi = require "proxyapi"
local socket = require "socket"

local gettime, sleep = socket.gettime, socket.sleep
local format = string.format

local ACCOUNT = "/openapi/whitelist-account/"
local LIST, LIMIT, ADD, DISABLE = ACCOUNT .. "list", ACCOUNT .. "change-limit", ACCOUNT .. "add", ACCOUNT .. "disable"
local IPS = "/openapi/ip/v3"

local TIMEOUT = 0.3      -- the client's timeout per attempt
local DELAY = 0.6        -- a slow reply: past the timeout
local MAX_WAIT = 0.5     -- retry_max_wait
local BOUND = 3          -- no cell may take longer (seconds)
local MAX_BYTES = 64 * 1024
local RETRIES = 2

local OPTIONS = {
  timeout = TIMEOUT, retry_backoff = 0.01, retry_max_wait = MAX_WAIT, retries = RETRIES,
  max_response_bytes = MAX_BYTES,
}

-- The rows. kind/status: what the error must carry; retried: whether the
-- Retries table lets a read (or an idempotent write) try again; applies:
-- whether the fake carries the request out although the client sees no
-- reply; data_ignored: an answer with code 200 whose `data` has the wrong
-- shape, which the methods that return `true` do not look at.
local FAULTS = {
  { name = "slow", fault = { delay = DELAY }, kind = "timeout", retryable = true, retried = true,
    applies = true },
  { name = "429 within retry_max_wait", fault = { status = 429, retry_after = "0.05" }, kind = "http",
    status = 429, retryable = true, retried = true },
  { name = "429 beyond retry_max_wait", fault = { status = 429, retry_after = "5" }, kind = "http",
    status = 429, retryable = true, retried = false, retry_after = 5 },
  { name = "500", fault = { status = 500 }, kind = "http", status = 500, retryable = true, retried = true },
  { name = "502", fault = { status = 502 }, kind = "http", status = 502, retryable = true, retried = true },
  { name = "503", fault = { status = 503 }, kind = "http", status = 503, retryable = true, retried = true },
  { name = "504", fault = { status = 504 }, kind = "http", status = 504, retryable = true, retried = true },
  { name = "badjson", fault = { action = "badjson" }, kind = "protocol", status = 200, retryable = false,
    retried = false },
  { name = "truncate", fault = { action = "truncate" }, kind = "network", status = 200, retryable = true,
    retried = true },
  { name = "wrong_shape", fault = { action = "wrong_shape" }, kind = "protocol", status = 200, retryable = false,
    retried = false, data_ignored = true },
  { name = "oversize", fault = { action = "oversize", size = 4 * MAX_BYTES }, kind = "protocol", status = 200,
    retryable = false, retried = false },
  { name = "reset", fault = { action = "reset" }, kind = "network", retryable = true, retried = true },
  { name = "close", fault = { action = "close" }, kind = "network", retryable = true, retried = true },
  { name = "drop_reply", fault = { action = "drop_reply" }, kind = "network", retryable = true, retried = true,
    applies = true },
  { name = "stall", fault = { action = "stall" }, kind = "timeout", status = 200, retryable = true,
    retried = true },
}

local MAYBE_KINDS = { network = true, timeout = true, protocol = true }

--- The requests the fake received for `path`, in order.
local function requests(fake, path)
  local list = {}
  for _, entry in ipairs(fake:log()) do
    if entry.path == path then
      list[#list + 1] = entry
    end
  end
  return list
end

--- Checks one error object of a cell against its row.
local function check_error(row, err, endpoint, attempts, policy)
  assert.is_true(proxyapi.is_error(err), "not an error object: " .. tostring(err))
  assert.equal(row.kind, err.kind, tostring(err))
  assert.equal(row.status, err.status)
  assert.equal(row.retryable, err.retryable)
  assert.equal(endpoint, err.endpoint)
  assert.equal(attempts, err.attempts, tostring(err))
  assert.equal(row.retry_after, err.retry_after)
  if policy == "once" and MAYBE_KINDS[row.kind] then
    assert.is_true(err.maybe_applied, "maybe_applied")
  else
    assert.is_nil(err.maybe_applied, "maybe_applied")
  end
  assert.is_string(err.msg)
  assert.is_string(tostring(err))
end

--- Names of a chunk as sent ("a,b").
local function split_names(field)
  local names = {}
  for name in field:gmatch "[^,]+" do
    names[#names + 1] = name
  end
  return names
end

describe("fault matrix", function()
  local fake, names, initial

  lazy_setup(function()
    fake = helper.start_fake()
    initial = fake:accounts()
    names = {}
    for name in pairs(initial) do
      names[#names + 1] = name
    end
    table.sort(names)
    assert.equal(5, #names)
  end)

  lazy_teardown(function()
    fake:stop()
  end)

  before_each(function()
    fake:reset()
  end)

  after_each(function()
    fake:close_clients()
  end)

  local function client(extra)
    return fake:client(OPTIONS, extra)
  end

  -- The columns. A single call: run(api, cell) returns what the method
  -- returned; check(row, ok, err, cell) checks it; policy is the Retries
  -- table's row for it.
  local function single(name, method, path, policy, run, after)
    return {
      name = name,
      path = path,
      run = run,
      check = function(row, ok, err, cell)
        local expected = (policy == "read" and row.retried) and RETRIES + 1 or 1
        if row.data_ignored and cell.returns_true then
          assert.is_true(ok, tostring(err))
          assert.equal(1, #requests(fake, path))
        else
          assert.is_nil(ok)
          check_error(row, err, method .. " " .. path, expected, policy)
          assert.equal(expected, #requests(fake, path))
          if cell.batch then
            assert.same({ cell.name }, err.failed)
          end
        end
        cell.after = after
      end,
    }
  end

  local CALLS = {
    single("list_accounts", "GET", LIST, "read", function(api)
      return api:list_accounts()
    end),

    single("change_limit", "POST", LIMIT, "read", function(api, cell)
      cell.returns_true = true
      cell.name = names[1]
      cell.before = initial[names[1]].limit_flow
      return api:change_limit(names[1], 42)
    end, function(row, cell)
      -- the fake carried out the write only where the fault lets it through
      local now = fake:accounts()[cell.name].limit_flow
      assert.equal(row.applies and 42 or cell.before, now)
    end),

    single("add_accounts", "POST", ADD, "once", function(api, cell)
      cell.returns_true, cell.batch = true, true
      cell.name = "fx" .. cell.index
      return api:add_accounts { cell.name .. ":pw1" }
    end, function(row, cell)
      -- sent once: added once if the fake carried it out, else not at all
      local added = fake:accounts()[cell.name]
      if row.applies then
        assert.is_table(added)
        assert.equal("pw1", added.password)
      else
        assert.is_nil(added)
      end
    end),

    single("extract_ips", "GET", IPS, "once", function(api)
      return api:extract_ips { cc = "US", num = 1 }
    end),

    {
      name = "map",
      path = LIST,
      run = function(api)
        return api:map({ 1, 2, 3, 4 }, function(a)
          return a:list_accounts()
        end)
      end,
      check = function(row, results, errs)
        local expected = row.retried and RETRIES + 1 or 1
        assert.is_table(results)
        assert.is_table(errs)
        assert.equal(4, results.n)
        for key in pairs(errs) do
          assert.is_true(math.type(key) == "integer" and key >= 1 and key <= 4, "errs has key " .. tostring(key))
        end
        local total = 0
        for i = 1, 4 do
          -- nothing silently dropped: each item has a result or an error, not both
          assert.is_true((results[i] ~= nil) ~= (errs[i] ~= nil), "item " .. i)
          assert.is_nil(results[i])
          check_error(row, errs[i], "GET " .. LIST, expected, "read")
          total = total + errs[i].attempts
        end
        assert.equal(4 * expected, total)
        assert.equal(total, #requests(fake, LIST))
      end,
    },

    {
      name = "split disable_accounts",
      path = DISABLE,
      times = 1, -- on one chunk only
      options = { batch_size = 2 },
      prepare = function(api)
        assert.is_true(api:enable_accounts(names))
        fake:clear_log()
      end,
      run = function(api)
        return api:disable_accounts(names)
      end,
      check = function(row, ok, err)
        local log = requests(fake, DISABLE)
        local faulted, sent = nil, {}
        for _, entry in ipairs(log) do
          if entry.fault then
            assert.is_nil(faulted, "the fault hit two requests")
            faulted = split_names(entry.params.accounts)
          end
          for _, name in ipairs(split_names(entry.params.accounts)) do
            sent[name] = true
          end
        end
        assert.is_table(faulted, "no chunk met the fault")
        for _, name in ipairs(names) do
          assert.is_true(sent[name], name .. " was never sent")
        end
        local failed = {}
        local now = fake:accounts()
        if row.retried or row.data_ignored then
          -- the faulted chunk was tried again (or its reply ignored): all done
          assert.is_true(ok, tostring(err))
          assert.equal(row.retried and 4 or 3, #log)
          if row.data_ignored then
            for _, name in ipairs(faulted) do
              failed[name] = true -- the fake answered without carrying it out
            end
          end
        else
          assert.is_nil(ok)
          check_error(row, err, "POST " .. DISABLE, 1, "read")
          assert.equal(3, #log)
          assert.same(faulted, err.failed)
          for _, name in ipairs(err.failed) do
            failed[name] = true
          end
        end
        for _, name in ipairs(names) do
          -- every other chunk applied; the failed one did not
          local status = math.tointeger(now[name].status)
          if failed[name] then
            assert.equal(proxyapi.account_status.ENABLED, status, name)
          else
            assert.equal(proxyapi.account_status.DISABLED, status, name)
          end
        end
      end,
    },
  }

  local index = 0
  for _, row in ipairs(FAULTS) do
    for _, call in ipairs(CALLS) do
      index = index + 1
      local cell = { index = index }
      it(row.name .. " x " .. call.name, function()
        local api = client(call.options)
        if call.prepare then
          call.prepare(api)
        end
        local fault = { path = call.path, times = call.times or -1 }
        for k, v in pairs(row.fault) do
          fault[k] = v
        end
        fake:fault(fault)
        local started = gettime()
        local a, b = call.run(api, cell)
        local took = gettime() - started
        assert.is_true(took < BOUND, format("took %.2f s", took))
        assert.equal(0, pending(api))
        if row.fault.delay then
          -- a timed-out attempt still reaches the fake, which answers late
          assert.is_true(took >= TIMEOUT - 0.05, format("took %.2f s", took))
        end
        call.check(row, a, b, cell)
        fake:clear_faults()
        if row.fault.delay then
          -- let the late requests finish before looking at the state
          sleep(math.max(0, started + DELAY + 0.1 - gettime()))
        end
        if cell.after then
          cell.after(row, cell)
        end
        -- the client still works, and leaves nothing in flight
        local list, err = api:list_accounts()
        assert.is_table(list, tostring(err))
        assert.equal(0, pending(api))
      end)
    end
  end
end)
