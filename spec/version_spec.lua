-- The version is written once (lua/proxyapi/version.lua); everything that
-- shows it must agree, and the rockspecs must ship every module.
local helper = require "helper"
local proxyapi = require "proxyapi"

local function read(path)
  local f = assert(io.open(path))
  local text = f:read("a")
  f:close()
  return text
end

local function lua_modules()
  local modules = {}
  local pipe = assert(io.popen("cd lua && find proxyapi -name '*.lua' | sort"))
  for path in pipe:lines() do
    local name = path:gsub("%.lua$", ""):gsub("/init$", ""):gsub("/", ".")
    modules[name] = "lua/" .. path
  end
  pipe:close()
  return modules
end

--- Loads a rockspec as LuaRocks does: a Lua file of global assignments.
local function load_rockspec(path)
  local env = {}
  assert(load(read(path), "@" .. path, "t", env))()
  return env
end

describe("the version", function()
  local version = read("lua/proxyapi/version.lua"):match('return "([^"]+)"')

  it("is a semantic version, and proxyapi.VERSION", function()
    assert.matches("^%d+%.%d+%.%d+$", version)
    assert.equal(version, proxyapi.VERSION)
  end)

  it("is what pxlua -v prints", function()
    local code, out = helper.pxlua("-v")
    assert.equal(0, code)
    assert.equal("pxlua " .. version, out:match("^(pxlua %S+)"))
  end)

  it("names a rockspec whose version field agrees, beside the scm one", function()
    local release = load_rockspec("rockspec/proxyapi-" .. version .. "-1.rockspec")
    assert.equal(version .. "-1", release.version)
    assert.equal("scm-1", load_rockspec("rockspec/proxyapi-scm-1.rockspec").version)
  end)

  it("has an entry in CHANGELOG.md", function()
    assert.truthy(read("CHANGELOG.md"):find("\n## " .. version:gsub("%.", "%%.") .. "[ \n]"))
  end)

  it("goes into the man page at build time", function()
    assert.truthy(read("csrc/pxlua.1"):find("@VERSION@", 1, true))
  end)
end)

describe("the rockspecs", function()
  for _, file in ipairs { "proxyapi-" .. proxyapi.VERSION .. "-1.rockspec", "proxyapi-scm-1.rockspec" } do
    it(file .. " ships every Lua module and the C core", function()
      local spec = load_rockspec("rockspec/" .. file)
      local listed = {}
      for name, source in pairs(spec.build.modules) do
        if type(source) == "string" then
          listed[name] = source
        end
      end
      assert.same(lua_modules(), listed)
      local core = spec.build.modules["proxyapi.core"]
      local sources = {}
      for path in read("Makefile"):match("CORE_SRC := ([^\n]+)"):gmatch("%S+") do
        sources[#sources + 1] = path
      end
      assert.same(sources, core.sources)
      assert.same({ "lua >= 5.4", "lua-cjson", "luasocket", "argparse", "luasql-sqlite3" }, spec.dependencies)
      -- the library only: a declared header fails a plain luarocks make on Debian
      assert.is_nil(spec.external_dependencies.CURL.header)
      assert.equal("curl", spec.external_dependencies.CURL.library)
      assert.equal("scripts/proxyapi-fake", spec.build.install.bin["proxyapi-fake"])
    end)
  end
end)
