-- The endpoint table is the only description of an endpoint: a made-up
-- entry in a copy of the table is served over HTTP by the one interpreter
-- (client.define) with no other change, and nothing the module exports
-- holds the app_key.
local helper = require "helper"
local client = require "proxyapi.client"
local endpoints = require "proxyapi.endpoints"

local function copy(t)
  local out = {}
  for k, v in pairs(t) do
    out[k] = v
  end
  return out
end

describe("a made-up endpoint", function()
  local fake, api, methods

  setup(function()
    fake = helper.start_fake()
    api = fake:client()
    local table_ = copy(endpoints)
    -- only entries: a read with a required argument, a change whose
    -- arguments come in an options table, and a path the fake does not know
    table_.states_of = {
      method = "GET", path = "/openapi/ip/dynamic-states/search", effect = "read", retry = "read",
      result = "list", summary = "The states of a country (made up).", returns = "state codes",
      usage = "api:states_of 'US'",
      args = { { pos = 1, wire = "country_code", rule = "text", required = true, doc = "a country code" } },
    }
    table_.note = {
      method = "POST", path = "/openapi/whitelist-account/change-remark", effect = "change", retry = "read",
      result = "ok", summary = "Sets a remark (made up).", returns = "true",
      usage = "api:note { account = 'u', text = 'x' }",
      args = {
        { pos = 1, field = "account", wire = "account", rule = "name", required = true, doc = "the account" },
        { pos = 1, field = "text", wire = "remark", rule = "remark", required = true, doc = "the remark" },
      },
    }
    table_.nowhere = {
      method = "GET", path = "/openapi/no/such/thing", effect = "read", retry = "read", result = "data",
      summary = "Nothing (made up).", returns = "nothing", usage = "api:nowhere()",
    }
    methods = client.define({}, table_)
  end)

  teardown(function()
    fake:stop()
  end)

  it("is a method, served over HTTP by the one interpreter", function()
    fake:clear_log()
    local states = assert(methods.states_of(api, "US"))
    assert.same(assert(api:search_states "US"), states)
    local log = fake:log()
    assert.equal("/openapi/ip/dynamic-states/search", log[1].path)
    assert.equal("app_key=***&country_code=US", log[1].wire)
  end)

  it("checks its arguments by the table's rules before anything is sent", function()
    fake:clear_log()
    assert.has_error(function() methods.states_of(api) end,
      "bad argument #1 to 'states_of' (country_code: string expected, got no value)")
    assert.has_error(function() methods.note(api, { account = "x", bogus = 1 }) end,
      "bad argument #1 to 'note' (unknown option 'bogus')")
    assert.same({}, fake:log())
  end)

  it("writes a change's body from its fields, in the table's order", function()
    local name = next(fake:accounts())
    fake:clear_log()
    assert.is_true(methods.note(api, { account = name, text = "made up" }))
    assert.equal("made up", fake:accounts()[name].remark)
    local wire = fake:log()[1].wire
    assert.equal('{"app_key":"***","account":"' .. name .. '","remark":"made up"}', wire)
  end)

  it("returns one value on success, two on failure, from every path", function()
    local name = next(fake:accounts())
    assert.equal(1, select("#", methods.states_of(api, "US")))
    assert.equal(1, select("#", methods.note(api, { account = name, text = "x" })))
    assert.equal(1, select("#", api:list_accounts()))
    assert.equal(1, select("#", api:enable_accounts(name)))
    assert.equal(2, select("#", methods.nowhere(api)))
  end)

  it("reports a failure under its own endpoint", function()
    local data, err = methods.nowhere(api)
    assert.is_nil(data)
    assert.equal(404, err.status)
    assert.equal("GET /openapi/no/such/thing", err.endpoint)
  end)
end)

describe("nothing the module exports", function()
  local KEY = "Zq9RealKeyOfOurOwn/+=x7"

  --- Every string reachable from `root` through tables' keys and values
  -- and the metatables of tables and userdata (not through debug).
  local function strings(root)
    local seen, found = {}, {}
    local function walk(v)
      local t = type(v)
      if t == "string" then
        found[#found + 1] = v
      elseif (t == "table" or t == "userdata") and not seen[v] then
        seen[v] = true
        local mt = getmetatable(v)
        if type(mt) == "table" then walk(mt) end
        if t == "table" then
          for k, x in next, v do
            walk(k)
            walk(x)
          end
        end
      end
    end
    walk(root)
    return found
  end

  it("holds the key: not the module, its submodules, a client or its metatable", function()
    local fake = helper.start_fake("--app-key " .. helper.quote(KEY))
    local api = require("proxyapi").new { base_url = fake.base_url, app_key = KEY, proxy = false }
    assert(api:list_accounts())
    assert(api:change_limit(next(fake:accounts()), 3))
    local roots = { require "proxyapi", api, api:settings() }
    for name, module in pairs(package.loaded) do
      if type(name) == "string" and name:find("^proxyapi") then
        roots[#roots + 1] = module
      end
    end
    for _, root in ipairs(roots) do
      for _, s in ipairs(strings(root)) do
        assert.is_nil(s:find(KEY, 1, true), "a reachable string holds the key")
      end
    end
    assert.is_nil(tostring(api):find(KEY, 1, true))
    api:close()
    fake:stop()
  end)
end)
