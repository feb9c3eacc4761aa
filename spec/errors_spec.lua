-- the contract's Errors and Retries over real HTTP against the fake API: every
-- error kind, and how many times each kind of call was tried, counted both
-- from err.attempts and from the requests the fake received.
local helper = require "helper"
local proxyapi = require "proxyapi"
local socket = require "socket"

local gettime = socket.gettime
local ACCOUNT = "/openapi/whitelist-account/"
local LIST, ADD, DELETE = ACCOUNT .. "list", ACCOUNT .. "add", ACCOUNT .. "delete"
local DISABLE, LIMIT, IPS = ACCOUNT .. "disable", ACCOUNT .. "change-limit", "/openapi/ip/v3"

-- The kinds of call of the Retries table. `run(api, name)` makes the call
-- about one account name (the one to add, for add_accounts).
local CALLS = {
  { label = "a read (list_accounts)", method = "GET", path = LIST, retried = true,
    run = function(api) return api:list_accounts() end },
  { label = "an idempotent write (change_limit)", method = "POST", path = LIMIT, retried = true,
    run = function(api, name) return api:change_limit(name, 10) end },
  { label = "an idempotent write (disable_accounts)", method = "POST", path = DISABLE, retried = true,
    batch = true, run = function(api, name) return api:disable_accounts { name } end },
  { label = "an at-most-once write (add_accounts)", method = "POST", path = ADD, retried = false,
    batch = true, run = function(api, name) return api:add_accounts { name .. ":pw1" } end },
  { label = "an at-most-once write (delete_accounts)", method = "POST", path = DELETE, retried = false,
    batch = true, run = function(api, name) return api:delete_accounts(name) end },
  { label = "an at-most-once GET (extract_ips)", method = "GET", path = IPS, retried = false,
    run = function(api) return api:extract_ips { cc = "US", num = 1 } end },
}

--- A plain copy of an error object's fields, for assert.same.
local function fields(err)
  local copy = {}
  for k, v in pairs(err) do
    copy[k] = v
  end
  return copy
end

describe("errors and retries against the fake API", function()
  local fake, api, seeded

  lazy_setup(function()
    fake = helper.start_fake()
    local names = {}
    for name in pairs(fake:accounts()) do
      names[#names + 1] = name
    end
    table.sort(names)
    seeded = names[1]
  end)

  lazy_teardown(function()
    if api then api:close() end
    fake:stop()
  end)

  before_each(function()
    fake:reset()
    fake:clear_faults()
    if api then api:close() end
    api = fake:client { retries = 2, retry_backoff = 0.01 }
  end)

  after_each(function()
    fake:close_clients()
  end)

  --- A client of the fake, closed after the test.
  local function client(options)
    return fake:client(options)
  end

  --- The requests the fake received for `path`, in order.
  local function requests(path)
    local list = {}
    for _, entry in ipairs(fake:log()) do
      if entry.path == path then
        list[#list + 1] = entry
      end
    end
    return list
  end

  --- A client of a port nobody listens on; `infos` collects on_request.
  local function refused_client(infos, options)
    return fake:client({
      base_url = "http://127.0.0.1:" .. helper.refused_port(),
      retries = 2, retry_backoff = 0.01, timeout = 2, connect_timeout = 1,
      on_request = function(info) infos[#infos + 1] = info end,
    }, options)
  end

  describe("HTTP 500 on every try", function()
    for _, call in ipairs(CALLS) do
      local expected = call.retried and 3 or 1
      it(call.label .. " makes " .. expected .. " attempt(s)", function()
        fake:fault { path = call.path, status = 500, times = -1 }
        local ok, err = call.run(api, call.path == ADD and "fresh500" or seeded)
        assert.is_nil(ok)
        assert.is_true(proxyapi.is_error(err))
        assert.equal("http", err.kind)
        assert.equal(500, err.status)
        assert.is_true(err.retryable)
        assert.equal(expected, err.attempts)
        assert.equal(expected, #requests(call.path))
        assert.equal(call.method .. " " .. call.path, err.endpoint)
        -- an HTTP answer came back: the request did not "maybe" apply
        assert.is_not_true(err.maybe_applied)
        if call.batch then
          assert.same({ call.path == ADD and "fresh500" or seeded }, err.failed)
        end
      end)
    end

    it("leaves the account of a refused add_accounts unadded", function()
      fake:fault { path = ADD, status = 500, times = -1 }
      assert.is_nil((api:add_accounts { "fresh500:pw1" }))
      assert.is_nil(fake:accounts().fresh500)
    end)
  end)

  describe("a transient failure", function()
    it("503 then OK: the read succeeds on its second attempt", function()
      local infos = {}
      local c = client { retries = 2, retry_backoff = 0.01,
                         on_request = function(info) infos[#infos + 1] = info end }
      fake:fault { path = LIST, status = 503, times = 1 }
      local accounts, err = c:list_accounts()
      assert.is_nil(err)
      assert.is_table(accounts)
      assert.equal(5, #accounts)
      assert.equal(2, #requests(LIST))
      assert.equal(2, #infos)
      assert.equal(1, infos[1].attempt)
      assert.equal(503, infos[1].status)
      assert.equal(2, infos[2].attempt)
      assert.equal(200, infos[2].status)
    end)

    it("503 then OK: an idempotent write succeeds and is applied once", function()
      fake:fault { path = DISABLE, status = 503, times = 1 }
      assert.is_true(api:disable_accounts { seeded })
      assert.equal(2, #requests(DISABLE))
      assert.equal(proxyapi.account_status.DISABLED, fake:accounts()[seeded].status)
    end)

    it("503 once on add_accounts: not retried, the account not added", function()
      fake:fault { path = ADD, status = 503, times = 1 }
      local ok, err = api:add_accounts { "once503:pw1" }
      assert.is_nil(ok)
      assert.equal(503, err.status)
      assert.equal(1, err.attempts)
      assert.equal(1, #requests(ADD))
      assert.is_nil(fake:accounts().once503)
    end)
  end)

  describe("429 and Retry-After", function()
    it("waits the Retry-After seconds before the retry", function()
      fake:fault { path = LIST, status = 429, retry_after = 1, times = 1 }
      local started = gettime()
      assert.is_table((api:list_accounts()))
      local took = gettime() - started
      local log = requests(LIST)
      assert.equal(2, #log)
      local gap = log[2].t_start - log[1].t_start
      assert.is_true(gap >= 0.9, "retried after " .. gap .. " s")
      assert.is_true(gap < 3, "retried after " .. gap .. " s")
      assert.is_true(took < 3, "took " .. took .. " s")
    end)

    it("does not retry when Retry-After exceeds retry_max_wait, and reports it", function()
      local c = client { retry_max_wait = 0.5 }
      fake:fault { path = LIST, status = 429, retry_after = 5, times = -1 }
      local started = gettime()
      local ok, err = c:list_accounts()
      assert.is_true(gettime() - started < 1)
      assert.is_nil(ok)
      assert.equal("http", err.kind)
      assert.equal(429, err.status)
      assert.equal(1, err.attempts)
      assert.equal(1, #requests(LIST))
      assert.equal(5, err.retry_after)
    end)

    it("copies the envelope's code and msg into a 429 error", function()
      fake:fault { path = LIST, status = 429, code = 1001, msg = "slow down", retry_after = 5, times = -1 }
      local c = client { retry_max_wait = 0.5 }
      local ok, err = c:list_accounts()
      assert.is_nil(ok)
      assert.equal("http", err.kind)
      assert.equal(429, err.status)
      assert.equal(1001, err.code)
      assert.equal("slow down", err.msg)
    end)

    it("copies the envelope of a 500 and retries it by its status", function()
      fake:fault { path = LIST, status = 500, code = 7, msg = "backend down", times = -1 }
      local ok, err = api:list_accounts()
      assert.is_nil(ok)
      assert.equal("http", err.kind)
      assert.equal(500, err.status)
      assert.equal(7, err.code)
      assert.equal("backend down", err.msg)
      assert.equal(3, err.attempts)
      assert.equal(3, #requests(LIST))
    end)
  end)

  describe("statuses outside the retry list", function()
    for _, status in ipairs { 400, 404 } do
      for _, call in ipairs(CALLS) do
        it(status .. " on " .. call.label .. ": 1 attempt", function()
          fake:fault { path = call.path, status = status, times = -1 }
          local ok, err = call.run(api, call.path == ADD and "fresh4xx" or seeded)
          assert.is_nil(ok)
          assert.equal("http", err.kind)
          assert.equal(status, err.status)
          assert.is_false(err.retryable)
          assert.equal(1, err.attempts)
          assert.equal(1, #requests(call.path))
          assert.is_not_true(err.maybe_applied)
        end)
      end
    end

    it("an unknown path answers 404, tried once even with GET", function()
      local ok, err = api:call("GET", "/openapi/no-such-thing")
      assert.is_nil(ok)
      assert.equal("http", err.kind)
      assert.equal(404, err.status)
      assert.equal(1, err.attempts)
      assert.equal(1, #requests("/openapi/no-such-thing"))
      assert.equal("proxyapi: GET /openapi/no-such-thing: http 404: api code 404: not found", tostring(err))
    end)
  end)

  describe("protocol errors", function()
    for _, call in ipairs(CALLS) do
      it("bad JSON on " .. call.label .. ": protocol, 1 attempt", function()
        fake:fault { path = call.path, action = "badjson", times = -1 }
        local ok, err = call.run(api, call.path == ADD and "freshjson" or seeded)
        assert.is_nil(ok)
        assert.equal("protocol", err.kind)
        assert.is_false(err.retryable)
        assert.equal(1, err.attempts)
        assert.equal(1, #requests(call.path))
      end)
    end

    it("data of the wrong shape for a list: protocol, 1 attempt", function()
      fake:fault { path = LIST, action = "wrong_shape", times = -1 }
      local ok, err = api:list_accounts()
      assert.is_nil(ok)
      assert.equal("protocol", err.kind)
      assert.equal(200, err.status)
      assert.equal(1, err.attempts)
      assert.equal(1, #requests(LIST))
      assert.matches("string", err.msg)
    end)

    it("data of the wrong shape for a JSON IP extraction: protocol", function()
      -- the JSON format answers data = {list = {{"ip:port", ...}}}; a string is not that
      fake:fault { path = IPS, action = "wrong_shape", times = -1 }
      local ok, err = api:extract_ips { cc = "US", num = 1 }
      assert.is_nil(ok)
      assert.is_true(proxyapi.is_error(err))
      assert.equal("protocol", err.kind)
      assert.equal(1, #requests(IPS))
    end)

    it("a reply larger than max_response_bytes: protocol naming the limit", function()
      local c = client { max_response_bytes = 100000 }
      fake:fault { path = LIST, action = "oversize", size = 300000, times = -1 }
      local ok, err = c:list_accounts()
      assert.is_nil(ok)
      assert.equal("protocol", err.kind)
      assert.is_false(err.retryable)
      assert.equal(1, err.attempts)
      assert.equal(1, #requests(LIST))
      assert.matches("100000", err.msg, 1, true)
    end)

    it("a reply within max_response_bytes is accepted", function()
      local c = client { max_response_bytes = 100000 }
      fake:fault { path = LIST, action = "oversize", size = 50000, times = -1 }
      assert.same({}, (c:list_accounts()))
    end)
  end)

  describe("timeouts", function()
    -- the fake handles a delayed request after the client gave up: names
    -- that match no account keep those late requests from changing state
    for _, call in ipairs(CALLS) do
      local expected = call.retried and 3 or 1
      it("a slow reply on " .. call.label .. ": timeout, " .. expected .. " attempt(s)", function()
        local c = client { timeout = 0.3 }
        fake:fault { path = call.path, delay = 1.5, times = -1 }
        local started = gettime()
        local ok, err = call.run(c, call.path == ADD and "slowadd" or "ghost1")
        local took = gettime() - started
        assert.is_nil(ok)
        assert.equal("timeout", err.kind)
        assert.is_true(err.retryable)
        assert.equal(expected, err.attempts)
        assert.equal(expected, #requests(call.path))
        if call.retried then
          assert.is_not_true(err.maybe_applied)
        else
          assert.is_true(err.maybe_applied)
        end
        assert.is_true(took < 5, "took " .. took .. " s")
        assert.is_true(took >= 0.3 * expected - 0.05, "took " .. took .. " s")
      end)
    end

    it("a stalled body (half sent, then nothing): timeout", function()
      local c = client { timeout = 0.5 }
      fake:fault { path = LIST, action = "stall", times = -1 }
      local started = gettime()
      local ok, err = c:list_accounts()
      assert.is_nil(ok)
      assert.equal("timeout", err.kind)
      assert.equal(3, err.attempts)
      assert.equal(3, #requests(LIST))
      assert.is_true(gettime() - started < 4)
    end)
  end)

  describe("connections that end without a whole reply", function()
    it("closed without a reply: a read is retried", function()
      fake:fault { path = LIST, action = "close", times = -1 }
      local ok, err = api:list_accounts()
      assert.is_nil(ok)
      assert.equal("network", err.kind)
      assert.is_true(err.retryable)
      assert.equal(3, err.attempts)
      assert.equal(3, #requests(LIST))
      assert.is_not_true(err.maybe_applied)
    end)

    it("closed without a reply, once: a read succeeds on its second attempt", function()
      fake:fault { path = LIST, action = "close", times = 1 }
      assert.equal(5, #assert(api:list_accounts()))
      assert.equal(2, #requests(LIST))
    end)

    it("closed without a reply: add_accounts is not resent and may have applied", function()
      fake:fault { path = ADD, action = "close", times = -1 }
      local ok, err = api:add_accounts { "closed1:pw1" }
      assert.is_nil(ok)
      assert.equal("network", err.kind)
      assert.equal(1, err.attempts)
      assert.equal(1, #requests(ADD))
      assert.is_true(err.maybe_applied)
      assert.same({ "closed1" }, err.failed)
    end)

    it("closed without a reply on a reused connection: add_accounts is still sent once", function()
      assert.is_table((api:list_accounts())) -- leaves a kept-alive connection
      fake:clear_log()
      fake:fault { path = ADD, action = "close", times = -1 }
      local ok, err = api:add_accounts { "closed2:pw1" }
      assert.is_nil(ok)
      assert.equal(1, err.attempts)
      assert.equal(1, #requests(ADD))
      assert.is_true(err.maybe_applied)
    end)

    it("the reply dropped after add_accounts applied: not resent, maybe_applied", function()
      fake:fault { path = ADD, action = "drop_reply", times = -1 }
      local ok, err = api:add_accounts { "dropped1:pw1" }
      assert.is_nil(ok)
      assert.equal("network", err.kind)
      assert.equal(1, err.attempts)
      assert.equal(1, #requests(ADD))
      assert.is_true(err.maybe_applied)
      local added = fake:accounts().dropped1
      assert.is_table(added)
      assert.equal("pw1", added.password)
    end)

    it("the reply dropped after delete_accounts applied: not resent, maybe_applied", function()
      fake:fault { path = DELETE, action = "drop_reply", times = -1 }
      local ok, err = api:delete_accounts { seeded }
      assert.is_nil(ok)
      assert.equal(1, err.attempts)
      assert.equal(1, #requests(DELETE))
      assert.is_true(err.maybe_applied)
      assert.is_nil(fake:accounts()[seeded])
    end)

    it("the reply dropped after extract_ips: not resent, maybe_applied", function()
      fake:fault { path = IPS, action = "drop_reply", times = -1 }
      local ok, err = api:extract_ips { cc = "US", num = 2 }
      assert.is_nil(ok)
      assert.equal(1, err.attempts)
      assert.equal(1, #requests(IPS))
      assert.is_true(err.maybe_applied)
    end)

    it("a reset (RST): network, a read is retried", function()
      fake:fault { path = LIST, action = "reset", times = -1 }
      local ok, err = api:list_accounts()
      assert.is_nil(ok)
      assert.equal("network", err.kind)
      assert.is_true(err.retryable)
      assert.equal(3, err.attempts)
      assert.equal(3, #requests(LIST))
    end)

    it("a reset (RST) during add_accounts: not resent, maybe_applied", function()
      fake:fault { path = ADD, action = "reset", times = -1 }
      local ok, err = api:add_accounts { "reset1:pw1" }
      assert.is_nil(ok)
      assert.equal("network", err.kind)
      assert.equal(1, err.attempts)
      assert.equal(1, #requests(ADD))
      assert.is_true(err.maybe_applied)
    end)

    it("a truncated body: network, a read is retried", function()
      fake:fault { path = LIST, action = "truncate", times = -1 }
      local ok, err = api:list_accounts()
      assert.is_nil(ok)
      assert.equal("network", err.kind)
      assert.is_true(err.retryable)
      assert.equal(3, err.attempts)
      assert.equal(3, #requests(LIST))
    end)

    -- libcurl resends a request on its own when a reused connection turns
    -- out dead before any reply; the server then sees a try that
    -- err.attempts ("counts every try") does not count
    for _, action in ipairs { "reset", "close" } do
      it("a " .. action .. " on a reused connection: err.attempts equals the requests the server got", function()
        assert.is_table((api:list_accounts())) -- leaves a kept-alive connection
        fake:clear_log()
        fake:fault { path = LIST, action = action, times = -1 }
        local ok, err = api:list_accounts()
        assert.is_nil(ok)
        assert.equal("network", err.kind)
        assert.equal(#requests(LIST), err.attempts)
      end)
    end
  end)

  describe("a refused connection", function()
    for _, call in ipairs(CALLS) do
      it("is retried for " .. call.label .. ": 3 attempts, nothing may have applied", function()
        local infos = {}
        local c = refused_client(infos)
        local ok, err = call.run(c, "refused1")
        assert.is_nil(ok)
        assert.equal("network", err.kind)
        assert.is_true(err.retryable)
        assert.equal(3, err.attempts)
        assert.equal(3, #infos)
        for i, info in ipairs(infos) do
          assert.equal(i, info.attempt)
          assert.is_nil(info.status)
          assert.equal(call.path, info.path)
        end
        assert.is_not_true(err.maybe_applied)
        assert.is_nil(err.status)
      end)
    end

    it("with retries = 0 is tried once", function()
      local infos = {}
      local ok, err = refused_client(infos, { retries = 0 }):add_accounts { "refused2:pw" }
      assert.is_nil(ok)
      assert.equal(1, err.attempts)
      assert.equal(1, #infos)
    end)
  end)

  describe("API codes", function()
    for _, call in ipairs(CALLS) do
      it("code 3 (wrong app_key) on " .. call.label .. ": api, 1 attempt, not retryable", function()
        local c = client { app_key = "WrongKey123" }
        local ok, err = call.run(c, call.path == ADD and "wrongkey1" or seeded)
        assert.is_nil(ok)
        assert.equal("api", err.kind)
        assert.equal(3, err.code)
        assert.equal("invalid app_key", err.msg)
        assert.is_false(err.retryable)
        assert.equal(1, err.attempts)
        assert.equal(1, #requests(call.path))
        assert.is_not_true(err.maybe_applied)
      end)
    end

    it("code 156 (not verified): writes fail once and change nothing, reads work", function()
      fake:config { not_verified = true }
      local before = fake:accounts()
      local writes = {
        { ADD, function() return api:add_accounts { "unverified1:pw1" } end },
        { DELETE, function() return api:delete_accounts { seeded } end },
        { DISABLE, function() return api:disable_accounts { seeded } end },
        { LIMIT, function() return api:change_limit(seeded, 77) end },
      }
      for _, write in ipairs(writes) do
        local ok, err = write[2]()
        assert.is_nil(ok)
        assert.equal("api", err.kind)
        assert.equal(156, err.code)
        assert.equal(proxyapi.code.NOT_VERIFIED, err.code)
        assert.equal("account not real-name verified", err.msg)
        assert.equal(1, err.attempts)
        assert.equal(1, #requests(write[1]))
        assert.is_false(err.retryable)
      end
      assert.same(before, fake:accounts())
      local accounts = assert(api:list_accounts())
      assert.equal(5, #accounts)
      assert.equal(1, #assert(api:extract_ips { cc = "US", num = 1 }))
    end)

    it("an API code from a 200 reply is never retried, even on a read", function()
      fake:fault { path = LIST, code = 500, msg = "busy", times = -1 }
      local ok, err = api:list_accounts()
      assert.is_nil(ok)
      assert.equal("api", err.kind)
      assert.equal(500, err.code)
      assert.equal(200, err.status)
      assert.equal("busy", err.msg)
      assert.equal(1, err.attempts)
      assert.equal(1, #requests(LIST))
    end)
  end)

  describe("api:call", function()
    it("POST with a 500: 1 attempt", function()
      fake:fault { path = DISABLE, status = 500, times = -1 }
      local ok, err = api:call("POST", DISABLE, { accounts = seeded })
      assert.is_nil(ok)
      assert.equal("http", err.kind)
      assert.equal(500, err.status)
      assert.equal(1, err.attempts)
      assert.equal(1, #requests(DISABLE))
      assert.equal("POST " .. DISABLE, err.endpoint)
    end)

    it("GET with a 500: 3 attempts", function()
      fake:fault { path = LIST, status = 500, times = -1 }
      local ok, err = api:call("GET", LIST)
      assert.is_nil(ok)
      assert.equal("http", err.kind)
      assert.equal(3, err.attempts)
      assert.equal(3, #requests(LIST))
      assert.equal("GET " .. LIST, err.endpoint)
    end)

    it("POST with a closed connection: not resent, maybe_applied", function()
      fake:fault { path = ADD, action = "close", times = -1 }
      local ok, err = api:call("POST", ADD, { accounts = "viacall1:pw1" })
      assert.is_nil(ok)
      assert.equal("network", err.kind)
      assert.equal(1, err.attempts)
      assert.equal(1, #requests(ADD))
      assert.is_true(err.maybe_applied)
    end)
  end)

  describe("split batches", function()
    local function names_of(accounts_field)
      local names = {}
      for item in accounts_field:gmatch "[^,]+" do
        names[#names + 1] = item:match "^[^:]+"
      end
      return names
    end

    it("lists exactly the names of the failed chunk; the other chunks apply", function()
      local c = client { batch_size = 2 }
      local all = { "split1", "split2", "split3", "split4", "split5" }
      local accounts = {}
      for i, name in ipairs(all) do
        accounts[i] = name .. ":pw" .. i
      end
      fake:fault { path = ADD, status = 400, times = 1 }
      local ok, err = c:add_accounts(accounts)
      assert.is_nil(ok)
      assert.equal("http", err.kind)
      assert.equal(400, err.status)
      assert.equal(1, err.attempts)
      local log = requests(ADD)
      assert.equal(3, #log)
      local failed_chunk
      for _, entry in ipairs(log) do
        if entry.fault then
          assert.is_nil(failed_chunk)
          failed_chunk = names_of(entry.params.accounts)
        end
      end
      assert.is_table(failed_chunk)
      assert.same(failed_chunk, err.failed)
      local now = fake:accounts()
      local failed = {}
      for _, name in ipairs(err.failed) do
        failed[name] = true
      end
      for _, name in ipairs(all) do
        -- every name is either reported failed or applied: none dropped
        if failed[name] then
          assert.is_nil(now[name], name)
        else
          assert.is_table(now[name], name)
        end
      end
    end)

    it("with concurrency 1 the first chunk is the failed one", function()
      local c = client { batch_size = 2, concurrency = 1 }
      fake:fault { path = ADD, status = 400, times = 1 }
      local ok, err = c:add_accounts { "ord1:pw", "ord2:pw", "ord3:pw", "ord4:pw", "ord5:pw" }
      assert.is_nil(ok)
      assert.same({ "ord1", "ord2" }, err.failed)
      local now = fake:accounts()
      assert.is_nil(now.ord1)
      assert.is_nil(now.ord2)
      assert.is_table(now.ord3)
      assert.is_table(now.ord4)
      assert.is_table(now.ord5)
      assert.equal("proxyapi: POST " .. ADD .. ": http 400: api code 400: Bad Request (2 accounts failed)",
        tostring(err))
    end)

    it("retries a chunk of an idempotent batch that failed with 500, and nothing fails", function()
      local c = client { batch_size = 2 }
      local names = {}
      for name in pairs(fake:accounts()) do
        names[#names + 1] = name
      end
      fake:fault { path = DISABLE, status = 500, times = 1 }
      assert.is_true(c:disable_accounts(names))
      assert.equal(4, #requests(DISABLE)) -- 3 chunks, one of them twice
      for _, a in pairs(fake:accounts()) do
        assert.equal(proxyapi.account_status.DISABLED, a.status)
      end
    end)
  end)

  describe("error objects", function()
    it("have the fields of the contract (README), exactly, for api code 3", function()
      local c = client { app_key = "WrongKey123" }
      local ok, err = c:list_accounts()
      assert.is_nil(ok)
      assert.is_true(proxyapi.is_error(err))
      assert.same({
        kind = "api", code = 3, status = 200, msg = "invalid app_key",
        endpoint = "GET " .. LIST, attempts = 1, retryable = false,
      }, fields(err))
      assert.equal("integer", math.type(err.attempts))
      assert.equal("proxyapi: GET " .. LIST .. ": api code 3: invalid app_key", tostring(err))
    end)

    it("read like the contract's example for a POST with code 3", function()
      local c = client { app_key = "WrongKey123" }
      local ok, err = c:call("POST", ADD, { accounts = "example1:pw1" })
      assert.is_nil(ok)
      assert.equal("proxyapi: POST /openapi/whitelist-account/add: api code 3: invalid app_key", tostring(err))
    end)

    it("of add_accounts with code 3 read like the contract's example, naming the failed count", function()
      local c = client { app_key = "WrongKey123" }
      local ok, err = c:add_accounts { "example1:pw1" }
      assert.is_nil(ok)
      assert.same({ "example1" }, err.failed)
      assert.equal("proxyapi: POST /openapi/whitelist-account/add: api code 3: invalid app_key (1 account failed)",
        tostring(err))
    end)

    it("have the fields of the contract (README), exactly, for HTTP 500 after retries", function()
      fake:fault { path = LIST, status = 500, times = -1 }
      local ok, err = api:list_accounts()
      assert.is_nil(ok)
      assert.same({
        kind = "http", code = 500, status = 500, msg = "Internal Server Error",
        endpoint = "GET " .. LIST, attempts = 3, retryable = true,
      }, fields(err))
      assert.equal("proxyapi: GET " .. LIST .. ": http 500: api code 500: Internal Server Error (3 attempts)",
        tostring(err))
    end)

    it("raise through assert with their text", function()
      local c = client { app_key = "WrongKey123" }
      local lua_assert = _G.assert -- Lua's own: busted's `assert` here is luassert
      local ok, raised = pcall(function()
        return lua_assert(c:list_accounts())
      end)
      assert.is_false(ok)
      assert.is_true(proxyapi.is_error(raised))
      assert.equal("proxyapi: GET " .. LIST .. ": api code 3: invalid app_key", tostring(raised))
    end)

    it("are told apart from other values by is_error", function()
      assert.is_false(proxyapi.is_error({ kind = "api", code = 3 }))
      assert.is_false(proxyapi.is_error("proxyapi: GET /x: api code 3: invalid app_key"))
      assert.is_false(proxyapi.is_error(nil))
      local _, err = client({ app_key = "WrongKey123" }):list_accounts()
      assert.is_true(proxyapi.is_error(err))
    end)

    it("of a network failure have no status and a message from libcurl", function()
      local ok, err = refused_client({}):list_accounts()
      assert.is_nil(ok)
      assert.is_true(proxyapi.is_error(err))
      assert.equal("network", err.kind)
      assert.is_nil(err.status)
      assert.is_nil(err.code)
      assert.is_string(err.msg)
      assert.is_true(#err.msg > 0)
      assert.equal("GET " .. LIST, err.endpoint)
      assert.matches("^proxyapi: GET /openapi/whitelist%-account/list: network: .+ %(3 attempts%)$", tostring(err))
    end)
  end)

  describe("on_request", function()
    it("is called once per attempt with the attempt number and status", function()
      local infos = {}
      local c = client { on_request = function(info) infos[#infos + 1] = info end }
      fake:fault { path = LIST, status = 500, times = -1 }
      assert.is_nil((c:list_accounts()))
      assert.equal(3, #infos)
      for i, info in ipairs(infos) do
        assert.equal(i, info.attempt)
        assert.equal(500, info.status)
        assert.equal("GET", info.method)
        assert.equal(LIST, info.path)
        assert.equal("number", type(info.elapsed))
        assert.is_true(info.elapsed >= 0)
      end
    end)

    it("is called once for an at-most-once write that failed", function()
      local infos = {}
      local c = client { on_request = function(info) infos[#infos + 1] = info end }
      fake:fault { path = ADD, status = 500, times = -1 }
      assert.is_nil((c:add_accounts { "onreq1:pw" }))
      assert.equal(1, #infos)
      assert.equal(1, infos[1].attempt)
      assert.equal(500, infos[1].status)
      assert.equal("POST", infos[1].method)
      assert.equal(ADD, infos[1].path)
    end)
  end)

  describe("backoff", function()
    it("waits retry_backoff, then twice that, each with at most half taken off by jitter", function()
      local c = client { retry_backoff = 0.2 }
      fake:fault { path = LIST, status = 500, times = -1 }
      assert.is_nil((c:list_accounts()))
      local log = requests(LIST)
      assert.equal(3, #log)
      local gap1, gap2 = log[2].t_start - log[1].t_start, log[3].t_start - log[2].t_start
      assert.is_true(gap1 >= 0.1 and gap1 <= 0.3, "first wait " .. gap1)
      assert.is_true(gap2 >= 0.2 and gap2 <= 0.5, "second wait " .. gap2)
    end)

    it("caps each wait at retry_max_wait", function()
      local c = client { retry_backoff = 10, retry_max_wait = 0.3 }
      fake:fault { path = LIST, status = 500, times = -1 }
      local started = gettime()
      local ok, err = c:list_accounts()
      local took = gettime() - started
      assert.is_nil(ok)
      assert.equal(3, err.attempts)
      assert.is_true(took < 2, "took " .. took)
      local log = requests(LIST)
      assert.equal(3, #log)
      for i = 2, 3 do
        local gap = log[i].t_start - log[i - 1].t_start
        assert.is_true(gap >= 0.15 and gap <= 0.4, "wait " .. gap)
      end
    end)

    it("does not wait after the last attempt", function()
      local c = client { retry_backoff = 0.3, retries = 1 }
      fake:fault { path = LIST, status = 500, times = -1 }
      local started = gettime()
      local ok, err = c:list_accounts()
      local took = gettime() - started
      assert.is_nil(ok)
      assert.equal(2, err.attempts)
      -- one wait of 0.15..0.3 s, and none after the second 500
      assert.is_true(took < 0.5, "took " .. took)
    end)
  end)
end)
