-- the contract (README): tostring(err) "never contains the app_key, nor does anything else
-- the library prints or returns: the key is scrubbed (raw and
-- percent-encoded) from server messages and libcurl's error text too".
local helper = require "helper"
local proxyapi = require "proxyapi"

local ACCOUNT = "/openapi/whitelist-account/"
local LIST, ADD = ACCOUNT .. "list", ACCOUNT .. "add"
local ODD_KEY = "Abc+Def/123" -- needs percent-encoding: + and /

-- The forms of a key that count as leaks, worked out here rather than with
-- the library's own scrubber.
local function forms(key)
  local list = { key }
  for _, hex in ipairs { "%%%02X", "%%%02x" } do
    local encoded = key:gsub("[^%w%-_%.~]", function(c) return hex:format(c:byte()) end)
    if encoded ~= key then
      list[#list + 1] = encoded
    end
  end
  return list
end

--- The form of `key` that `text` contains, or nil.
local function leak(text, key)
  for _, form in ipairs(forms(key)) do
    if text:find(form, 1, true) then
      return form
    end
  end
  return nil
end

--- Every string in a value: strings, tables' keys and values (deeply),
-- and what __tostring makes of a table.
local function strings_of(value, out, seen)
  out, seen = out or {}, seen or {}
  if type(value) == "string" then
    out[#out + 1] = value
  elseif type(value) == "table" and not seen[value] then
    seen[value] = true
    local mt = getmetatable(value)
    if mt and mt.__tostring then
      out[#out + 1] = tostring(value)
    end
    for k, v in pairs(value) do
      strings_of(k, out, seen)
      strings_of(v, out, seen)
    end
  end
  return out
end

local function assert_no_leak(value, key, what)
  for _, s in ipairs(strings_of(value)) do
    local form = leak(s, key)
    assert.is_nil(form, (what or "value") .. " leaks the key as " .. tostring(form) .. ": " .. s)
  end
end

local function envelope(code, msg)
  return string.format('{"code":%d,"msg":"%s","data":null}', code, msg)
end

describe("the app_key never leaks", function()
  local fake, odd

  lazy_setup(function()
    fake = helper.start_fake()
    odd = helper.start_fake("--app-key " .. helper.quote(ODD_KEY))
  end)

  lazy_teardown(function()
    fake:stop()
    odd:stop()
  end)

  before_each(function()
    for _, f in ipairs { fake, odd } do
      f:reset()
      f:clear_faults()
    end
  end)

  after_each(function()
    fake:close_clients()
    odd:close_clients()
  end)

  local function client(server, options)
    return server:client(options)
  end

  local function refused_client(key, options)
    return fake:client({
      app_key = key, base_url = "http://127.0.0.1:" .. helper.refused_port(),
      retries = 0, timeout = 2, connect_timeout = 1,
    }, options)
  end

  it("the fake with the odd key is really using it", function()
    assert.equal(ODD_KEY, odd.app_key)
    assert.same({ "Abc+Def/123", "Abc%2BDef%2F123", "Abc%2bDef%2f123" }, forms(ODD_KEY))
    assert.is_table((client(odd):list_accounts()))
  end)

  describe("in what the library returns", function()
    it("tostring(api), open and closed", function()
      for _, server in ipairs { fake, odd } do
        local api = proxyapi.new { app_key = server.app_key, base_url = server.base_url, proxy = false }
        local text = tostring(api)
        assert.matches("^proxyapi%.Client", text)
        assert.is_nil(leak(text, server.app_key))
        api:close()
        assert.equal("proxyapi.Client (closed)", tostring(api))
      end
    end)

    it("error objects of every kind: every string field and tostring(err)", function()
      local api = client(odd, { retries = 1, retry_backoff = 0.01 })
      local errs = {}
      local function collect(ok, err)
        assert.is_nil(ok)
        assert.is_true(proxyapi.is_error(err))
        errs[#errs + 1] = err
      end
      odd:fault { path = LIST, status = 500, times = -1 }
      collect(api:list_accounts())                                 -- http
      collect(api:add_accounts { "keytest1:pw", "keytest1:pw" })   -- api (duplicate), with failed
      collect(api:call("GET", "/nope", { q = "x" }))               -- http 404
      odd:fault { path = ADD, action = "badjson", times = -1 }
      collect(api:add_accounts { "keytest2:pw" })                  -- protocol
      odd:fault { path = ACCOUNT .. "delete", action = "close", times = -1 }
      collect(api:delete_accounts { "keytest3" })                  -- network, maybe_applied
      odd:fault { path = ACCOUNT .. "enable", delay = 1, times = -1 }
      collect(client(odd, { timeout = 0.2, retries = 0 }):enable_accounts { "ghost" }) -- timeout
      collect(refused_client(ODD_KEY):extract_ips { cc = "US" }) -- network, refused
      odd:clear_faults()
      collect(client(odd, { app_key = "Other+Key/9" }):list_accounts()) -- api code 3
      local kinds = {}
      for i, err in ipairs(errs) do
        kinds[i] = err.kind
        assert_no_leak(err, ODD_KEY, "error " .. i)
        assert.is_nil(leak(tostring(err), ODD_KEY))
      end
      assert.same({ "http", "api", "http", "protocol", "network", "timeout", "network", "api" }, kinds)
      assert.same({ "keytest1", "keytest1" }, errs[2].failed)
      assert.is_true(errs[5].maybe_applied)
    end)

    it("on_request info tables", function()
      local infos = {}
      local api = client(odd, {
        retries = 1, retry_backoff = 0.01,
        on_request = function(info) infos[#infos + 1] = info end,
      })
      assert.is_table((api:list_accounts()))
      assert.is_true(api:add_accounts { "info1:pw" })
      odd:fault { path = LIST, status = 503, times = -1 }
      assert.is_nil((api:list_accounts()))
      assert.is_table((api:extract_ips { cc = "US", num = 2 }))
      assert.equal(5, #infos)
      local paths = {}
      for i, info in ipairs(infos) do
        paths[i] = info.method .. " " .. info.path
        assert_no_leak(info, ODD_KEY, "info " .. i)
        assert.is_nil(info.app_key)
        assert.is_nil(info.url)
        assert.is_nil(info.query)
        assert.is_nil(info.body)
      end
      assert.same({ "GET " .. LIST, "POST " .. ADD, "GET " .. LIST, "GET " .. LIST, "GET /openapi/ip/v3" }, paths)
    end)

    it("dry-run lines", function()
      local lines = {}
      local api = client(odd, { dry_run = function(line) lines[#lines + 1] = line end })
      odd:clear_log()
      assert.is_true(api:delete_accounts { "dry1", "dry2" })
      assert.is_true(api:add_accounts({ "dry3:pw3" }, { remark = "r" }))
      assert.is_true(api:change_password("dry1", "secret2"))
      assert.is_true(api:call("POST", "/openapi/anything", { x = 1 }))
      assert.equal(4, #lines)
      assert.equal('proxyapi: dry-run: POST /openapi/whitelist-account/delete {"app_key":"***","accounts":"dry1,dry2"}',
        lines[1])
      for i, line in ipairs(lines) do
        assert.is_nil(leak(line, ODD_KEY), "line " .. i .. ": " .. line)
        assert.truthy(line:find('"app_key":"***"', 1, true))
      end
      assert.same({}, odd:log()) -- nothing was sent
    end)

    it("failed lists name the accounts, and nothing else", function()
      local api = client(fake, { batch_size = 2 })
      fake:fault { path = ADD, status = 400, times = -1 }
      local ok, err = api:add_accounts { "fl1:pw", "fl2:pw", "fl3:pw" }
      assert.is_nil(ok)
      local failed = { table.unpack(err.failed) }
      table.sort(failed)
      assert.same({ "fl1", "fl2", "fl3" }, failed)
      assert_no_leak(err, fake.app_key, "error")
    end)
  end)

  describe("a server message that echoes the key", function()
    local function echoed(server, fault)
      fault.path = LIST
      fault.times = -1
      server:fault(fault)
      local ok, err = client(server, { retries = 0 }):list_accounts()
      assert.is_nil(ok)
      return err
    end

    it("raw, in a 200 reply with an API code", function()
      local key = fake.app_key
      local err = echoed(fake, { body = envelope(400, "unknown key " .. key .. " (check " .. key .. ")") })
      assert.equal("api", err.kind)
      assert.equal("unknown key *** (check ***)", err.msg)
      assert.equal("proxyapi: GET " .. LIST .. ": api code 400: unknown key *** (check ***)", tostring(err))
    end)

    it("raw, in a non-2xx reply (kind http)", function()
      local err = echoed(fake, { status = 500, body = envelope(500, "bad key=" .. fake.app_key) })
      assert.equal("http", err.kind)
      assert.equal(500, err.code)
      assert.equal("bad key=***", err.msg)
      assert.is_nil(leak(tostring(err), fake.app_key))
    end)

    it("raw, with characters that need encoding", function()
      local err = echoed(odd, { body = envelope(400, "key " .. ODD_KEY .. " rejected") })
      assert.equal("key *** rejected", err.msg)
      assert.equal("proxyapi: GET " .. LIST .. ": api code 400: key *** rejected", tostring(err))
    end)

    it("percent-encoded in upper case", function()
      local err = echoed(odd, { body = envelope(400, "GET /x?app_key=Abc%2BDef%2F123&a=1 refused") })
      assert.equal("GET /x?app_key=***&a=1 refused", err.msg)
      assert.is_nil(leak(tostring(err), ODD_KEY))
    end)

    it("percent-encoded in lower case", function()
      local err = echoed(odd, { status = 403, body = envelope(403, "app_key=Abc%2bDef%2f123 forbidden") })
      assert.equal("http", err.kind)
      assert.equal("app_key=*** forbidden", err.msg)
      assert.is_nil(leak(tostring(err), ODD_KEY))
    end)

    it("in every form at once", function()
      local err = echoed(odd, { body = envelope(400, "Abc+Def/123|Abc%2BDef%2F123|Abc%2bDef%2f123") })
      assert.equal("***|***|***", err.msg)
    end)
  end)

  describe("libcurl's error text", function()
    local function digits_out(s)
      return (s:gsub("%d+", "N"))
    end

    it("of a refused connection", function()
      local port = helper.refused_port()
      local plain_err = select(2, refused_client("NotInTheText1", { base_url = "http://127.0.0.1:" .. port })
        :list_accounts())
      assert.equal("network", plain_err.kind)
      -- the key below must be a word of libcurl's text for this test to mean anything
      assert.truthy(plain_err.msg:find("connect", 1, true), plain_err.msg)
      local err = select(2, refused_client("connect", { base_url = "http://127.0.0.1:" .. port }):list_accounts())
      assert.equal("network", err.kind)
      assert.is_nil(err.msg:find("connect", 1, true))
      assert.equal(digits_out((plain_err.msg:gsub("connect", "***"))), digits_out(err.msg))
      assert.is_nil(tostring(err):find("connect", 1, true))
    end)

    it("of a timeout", function()
      fake:fault { path = LIST, delay = 1, times = -1 }
      local plain_err = select(2, client(fake, { timeout = 0.2, retries = 0 }):list_accounts())
      assert.equal("timeout", plain_err.kind)
      assert.truthy(plain_err.msg:find("milliseconds", 1, true), plain_err.msg)
      local err = select(2, client(fake, { app_key = "milliseconds", timeout = 0.2, retries = 0 }):list_accounts())
      assert.equal("timeout", err.kind)
      assert.is_nil(tostring(err):find("milliseconds", 1, true))
      assert.equal(digits_out((plain_err.msg:gsub("milliseconds", "***"))), digits_out(err.msg))
    end)

    it("of a connection closed without a reply", function()
      fake:fault { path = LIST, action = "close", times = -1 }
      local plain_err = select(2, client(fake, { retries = 0 }):list_accounts())
      assert.equal("network", plain_err.kind)
      assert.truthy(plain_err.msg:find("server", 1, true), plain_err.msg)
      local err = select(2, client(fake, { app_key = "server", retries = 0 }):list_accounts())
      assert.equal((plain_err.msg:gsub("server", "***")), err.msg)
      assert.is_nil(tostring(err):find("server", 1, true))
    end)
  end)

  describe("through pxlua", function()
    -- With --fake, pxlua makes up a key of its own; this chunk, run first
    -- with -e, asks that fake for the key it accepts (GET /_fake/app_key,
    -- since nothing of the client shows it), writes it to $PX_KEYFILE and
    -- prints nothing.
    local CAPTURE = [[local f = assert(io.open(os.getenv("PX_KEYFILE"), "w")) ]]
      .. [[local body = require("socket.http").request(api:settings().base_url .. "/_fake/app_key") ]]
      .. [[f:write(require("cjson").decode(body).data.app_key) f:close()]]

    --- Runs `pxlua --fake -e CAPTURE <args>`; returns code, stdout, stderr, key.
    local function with_fake(args)
      local keyfile = os.tmpname()
      local code, out, err = helper.pxlua("--fake -e " .. helper.quote(CAPTURE) .. " " .. args, nil,
        "PX_KEYFILE=" .. helper.quote(keyfile))
      local f = assert(io.open(keyfile))
      local key = f:read("a")
      f:close()
      os.remove(keyfile)
      assert.matches("^%w+$", key) -- the capture worked: there is a key to look for
      return code, out, err, key
    end

    --- Runs pxlua against the fake with the odd key, given by a key file.
    local function with_odd(args, stdin)
      local keyfile = helper.tempfile(ODD_KEY .. "\n")
      os.execute("chmod 600 " .. helper.quote(keyfile))
      local code, out, err = helper.pxlua("--base-url " .. helper.quote(odd.base_url) .. " --app-key-file "
        .. helper.quote(keyfile) .. " " .. args, stdin)
      os.remove(keyfile)
      return code, out, err
    end

    local function lua_scripts()
      local list = {}
      local pipe = assert(io.popen("ls scripts"))
      for name in pipe:lines() do
        -- automation scripts end in .lua; embed-lua (a build tool) and
        -- proxyapi-fake (the fake server) are not scripts for pxlua
        if name:find("%.lua$") then
          list[#list + 1] = "scripts/" .. name
        end
      end
      pipe:close()
      table.sort(list)
      return list
    end

    it("finds the automation scripts", function()
      local scripts = lua_scripts()
      assert.truthy(#scripts >= 1)
      local has_demo = false
      for _, path in ipairs(scripts) do
        has_demo = has_demo or path == "scripts/demo.lua"
      end
      assert.is_true(has_demo)
    end)

    it("every Lua script of scripts/ under --fake prints no key", function()
      local csv = helper.tempfile("username,password,remark,limit\nsecret1,pw1,from csv,5\nsocial01,newpw,x,0\n")
      finally(function() os.remove(csv) end)
      -- the arguments that make each script do its real job
      local SCRIPT_ARGS = {
        ["scripts/cap-traffic.lua"] = "--threshold 20",
        ["scripts/provision.lua"] = helper.quote(csv),
        ["scripts/pull-ips.lua"] = "--num 3 --cc US --account seoteam",
        ["scripts/usage-report.lua"] = "--days 3",
        ["scripts/history.lua"] = "sync --days 2",
        ["scripts/metrics.lua"] = "--textfile " .. helper.quote(csv .. ".prom"),
      }
      finally(function() os.remove(csv .. ".prom") end)
      for _, path in ipairs(lua_scripts()) do
        local code, out, err, key = with_fake(path .. " " .. (SCRIPT_ARGS[path] or ""))
        assert.equal(0, code, path .. ": " .. err)
        if path == "scripts/metrics.lua" then -- it writes a file, not stdout
          local f = assert(io.open(csv .. ".prom"))
          out = f:read("a")
          f:close()
        end
        assert.truthy(#out > 0, path .. " printed nothing")
        assert.is_nil(leak(out, key), path .. " stdout")
        assert.is_nil(leak(err, key), path .. " stderr")
      end
    end)

    it("demo.lua with a known key, from a key file and from the environment", function()
      local code, out, err = with_odd("scripts/demo.lua")
      assert.equal(0, code, err)
      assert.truthy(out:find("ten fresh US IPs", 1, true))
      assert.is_nil(leak(out .. err, ODD_KEY))
      odd:reset()
      code, out, err = helper.pxlua("scripts/demo.lua", nil, "PROXYAPI_APP_KEY=" .. helper.quote(ODD_KEY)
        .. " PROXYAPI_BASE_URL=" .. helper.quote(odd.base_url))
      assert.equal(0, code, err)
      assert.truthy(out:find("ten fresh US IPs", 1, true))
      assert.is_nil(leak(out .. err, ODD_KEY))
    end)

    it("a script that prints the client, errors and results prints no key", function()
      odd:fault { path = ACCOUNT .. "enable", body = envelope(400, "echo " .. ODD_KEY .. " Abc%2bDef%2f123"),
                  times = -1 }
      local script = [[
        print(api)
        print(select(2, api:call("GET", "/nope", { q = 1 })))
        print(select(2, api:enable_accounts { "nobody" }))
        local err = select(2, api:add_accounts { "one:pw", "one:pw" })
        for k, v in pairs(err) do print(k, v) end
        for _, a in ipairs(assert(api:list_accounts())) do print(a.username, a.password) end
      ]]
      local code, out, err = with_odd("-", script)
      assert.equal(0, code, err)
      assert.truthy(out:find("proxyapi.Client", 1, true))
      assert.truthy(out:find("http 404", 1, true))
      assert.truthy(out:find("echo *** ***", 1, true))
      assert.is_nil(leak(out, ODD_KEY), out)
      assert.is_nil(leak(err, ODD_KEY), err)
    end)

    it("print(api) and an error under --fake print no key", function()
      local chunk = 'print(api); print(select(2, api:call("GET", "/nope")))'
      local code, out, err, key = with_fake("-e " .. helper.quote(chunk))
      assert.equal(0, code, err)
      assert.matches("^proxyapi%.Client %(.-%)\nproxyapi: GET /nope: http 404", out)
      assert.is_nil(leak(out, key))
      assert.is_nil(leak(err, key))
    end)

    it("--dry-run lines on stderr print no key", function()
      local code, out, err = with_odd("--dry-run -e " .. helper.quote('assert(api:add_accounts { "dry9:pw" })'))
      assert.equal(0, code, err)
      assert.truthy(err:find('dry-run: POST /openapi/whitelist-account/add {"app_key":"***"', 1, true), err)
      assert.is_nil(leak(out .. err, ODD_KEY))
      assert.is_nil(odd:accounts().dry9)
    end)

    it("an error raised by assert(api:...) exits 4 with a message (and --traceback's) hiding the key", function()
      odd:fault { path = LIST, body = envelope(400, "no access for " .. ODD_KEY .. " / Abc%2BDef%2F123"), times = -1 }
      for _, flag in ipairs { "", "--traceback " } do
        local code, out, err = with_odd(flag .. "-", "local accounts = assert(api:list_accounts())\nprint(#accounts)\n")
        assert.equal(4, code)
        assert.equal("", out)
        assert.truthy(err:find("api code 400: no access for *** / ***", 1, true), err)
        assert.equal(flag ~= "", err:find("stack traceback", 1, true) ~= nil, err)
        assert.is_nil(leak(err, ODD_KEY), err)
      end
    end)

    it("a failing script under --fake exits 5 and prints no key", function()
      local code, out, err, key = with_fake("-e " .. helper.quote('assert(api:call("POST", "/nope", { a = 1 }))'))
      assert.equal(5, code)
      assert.equal("", out)
      assert.truthy(err:find("proxyapi: POST /nope: http 404", 1, true), err)
      assert.is_nil(leak(err, key))
    end)
  end)
end)
