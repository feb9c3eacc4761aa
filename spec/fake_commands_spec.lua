-- The fake's commands: scripts/with-fake and scripts/proxyapi-fake's
-- command line and help.
local helper = require "helper"
local faults = require "proxyapi.fake.faults"
local control = require "proxyapi.fake.control"

local quote = helper.quote

-- A command that prints what the fake's clock says, over HTTP, and exits 3.
local PRINT_CLOCK = "lua5.4 -e " .. quote [[
  local http = require "socket.http"
  local body = assert(http.request(os.getenv "PROXYAPI_BASE_URL" .. "/_fake/clock"))
  io.write(body)
  os.exit(3)
]]

describe("scripts/with-fake", function()
  it("prints its usage for --help and exits 0", function()
    for _, flag in ipairs { "--help", "-h" } do
      local code, out, err = helper.run("scripts/with-fake " .. flag)
      assert.same({ 0, "" }, { code, err })
      assert.matches("^usage: scripts/with%-fake %[%-%- FAKE%-OPTION%.%.%. %-%-%] COMMAND", out)
    end
  end)

  it("exits 2 with the usage when there is no command", function()
    for _, args in ipairs { "", "-- --seed 3 --", "-- --seed 3" } do
      local code, out, err = helper.run("scripts/with-fake " .. args)
      assert.equal(2, code, args)
      assert.equal("", out)
      assert.matches("usage: scripts/with%-fake", err)
    end
  end)

  it("runs the command against a fake given options with spaces, and exits with its status", function()
    local code, out = helper.run("scripts/with-fake -- --frozen --now '2025-06-01 12:00:00' -- "
      .. PRINT_CLOCK)
    assert.equal(3, code)
    assert.matches('"now":"2025%-06%-01 12:00:00"', out)
    assert.matches('"frozen":true', out)
  end)

  it("reports a fake that does not start", function()
    local code, _, err = helper.run("scripts/with-fake -- --now never -- true")
    assert.equal(1, code)
    assert.matches("with%-fake: the fake API did not start", err)
  end)
end)

describe("scripts/proxyapi-fake", function()
  it("documents every fault key and action and every control endpoint in --help", function()
    local code, out = helper.run("lua5.4 scripts/proxyapi-fake --help")
    assert.equal(0, code)
    for key in pairs(faults.fields) do
      if key == "headers" then
        assert.truthy(out:find("header.NAME=", 1, true), key)
      else
        assert.truthy(out:find("\n%s+" .. key .. "="), key)
      end
    end
    for action in pairs(faults.actions) do
      assert.truthy(out:find("%f[%w_]" .. action .. ":"), action)
    end
    for _, endpoint in ipairs(control.endpoints) do
      local method, path = endpoint:match "^(%u+) (.*)$"
      assert.truthy(out:find("\n  " .. method .. "%s+" .. path:gsub("%p", "%%%0") .. "%s"), endpoint)
    end
    for _, flag in ipairs { "--now", "--frozen", "--fault", "--seed", "--empty", "--not-verified" } do
      assert.truthy(out:find("\n  " .. flag:gsub("%p", "%%%0") .. "%s"), flag)
    end
  end)

  it("refuses a bad --now with exit status 2", function()
    for _, value in ipairs { "2025-02-30 00:00:00", "2025-06-01", "" } do
      local code, out, err = helper.run("lua5.4 scripts/proxyapi-fake --ttl 1 --now " .. quote(value))
      assert.same({ 2, "" }, { code, out }, value)
      assert.matches("now must be a real time", err)
    end
  end)
end)
