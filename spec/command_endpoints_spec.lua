-- The proxyapi command's endpoint commands, generated from the endpoint
-- table, run as real processes (lua5.4 and pxlua) against the fake: the
-- table, CSV and JSON outputs, paging, commands shared by endpoints, help
-- at every level, shell completion, and a made-up endpoint that appears
-- in all of them with no other change.
local helper = require "helper"
local cjson = require "cjson"
local endpoints = require "proxyapi.endpoints"

local quote = helper.quote

local CLEAN = "env -u PROXYAPI_APP_KEY -u PROXYAPI_BASE_URL -u PROXYAPI_PROFILE -u LUA_INIT -u LUA_INIT_5_4"
  .. " no_proxy=127.0.0.1 NO_PROXY=127.0.0.1"
local HOSTS = { "lua5.4", helper.PXLUA }

local CONFIG_HOME = os.tmpname()
os.remove(CONFIG_HOME)
assert(os.execute("mkdir -m 700 " .. quote(CONFIG_HOME)))

describe("proxyapi's endpoint commands", function()
  local fake, env

  -- Runs the command; returns code, stdout, stderr.
  local function run(args, o)
    o = o or {}
    return helper.run(CLEAN .. " XDG_CONFIG_HOME=" .. quote(CONFIG_HOME) .. " " .. (o.env or env) .. " "
      .. (o.host or "lua5.4") .. " scripts/proxyapi " .. args .. (o.stdin and "" or " < /dev/null"), o.stdin)
  end

  local function json(args, o)
    local rc, out, err = run(args .. " --json", o)
    assert.equal(0, rc, err)
    assert.not_matches(fake.app_key, out .. err, 1, true)
    return cjson.decode(out), err
  end

  lazy_setup(function()
    fake = helper.start_fake()
    env = "PROXYAPI_APP_KEY=" .. fake.app_key .. " PROXYAPI_BASE_URL=" .. fake.base_url
  end)

  lazy_teardown(function()
    fake:stop()
    os.execute("rm -rf " .. quote(CONFIG_HOME))
  end)

  before_each(function()
    fake:reset()
  end)

  for _, host in ipairs(HOSTS) do
    it("lists accounts with masked passwords, as a table, CSV and JSON (" .. host .. ")", function()
      local accounts = fake:accounts()
      local rc, out, err = run("accounts list", { host = host })
      assert.equal(0, rc, err)
      local lines = helper.lines(out)
      assert.matches("^username%s+id%s+remark%s+password", lines[1])
      assert.matches("^%-+  %-+", lines[2])
      for name, a in pairs(accounts) do
        assert.matches("\n" .. name .. " ", out, 1, true)
        assert.not_matches(a.password, out, 1, true)
      end
      assert.matches("%*%*%*", out)
      local n = 0
      for _ in pairs(accounts) do n = n + 1 end
      assert.equal(n + 2, #lines)

      local doc = json("accounts list", { host = host })
      assert.equal("accounts list", doc.command)
      assert.equal(false, doc.dry_run)
      assert.equal(n, #doc.rows)
      for _, row in ipairs(doc.rows) do
        assert.equal("***", row.password)
        assert.equal(accounts[row.username].usage_flow, row.usage_flow)
      end

      doc = json("accounts list --show-passwords", { host = host })
      for _, row in ipairs(doc.rows) do
        assert.equal(accounts[row.username].password, row.password)
      end

      rc, out = run("accounts list --csv", { host = host })
      assert.equal(0, rc)
      lines = helper.lines(out)
      assert.equal("username,id,remark,password,created_at,limit_flow,product_type,status,usage_flow", lines[1])
      assert.equal(n + 1, #lines)
      local first = doc.rows[1]
      local function int(x) return tostring(math.tointeger(x) or x) end
      assert.equal(table.concat({ first.username, int(first.id), first.remark, "***", first.created_at,
                                  int(first.limit_flow), int(first.product_type), int(first.status),
                                  int(first.usage_flow) }, ","), lines[2])
    end)
  end

  it("selects accounts with --match and --from", function()
    local all, expected = {}, {}
    for name in pairs(fake:accounts()) do
      all[#all + 1] = name
      if name:find("^s") then expected[#expected + 1] = name end
    end
    table.sort(all)
    table.sort(expected)
    assert.is_true(#expected > 0 and #expected < #all)
    local doc = json("accounts list --match 's*'")
    local names = {}
    for _, row in ipairs(doc.rows) do names[#names + 1] = row.username end
    table.sort(names)
    assert.same(expected, names)
    doc = json("accounts list --from -", { stdin = all[2] .. "\n# a comment\n\n" .. all[1] .. "\nnobody\n" })
    names = {}
    for _, row in ipairs(doc.rows) do names[#names + 1] = row.username end
    table.sort(names)
    assert.same({ all[1], all[2] }, names)
  end)

  it("walks every page of products unless one page is asked for", function()
    local first = fake:get("/openapi/user-product/list", { page = 1, size = 2 }).data
    local doc = json("products")
    assert.equal(first.total_count, #doc.rows)
    doc = json("products --page 2 --size 2")
    assert.equal(2, #doc.rows)
    assert.equal(2, doc.page)
    assert.equal(first.total_count, doc.total_count)
    local log = fake:log()
    assert.equal("2", log[#log].params.page)
    local rc, _, err = run("products --page 0")
    assert.equal(2, rc)
    assert.matches("--page: page: must be at least 1", err, 1, true)
    assert.equal(#log, #fake:log(), "nothing sent for a bad argument")
  end)

  it("picks the endpoint of states and cities by their arguments", function()
    local doc = json("states")
    assert.is_table(doc.rows[1].items)
    assert.equal("/openapi/ip/dynamic-states", fake:log()[1].path)
    local rc, out = run("states US")
    assert.equal(0, rc)
    assert.matches("^CA\n", out)
    assert.equal("US", fake:log()[2].params.country_code)
    rc, out = run("states US CA")
    assert.equal(0, rc)
    local rc2, out2 = run("cities US CA")
    assert.equal(0, rc2)
    assert.equal(out, out2)
    assert.equal("/openapi/ip/dynamic-citys/search", fake:log()[4].path)
    assert.equal("CA", fake:log()[4].params.state)
    assert.matches("Los Angeles\n", out, 1, true)
    rc = run("cities US")
    assert.equal(2, rc)
  end)

  it("lists static IPs with filters", function()
    local doc = json("static-ips --status 1 --size 5")
    assert.is_table(doc.rows)
    assert.equal("1", fake:log()[1].params.status)
    assert.equal("/ip/get-static-ip", fake:log()[1].path)
  end)

  for _, host in ipairs(HOSTS) do
    it("extracts IPs as host:port, URLs with an account's password, or not at all in a dry run (" .. host .. ")",
      function()
        local name, seo = next(fake:accounts())
        local rc, out, err = run("ips extract --num 3 --cc US", { host = host })
        assert.equal(0, rc, err)
        local lines = helper.lines(out)
        assert.equal(3, #lines)
        for _, line in ipairs(lines) do assert.matches("^[%d.]+:%d+$", line) end
        rc, out = run("ips extract --num 2 --as url --account " .. name, { host = host })
        assert.equal(0, rc)
        for _, line in ipairs(helper.lines(out)) do
          assert.matches("^http://" .. name .. ":" .. seo.password .. "@[%d.]+:%d+$", line)
        end
        rc, out = run("ips extract --num 2 --as hostport-user-pass --account " .. name, { host = host })
        assert.equal(0, rc)
        assert.matches("^[%d.]+:%d+:" .. name .. ":" .. seo.password .. "\n", out)
        rc, _, err = run("ips extract --num 2 --as url", { host = host })
        assert.equal(2, rc)
        assert.matches("--account", err, 1, true)
        fake:clear_log()
        local doc = json("--dry-run ips extract --num 2", { host = host })
        assert.equal(true, doc.dry_run)
        assert.same({}, doc.rows)
        assert.equal(0, #fake:log(), "a dry run hands out nothing")
      end)
  end

  it("has --help at every level, from the endpoint table's docs", function()
    local rc, out = run("--help")
    assert.equal(0, rc)
    for _, word in ipairs { "accounts", "usage", "products", "static-ips", "cities", "states", "ips",
                            "check-proxies", "journal", "profiles", "completion" } do
      assert.matches("\n   " .. word .. " ", out, 1, true)
    end
    rc, out = run("accounts --help")
    assert.equal(0, rc)
    assert.matches("passwd", out, 1, true)
    rc, out = run("accounts delete --help")
    assert.equal(0, rc)
    assert.matches("--yes", out, 1, true)
    assert.matches("Irreversible", out, 1, true)
    assert.matches("--max-changes", out, 1, true)
    rc, out = run("accounts limit --help")
    assert.equal(0, rc)
    assert.matches("--gb GB", out, 1, true)
    assert.matches(endpoints.change_limit.args[2].doc, out, 1, true)
    rc, out = run("ips extract --help")
    assert.equal(0, rc)
    assert.matches(endpoints.extract_ips.args[4].doc, out, 1, true)
    assert.matches("hostport-user-pass", out, 1, true)
  end)

  it("reports a bad flag and an unknown command with exit status 2", function()
    local rc, _, err = run("accounts list --nope")
    assert.equal(2, rc)
    assert.matches("unknown option '--nope'", err, 1, true)
    rc = run("frobnicate")
    assert.equal(2, rc)
    rc = run("")
    assert.equal(2, rc)
    local out
    rc, out = run("--version")
    assert.equal(0, rc)
    assert.equal("proxyapi " .. require("proxyapi").VERSION .. "\n", out)
  end)

  it("gives a bash completion that loads and completes commands", function()
    local script = "source <(lua5.4 scripts/proxyapi completion bash); complete -p proxyapi; "
      .. "COMP_WORDS=(proxyapi acc); COMP_CWORD=1; _proxyapi; echo \"${COMPREPLY[*]}\"; "
      .. "COMP_WORDS=(proxyapi accounts ''); COMP_CWORD=2; _proxyapi; echo \"${COMPREPLY[*]}\"; "
      .. "COMP_WORDS=(proxyapi accounts delete --m); COMP_CWORD=3; _proxyapi; echo \"${COMPREPLY[*]}\""
    local rc, out, err = helper.run("bash -c " .. quote(script))
    assert.equal(0, rc, err)
    local lines = helper.lines(out)
    assert.matches("^complete .*%-F _proxyapi.* proxyapi$", lines[1])
    assert.equal("accounts", lines[2])
    assert.equal("add delete disable enable limit list passwd remark", lines[3])
    assert.equal("--match --max-changes", lines[4])
    for _, shell in ipairs { "zsh", "fish" } do
      local code, text = run("completion " .. shell)
      assert.equal(0, code)
      assert.matches("accounts", text, 1, true)
    end
  end)

  describe("with a made-up endpoint", function()
    local prelude

    lazy_setup(function()
      -- entries added to the table before anything loads it
      prelude = helper.tempfile([[
package.path = "./lua/?.lua;./lua/?/init.lua;" .. package.path
local real = require "proxyapi.endpoints"
local table_ = {}
for name, ep in pairs(real) do table_[name] = ep end
table_.peek_accounts = {
  method = "GET", path = "/openapi/whitelist-account/list", effect = "read", retry = "read", result = "list",
  args = { { pos = 1, field = "product_type", wire = "product_type", rule = "product_type",
             doc = "peek at the accounts of this made-up product type" } },
  summary = "Peeks at the accounts (made up).", returns = "array of accounts", usage = "api:peek_accounts()",
}
table_.unblock_accounts = {
  method = "POST", path = "/openapi/whitelist-account/enable", effect = "change", retry = "read", result = "ok",
  batch = "accounts",
  args = { { pos = 1, wire = "accounts", rule = "names", required = true, doc = "the names to unblock" } },
  summary = "Unblocks accounts (made up).", returns = "true", usage = "api:unblock_accounts('a')",
}
package.loaded["proxyapi.endpoints"] = table_
]])
    end)

    lazy_teardown(function()
      os.remove(prelude)
    end)

    local function made_up(args, host, o)
      o = o or {}
      o.host = (host or "lua5.4") .. " -e " .. quote("dofile '" .. prelude .. "'")
      return run(args, o)
    end

    for _, host in ipairs(HOSTS) do
      it("finds it in --help, in the completion, and runs it against the fake (" .. host .. ")", function()
        local rc, out = made_up("--help", host)
        assert.equal(0, rc)
        assert.matches("peek%-accounts%s+Peeks at the accounts %(made up%)%.", out)
        assert.matches("unblock%-accounts%s+Unblocks accounts %(made up%)%.", out)
        rc, out = made_up("peek-accounts --help", host)
        assert.equal(0, rc)
        assert.matches("%-%-product%-type TYPE%s+peek at the accounts of this made%-up product type", out)
        rc, out = made_up("unblock-accounts --help", host)
        assert.equal(0, rc)
        assert.matches("--match GLOB", out, 1, true)
        assert.matches("--max-changes N", out, 1, true)
        assert.matches("Changes the fleet", out, 1, true)
        rc, out = made_up("completion bash", host)
        assert.equal(0, rc)
        assert.matches("peek-accounts", out, 1, true)
        assert.matches("unblock-accounts", out, 1, true)

        rc, out = made_up("peek-accounts --product-type 9 --json", host)
        assert.equal(0, rc)
        local doc = cjson.decode(out)
        assert.equal("peek-accounts", doc.command)
        assert.is_true(#doc.rows > 0)
        assert.equal("9", fake:log()[1].params.product_type)
        local disabled
        for name, a in pairs(fake:accounts()) do
          disabled = disabled or (a.status == 0 and name or nil)
        end
        assert.is_string(disabled, "the seeded data has a disabled account")
        rc, out = made_up("unblock-accounts --match '" .. disabled .. "' --json", host)
        assert.equal(0, rc, out)
        doc = cjson.decode(out)
        assert.same({ { username = disabled, outcome = "applied" } }, doc.rows)
        assert.equal(1, fake:accounts()[disabled].status)
        assert.equal("/openapi/whitelist-account/enable", fake:log()[#fake:log()].path)
      end)
    end
  end)

  it("names no method and tests no result kind outside the shell-name table", function()
    local kinds = { '"ok"', '"list"', '"page"', '"ips"', '"data"' }
    local p = assert(io.popen("ls lua/proxyapi/command/*.lua"))
    for file in p:lines() do
      local f = assert(io.open(file))
      local text = f:read("a")
      f:close()
      if not file:find("names%.lua$") then
        -- a method named as a string, or called or indexed by its name
        local function names_method(name)
          return text:find("[\"']" .. name .. "[\"']") or text:find("[:.]" .. name .. "%f[^%w_]")
        end
        for name, ep in pairs(endpoints) do
          assert.falsy(names_method(name), file .. " names " .. name)
          if ep.paged then
            assert.falsy(names_method(ep.paged.iterator), file .. " names " .. ep.paged.iterator)
          end
        end
        assert.falsy(text:find("%.result%s*[=~]="), file .. " tests a result kind")
        for _, kind in ipairs(kinds) do
          assert.falsy(text:find("==%s*" .. kind), file .. " compares with " .. kind)
        end
      end
    end
    p:close()
  end)
end)
