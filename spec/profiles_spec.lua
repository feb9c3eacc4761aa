-- Profiles: the config file read as data (never run as a program), the
-- layers the key and base URL come from, and two fakes standing in for two
-- brands driven through one config file (proxyapi.new, pxlua --profile and
-- the proxyapi command).
local helper = require "helper"
local cjson = require "cjson"
local profiles = require "proxyapi.profiles"

local quote = helper.quote

local CLEAN = "env -u PROXYAPI_APP_KEY -u PROXYAPI_BASE_URL -u PROXYAPI_PROFILE -u LUA_INIT -u LUA_INIT_5_4"
  .. " no_proxy=127.0.0.1 NO_PROXY=127.0.0.1"

local function tempdir()
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir -m 700 " .. quote(dir)))
  return dir
end

local function write(path, text, mode)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
  if mode then
    assert(os.execute("chmod " .. mode .. " " .. quote(path)))
  end
  return path
end

describe("profiles.load", function()
  local dir
  lazy_setup(function()
    dir = tempdir()
  end)
  lazy_teardown(function()
    os.execute("rm -rf " .. quote(dir))
  end)

  local function load_text(text)
    return profiles.load(write(dir .. "/config.lua", text))
  end

  it("reads the contract's example as data", function()
    local config = assert(load_text [[
default = "acme"
profiles = {
  acme  = { base_url = "https://api.acme-proxy.example", app_key_file = "~/.config/proxyapi/acme.key",
            rules = { { name = "hard-cap", when = "usage_percent >= 100", action = "disable" } } },
  brand2 = { base_url = "https://api.brand2.example", prefix = "/gateway",
             app_key_env = "BRAND2_KEY", timeout = 10 },
}]])
    assert.equal("acme", config.default)
    assert.same({ "acme", "brand2" }, profiles.names(config))
    assert.equal("/gateway", config.profiles.brand2.prefix)
    assert.equal("hard-cap", config.profiles.acme.rules[1].name)
  end)

  it("refuses every function call, so that a huge string is an error and not a hang", function()
    local config, err = load_text('profiles = { a = { base_url = ("x"):rep(1e9) } }')
    assert.is_nil(config)
    assert.matches("config.lua:1: function calls are not allowed", err, 1, true)
    assert.matches(dir, err, 1, true) -- names the file
    config, err = load_text('profiles = {}\nlocal t = setmetatable or 1\nprofiles.x = ("hi"):upper()')
    assert.is_nil(config)
    assert.matches(":3: function calls are not allowed", err, 1, true)
  end)

  it("bounds loops and memory", function()
    local config, err = load_text("while true do end")
    assert.is_nil(config)
    assert.matches("too much work", err, 1, true)
    config, err = load_text('local s = "xxxxxxxx" for _ = 1, 40 do s = s .. s end')
    assert.is_nil(config)
    assert.matches("too much", err, 1, true)
  end)

  it("refuses functions, unknown settings, bad defaults and syntax errors, naming the file", function()
    for text, expected in pairs {
      ["profiles = { a = { on_request = function() end } }"] = "a function is not data",
      ["profile = {}"] = "unknown setting 'profile'",
      ['default = "nope"\nprofiles = {}'] = "default names no profile",
      ["profiles = 'x'"] = "'profiles' must be a table",
      ["profiles = { = }"] = "config.lua:1:",
    } do
      local config, err = load_text(text)
      assert.is_nil(config, text)
      assert.matches(expected, err, 1, true)
      assert.matches(dir .. "/config.lua", err, 1, true)
    end
  end)

  it("says nothing when there is no file", function()
    local config, err = profiles.load(dir .. "/missing.lua")
    assert.is_nil(config)
    assert.is_nil(err)
  end)
end)

describe("profiles with two brands", function()
  local brand1, brand2, dir, config_path, key1_file

  -- Runs Lua code (a file) under lua5.4 from the checkout, with the given
  -- environment; returns code, stdout, stderr.
  local function lua(code, env)
    local file = helper.tempfile("package.path = './lua/?.lua;./lua/?/init.lua;' .. package.path\n"
      .. "package.cpath = './build/?.so;' .. package.cpath\n" .. code)
    local rc, out, err = helper.run(CLEAN .. " XDG_CONFIG_HOME=" .. quote(dir) .. " " .. (env or "")
      .. " lua5.4 " .. quote(file) .. " < /dev/null")
    os.remove(file)
    return rc, out, err
  end

  local function command(args, env, host)
    return helper.run(CLEAN .. " XDG_CONFIG_HOME=" .. quote(dir) .. " " .. (env or "") .. " "
      .. (host or "lua5.4") .. " scripts/proxyapi " .. args .. " < /dev/null")
  end

  lazy_setup(function()
    brand1 = helper.start_fake("--app-key K1brand1")
    brand2 = helper.start_fake("--app-key K2brand2 --seed 11")
    dir = tempdir()
    assert(os.execute("mkdir -m 700 " .. quote(dir .. "/proxyapi")))
    key1_file = write(dir .. "/proxyapi/brand1.key", "K1brand1\n", "600")
    config_path = write(dir .. "/proxyapi/config.lua", string.format([[
default = "brand1"
profiles = {
  brand1 = { base_url = %q, prefix = "/openapi", app_key_file = %q, timeout = 5,
             rules = { { name = "hard-cap", when = "usage_percent >= 100", action = "disable" } } },
  -- the fake serves the /openapi paths only: this brand names them one by one
  brand2 = { base_url = %q, app_key_env = "BRAND2_KEY",
             paths = { list_accounts = "/openapi/whitelist-account/list" } },
  -- a brand nobody answers for (a refused loopback port)
  gateway = { base_url = "http://127.0.0.1:%d", prefix = "/gateway", app_key_env = "BRAND2_KEY" },
}]], brand1.base_url, key1_file, brand2.base_url, helper.refused_port()))
  end)

  lazy_teardown(function()
    brand1:stop()
    brand2:stop()
    os.execute("rm -rf " .. quote(dir))
  end)

  before_each(function()
    brand1:reset()
    brand2:reset()
  end)

  local LIST = [[
local api = require("proxyapi").new(%s)
local list = assert(api:list_accounts())
print(#list, api:settings().base_url)
]]

  it("sends each brand's key to that brand only, whichever layer picks the profile", function()
    -- the default profile, an explicit profile, PROXYAPI_PROFILE
    for _, case in ipairs {
      { opts = "{}", env = "", brand = brand1 },
      { opts = '{ profile = "brand2" }', env = "BRAND2_KEY=K2brand2", brand = brand2 },
      { opts = "{}", env = "PROXYAPI_PROFILE=brand2 BRAND2_KEY=K2brand2", brand = brand2 },
    } do
      brand1:clear_log()
      brand2:clear_log()
      local rc, out, err = lua(LIST:format(case.opts), case.env)
      assert.equal(0, rc, err)
      assert.matches(case.brand.base_url, out, 1, true)
      local other = case.brand == brand1 and brand2 or brand1
      assert.equal(1, #case.brand:log())
      assert.equal(200, case.brand:log()[1].status) -- the key worked (a wrong one answers code 3)
      assert.equal(0, #other:log(), "nothing goes to the other brand")
      assert.not_matches("K1brand1", out .. err, 1, true)
      assert.not_matches("K2brand2", out .. err, 1, true)
    end
  end)

  it("lets the environment win over the default profile, but never half of it", function()
    local _
    local rc, out, err = lua(LIST:format("{}"), "PROXYAPI_APP_KEY=K2brand2 PROXYAPI_BASE_URL=" .. brand2.base_url)
    assert.equal(0, rc, err)
    assert.matches(brand2.base_url, out, 1, true)
    assert.equal(0, #brand1:log())
    -- a key without a base URL is an error naming both
    rc, _, err = lua(LIST:format("{}"), "PROXYAPI_APP_KEY=K2brand2")
    assert.not_equal(0, rc)
    assert.matches("PROXYAPI_APP_KEY", err, 1, true)
    assert.matches("base_url", err, 1, true)
    assert.equal(0, #brand1:log())
    -- so is an option given without the other
    brand2:clear_log()
    rc, _, err = lua(LIST:format(("{ base_url = %q }"):format(brand2.base_url)))
    assert.not_equal(0, rc)
    assert.matches("app_key and base_url must come from the same place", err, 1, true)
    assert.equal(0, #brand1:log() + #brand2:log())
  end)

  it("takes a profile's other options and ignores rules and history", function()
    local rc, out, err = lua([[
local api = require("proxyapi").new { profile = "brand1" }
print(api:settings().timeout, api:settings().paths.list_accounts)
local gw = require("proxyapi").new { profile = "gateway" }
print(gw:settings().paths.list_accounts, gw:settings().paths.list_static_ips)
local b2 = require("proxyapi").new { profile = "brand2" }
print(b2:settings().paths.list_accounts)
]], "BRAND2_KEY=K2brand2")
    assert.equal(0, rc, err)
    assert.same({ "5\t/openapi/whitelist-account/list",
                  "/gateway/whitelist-account/list\t/ip/get-static-ip",
                  "/openapi/whitelist-account/list" }, helper.lines(out))
  end)

  it("refuses a key file that others can read, an app_key in the file, and unknown profiles", function()
    assert(os.execute("chmod 644 " .. quote(key1_file)))
    local rc, _, err = command("accounts list")
    assert(os.execute("chmod 600 " .. quote(key1_file)))
    assert.equal(2, rc)
    assert.matches("can be read by group or others", err, 1, true)
    assert.equal(0, #brand1:log())
    rc, _, err = command("--profile nope accounts list")
    assert.equal(2, rc)
    assert.matches("no profile named 'nope' (known: brand1, brand2, gateway)", err, 1, true)
    local bad = write(dir .. "/bad.lua", 'profiles = { x = { base_url = "https://x.example", app_key = "k" } }')
    rc, _, err = command("--config " .. quote(bad) .. " --profile x accounts list")
    assert.equal(2, rc)
    assert.matches("app_key does not belong in the config file", err, 1, true)
    write(bad, 'profiles = { x = { base_url = ("x"):rep(1e9) } }')
    rc, _, err = command("--config " .. quote(bad) .. " profiles")
    assert.equal(2, rc)
    assert.matches(bad .. ":1: function calls are not allowed", err, 1, true)
  end)

  it("records the profile and the brand's host of each change in the journal", function()
    local state = helper.tempfile("")
    os.remove(state)
    assert(os.execute("mkdir -m 700 " .. quote(state)))
    local name = brand2:control("GET", "/_fake/state").accounts[1].username
    local rc, _, err = command("--profile brand2 accounts disable " .. name, "BRAND2_KEY=K2brand2 XDG_STATE_HOME="
      .. quote(state))
    assert.equal(0, rc, err)
    local out
    rc, out = command("journal --last --json", "XDG_STATE_HOME=" .. quote(state))
    os.execute("rm -rf " .. quote(state))
    assert.equal(0, rc)
    local entry = cjson.decode(out).rows[1]
    assert.equal("brand2", entry.profile)
    assert.equal("127.0.0.1", entry.base_host)
    assert.same({ name }, entry.accounts)
    assert.equal(0, #brand1:log())
  end)

  it("lists the profiles without keys, and --check says which keys work", function()
    local rc, out, err = command("profiles --check --json", "BRAND2_KEY=wrongkey")
    assert.equal(3, rc, err)
    local doc = cjson.decode(out)
    local by = {}
    for _, row in ipairs(doc.rows) do
      by[row.profile] = row
    end
    assert.equal("ok", by.brand1.check)
    assert.matches("api code 3", by.brand2.check, 1, true)
    assert.equal(true, by.brand1.default)
    assert.equal("file " .. key1_file, by.brand1.key)
    assert.equal("env BRAND2_KEY", by.brand2.key)
    assert.equal("/gateway", by.gateway.prefix)
    assert.not_matches("K1brand1", out .. err, 1, true)
    assert.not_matches("wrongkey", out .. err, 1, true)
    rc, out = command("profiles --check", "BRAND2_KEY=K2brand2")
    assert.not_equal(2, rc)
    assert.matches("brand1%s+%*%s+127%.0%.0%.1:%d+%s+/openapi%s+file .-ok\n", out)
    assert.matches("brand2%s+127%.0%.0%.1:%d+%s+%(paths%)%s+env BRAND2_KEY%s+ok\n", out)
  end)

  it("runs usage over every profile, each row with its profile", function()
    -- the gateway brand is not reachable: its profile fails, the others count
    local rc, out, err = command("--all-profiles usage --per-account --json", "BRAND2_KEY=K2brand2")
    assert.equal(3, rc, err)
    local doc = cjson.decode(out)
    local seen = {}
    for _, row in ipairs(doc.rows) do
      seen[row.profile] = (seen[row.profile] or 0) + 1
    end
    assert.equal(#brand1:control("GET", "/_fake/state").accounts, seen.brand1)
    assert.equal(#brand2:control("GET", "/_fake/state").accounts, seen.brand2)
    assert.is_nil(seen.gateway)
    assert.equal(3, #doc.profiles)
    assert.matches("profile gateway", err, 1, true)
    -- changes go to one profile at a time
    local _
    rc, _, err = command("--all-profiles accounts disable x", "BRAND2_KEY=K2brand2")
    assert.equal(2, rc)
    assert.matches("one profile at a time", err, 1, true)
    -- and so do the jobs that change or hand out something
    for _, job in ipairs { "rotate", "cap --threshold 1", "provision /dev/null", "pull-ips" } do
      rc, _, err = command("--all-profiles " .. job, "BRAND2_KEY=K2brand2")
      assert.equal(2, rc, job)
      assert.matches("'" .. job:match("^%S+") .. "' works on one profile at a time", err, 1, true)
    end
  end)

  it("serves every profile from one metrics file, and one watch loop takes them all in every round", function()
    local state = tempdir()
    local file = state .. "/proxyapi.prom"
    local env = "BRAND2_KEY=K2brand2 XDG_STATE_HOME=" .. quote(state)
    local rc, out, err, _
    rc, _, err = command("--all-profiles metrics --textfile " .. quote(file), env)
    local f = assert(io.open(file))
    local text = f:read("a")
    f:close()
    assert.equal(3, rc, err) -- the gateway brand is not reachable
    assert.matches('proxyapi_up{profile="brand1"} 1\n', text, 1, true)
    assert.matches('proxyapi_up{profile="brand2"} 1\n', text, 1, true)
    assert.matches('proxyapi_up{profile="gateway"} 0\n', text, 1, true)
    for _, brand in ipairs { { "brand1", brand1 }, { "brand2", brand2 } } do
      local name = brand[2]:control("GET", "/_fake/state").accounts[1].username
      assert.matches('proxyapi_account_usage_bytes{profile="' .. brand[1] .. '",account="' .. name .. '"}', text, 1,
        true)
    end
    assert.matches("profile gateway", err, 1, true)
    -- watch --every: a round of every profile each second, as JSON lines, until SIGTERM (a profile
    -- without rules has nothing to read)
    rc, out, err = command("--all-profiles --dry-run --json watch --every 1s", env,
      "timeout --preserve-status -s TERM 3.5 " .. helper.PXLUA) -- 1 s of margin for slow builds
    os.execute("rm -rf " .. quote(state))
    assert.equal(143, rc, err)
    local rounds, statuses = {}, {}
    for line in out:gmatch("[^\n]+") do
      local doc = cjson.decode(line)
      rounds[doc.profile] = (rounds[doc.profile] or 0) + 1
      statuses[doc.profile] = doc.status
    end
    for _, name in ipairs { "brand1", "brand2", "gateway" } do
      assert.is_true((rounds[name] or 0) >= 2, name .. ":\n" .. out)
    end
    assert.equal(0, statuses.brand1) -- its rule read the accounts (brand2 and gateway have none)
    assert.equal(0, statuses.brand2)
  end)

  it("runs a job over every profile into one JSON document, and as a table", function()
    local prelude = helper.tempfile([[
package.preload["proxyapi.jobs"] = function()
  local job = { name = "report", summary = "A made-up report.", define = function(cmd) end }
  function job.run(ctx)
    local n = #assert(ctx.api:list_accounts())
    if ctx.format == "json" then
      ctx.out:write(string.format('{"accounts":%d,"profile":"%s"}\n', n, ctx.profile))
    else
      ctx.out:write("accounts: ", n, " rules: ", #(ctx.settings.rules or {}), "\n")
    end
    return 0
  end
  return { list = { "report" }, load = function() return job end }
end
]])
    local env = "BRAND2_KEY=K2brand2"
    local rc, out, err = command("--config " .. quote(config_path) .. " --all-profiles report --json",
      env, "lua5.4 -e " .. quote("dofile '" .. prelude .. "'"))
    assert.equal(3, rc, err) -- the gateway profile cannot be reached
    local doc = cjson.decode(out)
    assert.equal("report", doc.command)
    assert.equal(3, #doc.profiles)
    assert.equal("brand1", doc.profiles[1].profile)
    assert.equal(0, doc.profiles[1].status)
    assert.equal(#brand1:control("GET", "/_fake/state").accounts, doc.profiles[1].result.accounts)
    assert.equal("brand2", doc.profiles[2].result.profile)
    rc, out = command("--all-profiles report", env, helper.PXLUA .. " -e " .. quote("dofile '" .. prelude .. "'"))
    os.remove(prelude)
    assert.equal(3, rc)
    assert.matches("== profile brand1 ==\naccounts: %d+ rules: 1\n", out)
    assert.matches("== profile brand2 ==\naccounts: %d+ rules: 0\n", out)
  end)

  it("gives pxlua's global api a profile with --profile and --config", function()
    local rc, out, err = helper.run(CLEAN .. " BRAND2_KEY=K2brand2 XDG_CONFIG_HOME=/nonexistent " .. helper.PXLUA
      .. " --config " .. quote(config_path) .. " --profile brand2 -e "
      .. quote("print(#assert(api:list_accounts()), api:settings().base_url)") .. " < /dev/null")
    assert.equal(0, rc, err)
    assert.matches(brand2.base_url, out, 1, true)
    assert.equal(0, #brand1:log())
    local _
    rc, _, err = helper.run(CLEAN .. " " .. helper.PXLUA .. " --fake --profile brand2 -e 'print(1)' < /dev/null")
    assert.equal(2, rc)
    assert.matches("--fake cannot be combined", err, 1, true)
  end)

  it("keeps new's behaviour when there is no config file", function()
    local rc, out, err = helper.run(CLEAN .. " XDG_CONFIG_HOME=/nonexistent PROXYAPI_APP_KEY=K1brand1 lua5.4 -e "
      .. quote("package.path = './lua/?.lua;./lua/?/init.lua;' .. package.path; package.cpath = './build/?.so;' "
        .. ".. package.cpath; local api = require('proxyapi').new { base_url = '" .. brand1.base_url
        .. "' }; print(#assert(api:list_accounts()))") .. " < /dev/null")
    assert.equal(0, rc, err)
    assert.matches("^%d+\n$", out)
  end)
end)
