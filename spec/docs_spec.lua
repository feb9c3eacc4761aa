-- Every public function has its reference: arguments, returns, errors
-- and an example (LDoc, `make docs`). The client's methods are made from
-- the endpoint table, so their docs are checked against it.
local endpoints = require "proxyapi.endpoints"
local proxyapi = require "proxyapi"

--- The doc blocks of a file (a "---" line and the "--" lines after it):
-- name -> text, named by @function or by the definition that follows.
local function doc_blocks(path)
  local blocks, block = {}, nil
  local function close(after)
    local name = block:match("@function ([%w_.:]+)") or after:match("^function ([%w_.:]+)")
      or after:match("^([%w_.]+) = ")
    if name then
      blocks[name] = block
    end
    block = nil
  end
  for line in io.lines(path) do
    if line:find("^%-%-%-") and not line:find("^%-%-%-%-") then
      if block then close("") end
      block = line
    elseif block and line:find("^%-%-") then
      block = block .. "\n" .. line
    elseif block then
      close(line)
    end
  end
  return blocks
end

--- The blocks scripts/gen-doc writes from the endpoint table.
local function generated_blocks()
  local out = os.tmpname()
  assert(os.execute("lua5.4 scripts/gen-doc " .. out))
  local blocks = doc_blocks(out)
  os.remove(out)
  return blocks
end

describe("the reference", function()
  local blocks = doc_blocks("lua/proxyapi/init.lua")
  for name, block in pairs(generated_blocks()) do
    assert(blocks[name] == nil, name .. " is documented twice")
    blocks[name] = block
  end

  local methods = { "each_product", "each_static_ip", "call", "map", "check_proxies", "settings", "close" }
  for name in pairs(endpoints) do
    methods[#methods + 1] = name
  end
  table.sort(methods)

  for _, name in ipairs(methods) do
    it("documents Client:" .. name .. " with an example", function()
      local block = blocks["Client:" .. name]
      assert.is_string(block, "no @function Client:" .. name .. " in init.lua or the generated reference")
      assert.truthy(block:find("@usage", 1, true), name .. ": no @usage")
      local ep = endpoints[name]
      if ep then
        -- each argument of the endpoint table has a @tparam
        local positions = {}
        for _, a in ipairs(ep.args or {}) do positions[a.pos] = true end
        local params = select(2, block:gsub("@tparam", ""))
        assert.equal(#positions, params, name .. ": @tparam per argument")
        assert.truthy(block:find("@return", 1, true), name .. ": no @return")
      end
    end)
  end

  it("documents every function of the module", function()
    for name, value in pairs(proxyapi) do
      if type(value) == "function" then
        assert.is_string(blocks["proxyapi." .. name] or blocks[name], "proxyapi." .. name)
      end
    end
  end)

  for _, module in ipairs { "cli", "output", "check" } do
    it("documents every function of proxyapi." .. module .. " with an example", function()
      local mod = require("proxyapi." .. module)
      local module_blocks = doc_blocks("lua/proxyapi/" .. module .. ".lua")
      if module == "check" then -- the account rules live in check/accounts.lua
        for name, block in pairs(doc_blocks("lua/proxyapi/check/accounts.lua")) do
          module_blocks[name] = block
        end
      end
      for name, value in pairs(mod) do
        -- (cli re-exports output's functions: they are documented there)
        if type(value) == "function" and name ~= "tointeger"
          and not (module == "cli" and require("proxyapi.output")[name] == value) then
          local block = module_blocks[module .. "." .. name] or module_blocks[name]
          assert.is_string(block, module .. "." .. name)
          assert.truthy(block:find("@usage", 1, true), module .. "." .. name .. ": no @usage")
        end
      end
    end)
  end
end)

describe("make docs", function()
  it("writes the reference with options and quotes as typed (no smart dashes or quotes)", function()
    local build = "build/docs-spec"
    local ok = os.execute("make -s docs BUILD=" .. build .. " > /dev/null 2>&1")
    assert.is_true(ok)
    local f = assert(io.open(build .. "/doc/modules/proxyapi.html"))
    local html = f:read("a")
    f:close()
    os.execute("rm -rf '" .. build .. "'")
    assert.truthy(html:find("list_accounts", 1, true))
    assert.is_nil(html:find("&ldquo;", 1, true))
    assert.is_nil(html:find("&ndash;", 1, true))
    assert.truthy(html:find('"host:port"', 1, true))
  end)
end)
