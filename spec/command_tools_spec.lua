-- The proxyapi command's other parts, as real processes: the journal
-- (and scripts/journal.lua under pxlua), --fake with its own journal,
-- check-proxies through a real SOCKS5 proxy, jobs mounted from
-- proxyapi.jobs, and Ctrl-C under pxlua.
local helper = require "helper"
local cjson = require "cjson"

local quote = helper.quote

local CLEAN = "env -u PROXYAPI_APP_KEY -u PROXYAPI_BASE_URL -u PROXYAPI_PROFILE -u LUA_INIT -u LUA_INIT_5_4"
  .. " no_proxy=127.0.0.1 NO_PROXY=127.0.0.1"

-- (no_proxy names the loopback target: the proxy asked for is used all the same)
local PROXIED = "env -u PROXYAPI_APP_KEY -u PROXYAPI_BASE_URL -u PROXYAPI_PROFILE"
  .. " -u http_proxy -u https_proxy -u HTTP_PROXY -u HTTPS_PROXY -u ALL_PROXY -u all_proxy"
  .. " no_proxy=127.0.0.1 NO_PROXY=127.0.0.1"

local function tempdir()
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir -m 700 " .. quote(dir)))
  return dir
end

local function listing(dir)
  local p = assert(io.popen("ls -A " .. quote(dir) .. " 2>/dev/null"))
  local text = p:read("a")
  p:close()
  return text
end

describe("proxyapi tools", function()
  local fake, env, config_home, state_home

  local function run(args, o)
    o = o or {}
    return helper.run((o.proxied and PROXIED or CLEAN) .. " XDG_CONFIG_HOME=" .. quote(config_home)
      .. " XDG_STATE_HOME=" .. quote(o.state or state_home) .. " " .. (o.env or env) .. " "
      .. (o.host or "lua5.4") .. " " .. (o.script or "scripts/proxyapi") .. " " .. args
      .. (o.stdin and "" or " < /dev/null"), o.stdin)
  end

  lazy_setup(function()
    fake = helper.start_fake()
    env = "PROXYAPI_APP_KEY=" .. fake.app_key .. " PROXYAPI_BASE_URL=" .. fake.base_url
    config_home = tempdir()
  end)

  lazy_teardown(function()
    fake:stop()
    os.execute("rm -rf " .. quote(config_home))
  end)

  before_each(function()
    fake:reset()
    state_home = tempdir()
  end)

  after_each(function()
    os.execute("rm -rf " .. quote(state_home))
  end)

  it("shows the journal's runs and entries, masked, and prunes them; scripts/journal.lua agrees", function()
    local rc, out, err = run("journal --json")
    assert.equal(0, rc, err)
    assert.same({}, cjson.decode(out).rows)
    assert.matches("no journal", err, 1, true)
    local name = next(fake:accounts())
    rc, out = run("accounts passwd " .. name .. " --json")
    assert.equal(0, rc)
    local password = cjson.decode(out).rows[1].password
    rc = run("accounts list") -- reads are not journalled
    assert.equal(0, rc)
    local runs = cjson.decode((select(2, run("journal --json")))).rows
    assert.equal(1, #runs)
    assert.equal("ok", runs[1].status)
    assert.equal(1, runs[1].applied)
    assert.matches("accounts passwd " .. name, runs[1].command, 1, true)
    local entries = cjson.decode((select(2, run("journal --run " .. math.tointeger(runs[1].id) .. " --json")))).rows
    assert.equal("***", entries[1].params.password)
    assert.equal("applied", entries[1].outcome)
    rc, out = run("journal --last --show-secrets")
    assert.equal(0, rc)
    assert.matches("password=" .. password, out, 1, true)
    local table_out = select(2, run("journal --last"))
    assert.not_matches(password, table_out, 1, true)
    for _, host in ipairs { "lua5.4", helper.PXLUA } do
      local code, text = run("--last", { host = host, script = "scripts/journal.lua" })
      assert.equal(0, code)
      assert.equal(table_out, text)
    end
    assert.not_matches(fake.app_key, table_out .. out, 1, true)
    rc, out = run("journal prune --before 2999-01-01 --json")
    assert.equal(0, rc)
    assert.equal(1, cjson.decode(out).deleted)
    assert.same({}, cjson.decode((select(2, run("journal --json")))).rows)
  end)

  for _, host in ipairs { "lua5.4", helper.PXLUA } do
    it("runs --fake without a key, with a journal that never touches the operator's (" .. host .. ")", function()
      local rc, out, err = run("--fake accounts disable --match '*' --json", { env = "", host = host })
      assert.equal(0, rc, err)
      local doc = cjson.decode(out)
      assert.is_true(#doc.rows > 0)
      assert.equal("applied", doc.rows[1].outcome)
      assert.equal("", listing(state_home), "nothing in the operator's state folder")
      assert.equal(0, #fake:log(), "the real API saw nothing")
      rc, _, err = run("--fake --profile x accounts list", { env = "", host = host })
      assert.equal(2, rc)
      assert.matches("--fake", err, 1, true)
    end)
  end

  describe("check-proxies", function()
    local port, pid

    lazy_setup(function()
      port = helper.refused_port()
      local pid_file = os.tmpname()
      assert(os.execute("microsocks -i 127.0.0.1 -p " .. port .. " -u suser -P spass >/dev/null 2>&1 & echo $! > "
        .. pid_file))
      local f = assert(io.open(pid_file))
      pid = f:read("n")
      f:close()
      os.remove(pid_file)
      local socket = require "socket"
      for _ = 1, 100 do
        local c = socket.tcp()
        c:settimeout(0.1)
        local up = c:connect("127.0.0.1", port)
        c:close()
        if up then break end
        socket.sleep(0.05)
      end
    end)

    lazy_teardown(function()
      if pid then os.execute("kill " .. pid .. " 2>/dev/null") end
    end)

    it("checks each proxy of a list, as JSON lines, with passwords hidden", function()
      local dead = helper.refused_port()
      local list = table.concat({
        "socks5://suser:spass@127.0.0.1:" .. port,
        "127.0.0.1:" .. dead .. ":u:secretpw",
        "u:secretpw@127.0.0.1:" .. dead,
        "127.0.0.1:" .. dead,
      }, "\n") .. "\n"
      -- no key configured: proxy checks need none
      local rc, out, err = run("check-proxies - --json --timeout 3 --url " .. fake.base_url .. "/_fake/state",
        { env = "", stdin = list, proxied = true })
      assert.equal(3, rc, err .. out)
      local lines = helper.lines(out)
      assert.equal(4, #lines)
      local first = cjson.decode(lines[1])
      assert.equal(true, first.ok)
      assert.equal(200, first.status)
      assert.equal("socks5://suser:***@127.0.0.1:" .. port, first.addr)
      for i = 2, 4 do
        assert.equal(false, cjson.decode(lines[i]).ok)
      end
      assert.not_matches("secretpw", out .. err, 1, true)
      assert.not_matches("spass", out .. err, 1, true)
      rc, out = run("check-proxies - --timeout 3 --url " .. fake.base_url .. "/_fake/state",
        { env = "", stdin = "127.0.0.1:" .. dead .. "\n", proxied = true })
      assert.equal(5, rc)
      assert.matches("^addr%s+ok%s+status", out)
      rc = run("check-proxies -", { env = "", stdin = "not a proxy\n" })
      assert.equal(2, rc)
    end)
  end)

  describe("with jobs", function()
    local prelude

    lazy_setup(function()
      prelude = helper.tempfile([[
package.preload["proxyapi.jobs"] = function()
  local cli = require "proxyapi.cli"
  local job = { name = "hello", script = "hello", summary = "Says hello (a made-up job)." }
  function job.define(cmd)
    cmd:option("--times", "how many times"):argname("N")
    local sub = cli.command(cmd, "loud", "Louder.")
    sub:flag("--very")
    cmd:require_command(false)
  end
  function job.run(ctx, args)
    local n = #assert(ctx.api:list_accounts())
    local fields = { format = ctx.format, dry_run = ctx.dry_run, tty = ctx.tty, profile = ctx.profile or "-",
                     journal = ctx.journal and "open" or "none", times = args.times or "1", accounts = n,
                     confirm = ctx.confirm("sure?") }
    ctx.out:write(require("proxyapi.output").json(fields), "\n")
    return tonumber(args.times) == 3 and 3 or 0
  end
  return { list = { "hello" }, load = function(name) assert(name == "hello"); return job end }
end
]])
    end)

    lazy_teardown(function()
      os.remove(prelude)
    end)

    for _, host in ipairs { "lua5.4", helper.PXLUA } do
      it("mounts every job of proxyapi.jobs with its own options, help and completion (" .. host .. ")",
        function()
          local o = { host = host .. " -e " .. quote("dofile '" .. prelude .. "'") }
          local rc, out = run("--help", o)
          assert.equal(0, rc)
          assert.matches("hello%s+Says hello %(a made%-up job%)%.", out)
          rc, out = run("hello --help", o)
          assert.equal(0, rc)
          assert.matches("--times N", out, 1, true)
          rc, out = run("completion bash", o)
          assert.equal(0, rc)
          assert.matches("hello", out, 1, true)
          local err
          rc, out, err = run("hello --times 2 --dry-run --json", o)
          assert.equal(0, rc)
          assert.not_matches("sure?", err, 1, true) -- off a terminal, confirm says no without asking
          local ctx = cjson.decode(out)
          assert.same({ format = "json", dry_run = true, tty = false, profile = "-", journal = "open",
                        times = "2", accounts = ctx.accounts, confirm = false }, ctx)
          assert.is_true(ctx.accounts > 0)
          rc = run("hello --times 3 --no-journal", o)
          assert.equal(3, rc)
          rc = run("hello --bogus", o)
          assert.equal(2, rc)
        end)
    end
  end)

  it("runs with the module installed, away from the checkout", function()
    local bin = tempdir()
    assert(os.execute("cp scripts/proxyapi " .. quote(bin .. "/proxyapi")))
    local pwd = assert(io.popen("pwd"))
    local here = pwd:read("l")
    pwd:close()
    local path = here .. "/lua/?.lua;" .. here .. "/lua/?/init.lua;;"
    local rc, out, err = helper.run("cd " .. quote(bin) .. " && " .. CLEAN .. " XDG_CONFIG_HOME=" .. quote(config_home)
      .. " XDG_STATE_HOME=" .. quote(state_home) .. " LUA_PATH=" .. quote(path) .. " LUA_CPATH="
      .. quote(here .. "/build/?.so;;") .. " lua5.4 ./proxyapi --fake usage --days 2 --json < /dev/null")
    os.execute("rm -rf " .. quote(bin))
    assert.equal(0, rc, err)
    assert.equal(2, #cjson.decode(out).rows)
  end)

  it("stops new requests at Ctrl-C under pxlua, lets those in flight finish, and says so", function()
    fake:config { delay = 0.4 }
    local line = CLEAN .. " XDG_CONFIG_HOME=" .. quote(config_home) .. " XDG_STATE_HOME=" .. quote(state_home) .. " "
      .. env .. " timeout --foreground -s KILL 20 " .. helper.PXLUA
      .. " scripts/proxyapi accounts limit --gb 9 --match '*' --json"
    local sh = line .. " < /dev/null & p=$!; sleep 0.6; kill -INT $p; wait $p"
    local rc, out, err = helper.run("sh -c " .. quote(sh))
    fake:config { delay = 0 }
    assert.equal(130, rc, err)
    local doc = cjson.decode(out)
    local applied = 0
    for _, row in ipairs(doc.rows) do
      applied = applied + (row.outcome == "applied" and 1 or 0)
      if row.outcome ~= "applied" then assert.matches("cancelled", row.error, 1, true) end
    end
    assert.equal(1, #helper.lines(err))
    assert.matches("^pxlua: interrupted: " .. applied .. " applied, 0 failed, 0 unknown %(journal run %d+%)\n$", err)
    if applied > 0 then -- (the signal may also land before the first change)
      local runs = cjson.decode((select(2, run("journal --json")))).rows
      assert.equal("interrupted", runs[1].status)
    end
  end)
end)
