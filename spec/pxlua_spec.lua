-- The pxlua host, run as a real process: lua(1)'s command line, the
-- proxyapi flags, exit codes, the fake, Ctrl-C and the progress bar.
local helper = require "helper"
local socket = require "socket"
local proxyapi = require "proxyapi"

local quote = helper.quote

local function cwd()
  local p = assert(io.popen("pwd"))
  local dir = p:read("l")
  p:close()
  return dir
end

-- absolute, for commands run from another directory
local PXLUA = helper.PXLUA:sub(1, 1) == "/" and helper.PXLUA or cwd() .. "/" .. helper.PXLUA:gsub("^%./", "")

-- Every run starts from a known environment: no key, no base URL, no
-- LUA_INIT, and loopback never through a proxy.
local CLEAN = "env -u PROXYAPI_APP_KEY -u PROXYAPI_BASE_URL -u LUA_INIT -u LUA_INIT_5_4"
  .. " no_proxy=127.0.0.1 NO_PROXY=127.0.0.1"

--- Runs pxlua with `args` (shell words), extra environment `env` ("A=b
-- C=d") and `stdin` text (else /dev/null); returns code, stdout, stderr.
local function pxlua(args, env, stdin)
  local file
  local input = " < /dev/null"
  if stdin ~= nil then
    file = helper.tempfile(stdin)
    input = " < " .. quote(file)
  end
  local code, out, err = helper.run(CLEAN .. " " .. (env or "") .. " " .. helper.PXLUA .. " " .. args .. input)
  if file then
    os.remove(file)
  end
  return code, out, err
end

--- Starts pxlua in the background, sends it SIGINT after half a second
-- and waits; returns code, stdout, stderr and the seconds it all took.
-- A pxlua that ignores the signal is killed after 8 s (exit 137).
-- (timeout --foreground passes the signal on to pxlua once; without it,
-- timeout signals pxlua's whole group too: a second signal, which ends
-- pxlua at once)
local function interrupt(args, env)
  local line = CLEAN .. " " .. (env or "") .. " timeout --foreground -s KILL 12 " .. helper.PXLUA .. " " .. args
  local sh = line .. " < /dev/null & p=$!; sleep 0.5; kill -INT $p; wait $p"
  local t0 = socket.gettime()
  local code, out, err = helper.run("sh -c " .. quote(sh))
  return code, out, err, socket.gettime() - t0
end

local lines = helper.lines

local function plain(s)
  return (s:gsub("%W", "%%%0"))
end

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

local function remove_tree(dir)
  os.execute("rm -rf " .. quote(dir))
end

-- A script for --fake runs: it uses `api`, then prints the fake's base URL
-- (from the client's state) and the pid of pxlua's child (the fake).
local SHOW_FAKE = [[
assert(api:list_accounts())
local me = io.open("/proc/self/stat"):read("a"):match("^%d+")
local kids = io.open("/proc/" .. me .. "/task/" .. me .. "/children"):read("a")
io.write(api:settings().base_url, " ", kids, "\n")
io.stdout:flush()
]]

local function fake_of(out)
  local url, pid = out:match("(http://127%.0%.0%.1:%d+) (%d+)")
  assert(url, "the script did not show its fake: " .. out)
  return math.tointeger(url:match(":(%d+)$")), pid
end

--- The fake that pxlua started no longer listens and its process is gone.
local function assert_fake_stopped(port, pid)
  local conn = socket.connect("127.0.0.1", port)
  if conn then
    conn:close()
  end
  assert.is_nil(conn, "the fake still listens on port " .. port)
  local f = io.open("/proc/" .. pid .. "/stat")
  local state = f and f:read("a"):match("^%d+ %b() (%a)")
  if f then
    f:close()
  end
  assert.is_true(state == nil or state == "Z",
    "the fake's process " .. pid .. " still runs (state " .. tostring(state) .. ")")
end

describe("pxlua", function()
  local fake, env

  lazy_setup(function()
    fake = helper.start_fake()
    env = "PROXYAPI_BASE_URL=" .. fake.base_url .. " PROXYAPI_APP_KEY=" .. fake.app_key
  end)

  lazy_teardown(function()
    fake:stop()
  end)

  before_each(function()
    fake:reset()
  end)

  describe("like lua(1)", function()
    it("gives the script arg and ... : script at 0, its arguments after, the rest before", function()
      local script = helper.tempfile([[
for i = -3, #arg do print(i, arg[i]) end
print(select("#", ...), ...)
]])
      local code, out, err = pxlua("-e 'x = 1' " .. quote(script) .. " a 'b c'")
      os.remove(script)
      assert.equal("", err)
      assert.equal(0, code)
      assert.equal(table.concat({
        "-3\t" .. helper.PXLUA, "-2\t-e", "-1\tx = 1", "0\t" .. script, "1\ta", "2\tb c", "2\ta\tb c", "",
      }, "\n"), out)
    end)

    it("numbers arg from the interpreter at 0 when there is no script, as lua does", function()
      local code, out = pxlua([[-e 'print(#arg, arg[0], arg[1], arg[2], arg[-1])']])
      assert.equal(0, code)
      assert.equal("2\t" .. helper.PXLUA .. "\t-e\tprint(#arg, arg[0], arg[1], arg[2], arg[-1])\tnil\n", out)
    end)

    it("runs -e and -l (also -l G=NAME) in command-line order, before the script", function()
      local dir = tempdir()
      write(dir .. "/mod_a.lua", 'ORDER[#ORDER + 1] = "l:" .. ...\nreturn { name = "A" }\n')
      write(dir .. "/mod_b.lua", 'ORDER[#ORDER + 1] = "l:" .. ...\nreturn { name = "B" }\n')
      local script = write(dir .. "/main.lua", [[
ORDER[#ORDER + 1] = "script"
print(table.concat(ORDER, ","), mod_a.name, G.name, rawget(_G, "mod_b"))
]])
      local code, out, err = pxlua("-e 'ORDER = {\"e1\"}' -l mod_a -e 'ORDER[#ORDER + 1] = \"e2\"' -l G=mod_b "
        .. quote(script), "LUA_PATH=" .. quote(dir .. "/?.lua"))
      remove_tree(dir)
      assert.equal("", err)
      assert.equal(0, code)
      assert.equal("e1,l:mod_a,e2,l:mod_b,script\tA\tB\tnil\n", out)
    end)

    it("reads the script from standard input with -, passing its arguments", function()
      local code, out, err = pxlua("- one two", nil, 'print(arg[0], #arg, ...)\n')
      assert.equal("", err)
      assert.equal(0, code)
      assert.equal("-\t2\tone\ttwo\n", out)
    end)

    it("runs standard input as the script when there are no arguments and it is not a terminal", function()
      local code, out = pxlua("", nil, 'print("from stdin", select("#", ...))\n')
      assert.equal(0, code)
      assert.equal("from stdin\t0\n", out)
    end)

    it("ends the options at --: a script named like an option runs with its arguments", function()
      local dir = tempdir()
      write(dir .. "/-s.lua", 'print("dash script", ...)\n')
      local code, out, err = helper.run("cd " .. quote(dir) .. " && " .. CLEAN .. " " .. PXLUA
        .. " -- -s.lua --fake -x < /dev/null")
      local code2, _, err2 = helper.run("cd " .. quote(dir) .. " && " .. CLEAN .. " " .. PXLUA
        .. " -s.lua < /dev/null")
      remove_tree(dir)
      assert.equal("", err)
      assert.equal(0, code)
      assert.equal("dash script\t--fake\t-x\n", out)
      -- without --, the same word is an (unknown) option
      assert.equal(2, code2)
      assert.matches("-s.lua", err2, 1, true)
    end)

    it("gives an interactive prompt after the script with -i: lines run, expression results printed", function()
      local script = helper.tempfile('z = 3\nprint("script ran")\n')
      local input = 'x = 20 + 1\nx\nprint("p" .. x)\nz, z + 1\n'
      local code, out, err = pxlua("-i " .. quote(script), nil, input)
      os.remove(script)
      assert.equal("", err)
      assert.equal(0, code) -- EOF ends the prompt
      -- what is left once the banner, prompts and echoed input are taken out
      local echoed = {}
      for line in input:gmatch("[^\n]+") do
        echoed[line] = true
      end
      local results = {}
      for _, line in ipairs(lines(out)) do
        line = line:gsub("^>>? ", ""):gsub("^>>? ", "")
        if line ~= "" and not echoed[line] and not line:find("^pxlua ") then
          results[#results + 1] = line
        end
      end
      assert.same({ "script ran", "21", "p21", "3\t4" }, results)
    end)

    it("runs LUA_INIT first, before -e and the script", function()
      local script = helper.tempfile('ORDER[#ORDER + 1] = "script"\nprint(table.concat(ORDER, ","))\n')
      local code, out, err = pxlua("-e 'ORDER[#ORDER + 1] = \"e\"' " .. quote(script), "LUA_INIT="
        .. quote('ORDER = { "init" }'))
      os.remove(script)
      assert.equal("", err)
      assert.equal(0, code)
      assert.equal("init,e,script\n", out)
    end)

    it("prefers LUA_INIT_5_4 to LUA_INIT and runs @file, as lua does", function()
      local init = helper.tempfile('print("init file")\n')
      local code, out = pxlua("-e 'print(\"e\")'", "LUA_INIT=" .. quote('print("plain")')
        .. " LUA_INIT_5_4=@" .. quote(init))
      os.remove(init)
      assert.equal(0, code)
      assert.equal("init file\ne\n", out)
    end)
  end)

  describe("--fake", function()
    it("points api at a fake it starts (no key needed) and stops it at the end", function()
      local refused = "PROXYAPI_BASE_URL=http://127.0.0.1:" .. helper.refused_port()
      local code, out, err = pxlua("--fake -e " .. quote(SHOW_FAKE), refused)
      assert.equal("", err)
      assert.equal(0, code)
      assert_fake_stopped(fake_of(out))
    end)

    it("stops the fake when the script raises an error (exit 1)", function()
      local code, out, err = pxlua("--fake -e " .. quote(SHOW_FAKE .. 'error("boom")'))
      assert.equal(1, code)
      assert.matches("boom", err, 1, true)
      assert_fake_stopped(fake_of(out))
    end)

    it("stops the fake on Ctrl-C (exit 130)", function()
      -- a script that runs on after the interrupt is stopped 5 s after the grace
      local code, out, _, took = interrupt("--fake -e " .. quote(SHOW_FAKE .. "while true do end"),
        "PROXYAPI_GRACE=0.1")
      assert.equal(130, code)
      assert.is_true(took < 7.5, "took " .. took .. " s")
      assert_fake_stopped(fake_of(out))
    end)
  end)

  describe("--dry-run", function()
    it("prints each POST as one line on stderr, key hidden, and sends nothing", function()
      local before = fake:accounts()
      local code, out, err = pxlua("--dry-run -e " .. quote([[
print(api:add_accounts({ "dry1:pw1" }, { remark = "r" }))
print(api:change_password("dry1", "pw2"))
]]), env)
      assert.equal(0, code)
      assert.equal("true\ntrue\n", out)
      local got = lines(err)
      assert.equal(2, #got, err)
      assert.matches("^proxyapi: dry%-run: POST /openapi/whitelist%-account/add {.*}$", got[1])
      -- the contract: the app_key and every password as *** (the account stays readable)
      assert.matches('"accounts":"dry1:***"', got[1], 1, true)
      assert.not_matches("pw1", err, 1, true)
      assert.not_matches("pw2", err, 1, true)
      assert.matches('"remark":"r"', got[1], 1, true)
      assert.matches('"app_key":"***"', got[1], 1, true)
      assert.matches("^proxyapi: dry%-run: POST /openapi/whitelist%-account/change%-password {.*}$", got[2])
      assert.not_matches(plain(fake.app_key), err)
      assert.same({}, fake:log())
      assert.same(before, fake:accounts())
    end)

    it("lets GETs through", function()
      local code, out = pxlua("--dry-run -e 'print(#assert(api:list_accounts()) > 0)'", env)
      assert.equal(0, code)
      assert.equal("true\n", out)
      local log = fake:log()
      assert.equal(1, #log)
      assert.equal("GET", log[1].method)
      assert.equal("/openapi/whitelist-account/list", log[1].path)
    end)

    it("still raises on bad arguments (exit 1)", function()
      local code, out, err = pxlua("--dry-run -e 'api:add_accounts(42) print(\"went on\")'", env)
      assert.equal(1, code)
      assert.equal("", out)
      assert.matches("bad argument #1 to 'add_accounts'", err, 1, true)
      assert.same({}, fake:log())
    end)
  end)

  describe("flags", function()
    it("--base-url sets the API's URL and wins over PROXYAPI_BASE_URL", function()
      local code, out, err = pxlua("--base-url " .. quote(fake.base_url) .. " -e 'print(#assert(api:list_accounts()))'",
        "PROXYAPI_BASE_URL=http://127.0.0.1:" .. helper.refused_port() .. " PROXYAPI_APP_KEY=" .. fake.app_key)
      assert.equal("", err)
      assert.equal(0, code)
      assert.matches("^%d+\n$", out)
      assert.equal(1, #fake:log())
    end)

    it("--app-key-file reads a 0600 file, trims the key, and wins over PROXYAPI_APP_KEY", function()
      local file = helper.tempfile(" \t" .. fake.app_key .. " \r\n\n")
      assert(os.execute("chmod 600 " .. quote(file)))
      local code, out, err = pxlua("--app-key-file " .. quote(file) .. " -e 'print(#assert(api:list_accounts()))'",
        "PROXYAPI_BASE_URL=" .. fake.base_url .. " PROXYAPI_APP_KEY=wrong-key")
      os.remove(file)
      assert.equal("", err)
      assert.equal(0, code)
      assert.matches("^%d+\n$", out)
      assert.equal(1, #fake:log())
    end)

    for _, mode in ipairs { "640", "644" } do
      it("--app-key-file refuses a " .. mode .. " file, naming chmod, and sends nothing", function()
        local file = helper.tempfile(fake.app_key .. "\n")
        assert(os.execute("chmod " .. mode .. " " .. quote(file)))
        local code, out, err = pxlua("--app-key-file " .. quote(file) .. " -e 'print(#assert(api:list_accounts()))'",
          "PROXYAPI_BASE_URL=" .. fake.base_url)
        os.remove(file)
        assert.not_equal(0, code)
        assert.equal("", out)
        assert.matches("chmod", err, 1, true)
        assert.same({}, fake:log())
      end)
    end

    it("--timeout S bounds each attempt: a slow API gives kind timeout", function()
      fake:config { delay = 1 }
      local code, out = pxlua("--timeout 0.2 -e 'local r, e = api:list_accounts() print(r, e and e.kind)'", env)
      assert.equal(0, code)
      assert.equal("nil\ttimeout\n", out)
    end)

    for _, value in ipairs { "abc", "0", "-1" } do
      it("--timeout " .. value .. " is a usage error (exit 2)", function()
        local code, out, err = pxlua("--timeout " .. value .. " -e 'print(\"ran\")'", env)
        assert.equal(2, code)
        assert.equal("", out)
        assert.matches("usage:", err, 1, true)
      end)
    end

    for _, flag in ipairs { "-v", "--version" } do
      it(flag .. " prints pxlua and proxyapi's VERSION", function()
        local code, out, err = pxlua(flag)
        assert.equal("", err)
        assert.equal(0, code)
        assert.matches("^pxlua " .. plain(proxyapi.VERSION) .. "[%s(]", out)
        local _, embedded = pxlua([[-e 'io.write(require("proxyapi").VERSION)']])
        assert.equal(proxyapi.VERSION, embedded)
      end)
    end

    for _, flag in ipairs { "-h", "--help" } do
      it(flag .. " prints the usage on stdout", function()
        local code, out, err = pxlua(flag .. " -e 'print(\"ran\")'")
        assert.equal("", err)
        assert.equal(0, code)
        assert.matches("^usage: ", out)
        for _, word in ipairs { "-e CODE", "-l NAME", "-i", "--fake", "--dry-run", "--base-url", "--app-key-file",
          "--timeout", "--version", "--help" } do
          assert.matches(word, out, 1, true)
        end
        assert.not_matches("ran", out, 1, true)
      end)
    end
  end)

  describe("usage errors", function()
    local cases = {
      { "an unknown flag", "--bogus", "--bogus" },
      { "an unknown short flag", "-x", "-x" },
      { "-e without its code", "-e", "-e" },
      { "-l without its name", "-l", "-l" },
      { "--base-url without its URL", "--base-url", "--base-url" },
      { "--app-key-file without its file", "--app-key-file", "--app-key-file" },
      { "--timeout without its seconds", "--timeout", "--timeout" },
    }
    for _, case in ipairs(cases) do
      it(case[1] .. ": a usage line on stderr, exit 2, nothing run", function()
        local code, out, err = pxlua("-e 'print(\"ran\")' " .. case[2], "LUA_INIT=" .. quote('print("init")'))
        assert.equal(2, code)
        assert.equal("", out)
        assert.matches("usage:", err, 1, true)
        assert.matches(case[3], err, 1, true)
      end)
    end
  end)

  describe("errors", function()
    it("a script error prints the message and a traceback, exit 1", function()
      local script = helper.tempfile('local function f() error("boom in f") end\nf()\n')
      local code, out, err = pxlua(quote(script))
      os.remove(script)
      assert.equal(1, code)
      assert.equal("", out)
      assert.matches("boom in f", err, 1, true)
      assert.matches("stack traceback:", err, 1, true)
    end)

    it("an uncaught proxyapi error prints its one line, no traceback, and exits by its kind", function()
      local code, _, err = pxlua("-e 'error(select(2, api:list_accounts()))'",
        "PROXYAPI_BASE_URL=" .. fake.base_url .. " PROXYAPI_APP_KEY=wrong-key")
      assert.equal(4, code) -- the API refused
      assert.matches("proxyapi: GET /openapi/whitelist-account/list: api code 3", err, 1, true)
      assert.not_matches("stack traceback:", err, 1, true)
      assert.not_matches("error object is", err, 1, true)
      assert.equal(1, #lines(err), err)
    end)

    it("--traceback shows one for proxyapi errors too", function()
      local code, _, err = pxlua("--traceback -e 'error(select(2, api:list_accounts()))'",
        "PROXYAPI_BASE_URL=" .. fake.base_url .. " PROXYAPI_APP_KEY=wrong-key")
      assert.equal(4, code)
      assert.matches("proxyapi: GET /openapi/whitelist-account/list: api code 3", err, 1, true)
      assert.matches("stack traceback:", err, 1, true)
    end)

    it("a network failure exits 5", function()
      local code, _, err = pxlua("-e 'assert(api:list_accounts())'",
        "PROXYAPI_BASE_URL=http://127.0.0.1:" .. helper.refused_port() .. " PROXYAPI_APP_KEY=k")
      assert.equal(5, code)
      assert.matches("network", err, 1, true)
    end)

    it("an error object without __tostring is named by its type, as lua does", function()
      local code, _, err = pxlua("-e 'error({})'")
      assert.equal(1, code)
      assert.matches("(error object is a table value)", err, 1, true)
    end)

    it("a missing script file: a message, exit 1", function()
      local code, out, err = pxlua("/nonexistent/dir/none.lua")
      assert.equal(1, code)
      assert.equal("", out)
      assert.matches("cannot open /nonexistent/dir/none.lua", err, 1, true)
    end)

    it("with no key, first use of api raises an error naming the ways to give one", function()
      local code, out, err = pxlua("-e 'print(\"before\") local _ = api print(\"after\")'",
        "PROXYAPI_BASE_URL=" .. fake.base_url)
      assert.equal(2, code) -- a configuration error
      assert.equal("before\n", out)
      assert.matches("PROXYAPI_APP_KEY", err, 1, true)
      assert.matches("--app-key-file", err, 1, true)
      assert.matches("--fake", err, 1, true)
      assert.same({}, fake:log())
    end)

    it("with no key, a script that never touches api runs fine", function()
      local code, out, err = pxlua("-e 'print(proxyapi.VERSION)'")
      assert.equal("", err)
      assert.equal(0, code)
      assert.equal(proxyapi.VERSION .. "\n", out)
    end)
  end)

  describe("Ctrl-C", function()
    it("cancels a transfer in flight after the grace; the call returns cancelled; exit 130", function()
      fake:config { delay = 5 }
      local code, out, err, took = interrupt("-e 'print(select(2, api:list_accounts()).kind)'",
        env .. " PROXYAPI_GRACE=0.2")
      assert.equal(130, code)
      assert.is_true(took < 3, "took " .. took .. " s")
      assert.equal("cancelled\n", out)
      assert.matches("interrupted:", err, 1, true)
      assert.equal(1, #fake:log()) -- the request was in flight
    end)

    it("a second Ctrl-C ends at once", function()
      fake:config { delay = 5 }
      local line = CLEAN .. " " .. env .. " timeout --foreground -s KILL 12 " .. helper.PXLUA
        .. " -e 'api:list_accounts() print(\"went on\")'"
      local t0 = socket.gettime()
      local code, out = helper.run("sh -c " .. quote(line .. " < /dev/null & p=$!; sleep 0.5; kill -INT $p; "
        .. "sleep 0.2; kill -INT $p; wait $p"))
      assert.equal(130, code)
      assert.is_true(socket.gettime() - t0 < 1.5)
      assert.equal("", out)
    end)

    it("cancels the transfers of api:map after the grace, lets the script go on, and exits 130", function()
      fake:config { delay = 5 }
      local code, out, err, took = interrupt("-e " .. quote([[
local results, errs = api:map({ 1, 2, 3, 4, 5, 6 }, function(a) return a:list_accounts() end)
print("went on", results.n, errs[1].kind)
]]), env .. " PROXYAPI_GRACE=0.2")
      assert.equal(130, code)
      assert.is_true(took < 3, "took " .. took .. " s")
      assert.equal("went on\t6\tcancelled\n", out)
      assert.matches("interrupted: 0 applied, 0 failed, 0 unknown", err, 1, true)
      assert.equal(6, #fake:log())
    end)

    it("exits 130 even when the script catches errors with pcall in a loop (stopped 5 s after the grace)", function()
      fake:config { delay = 5 }
      local code, out, _, took = interrupt("-e " .. quote([[
while true do
  pcall(function()
    local _, err = api:list_accounts()
    error(err)
  end)
end
]]), env .. " PROXYAPI_GRACE=0.2")
      assert.equal(130, code)
      assert.is_true(took < 7.5, "took " .. took .. " s")
      assert.equal("", out)
    end)
  end)

  describe("progress", function()
    local MAP = [[api:map({ 1, 2, 3, 4 }, function(a) return assert(a:list_accounts()) end) print("done")]]
    local BATCH = [[local t = {} for i = 1, 250 do t[i] = "pb" .. i .. ":pw" end
print(assert(api:add_accounts(t)))]]

    --- Runs pxlua under script(1), so that the terminal is a pty;
    -- `redirect` sends stdout or stderr elsewhere.
    local function on_terminal(code_text, redirect)
      assert.is_true(os.execute("command -v script > /dev/null") == true, "script(1) is not installed")
      local command = CLEAN .. " " .. env .. " " .. PXLUA .. " -e " .. quote(code_text) .. " " .. redirect
      return helper.run("script -qec " .. quote(command) .. " /dev/null < /dev/null")
    end

    it("draws nothing when stderr is not a terminal", function()
      local code, out, err = pxlua("-e " .. quote(MAP .. "\n" .. BATCH), env)
      assert.equal(0, code)
      assert.equal("done\ntrue\n", out)
      assert.equal("", err)
    end)

    it("draws a bar on stderr for api:map when it is a terminal", function()
      local code, out = on_terminal(MAP, "> /dev/null")
      assert.equal(0, code)
      assert.matches("\r[", out, 1, true)
      assert.matches("] 4/4", out, 1, true)
    end)

    it("draws a bar for a split batch when stderr is a terminal", function()
      local code, out = on_terminal(BATCH, "> /dev/null")
      assert.equal(0, code)
      assert.matches("\r[", out, 1, true)
      assert.matches("] 3/3", out, 1, true)
      assert.is_not_nil(fake:accounts().pb250)
    end)

    it("draws nothing when only stdout is a terminal", function()
      local code, out = on_terminal(MAP, "2> /dev/null")
      assert.equal(0, code)
      assert.matches("done", out, 1, true)
      assert.not_matches("[", out, 1, true)
      assert.not_matches("4/4", out, 1, true)
    end)
  end)

  describe("globals", function()
    it("proxyapi is the module; api is made on first use, once", function()
      local code, out, err = pxlua("-e " .. quote([[
local made, new = 0, proxyapi.new
proxyapi.new = function(...) made = made + 1 return new(...) end
print(proxyapi == require "proxyapi", rawget(_G, "api") == nil, made)
local a = api
local b = api
print(rawequal(a, b), made, rawget(_G, "api") == a, #assert(b:list_accounts()) > 0)
]]), env)
      assert.equal("", err)
      assert.equal(0, code)
      assert.equal("true\ttrue\t0\ntrue\t1\ttrue\ttrue\n", out)
    end)

    it("finds proxyapi and cjson with an empty environment", function()
      local code, out, err = helper.run("cd / && env -i PATH=/usr/bin:/bin " .. PXLUA .. " -e " .. quote([[
local cjson = require "cjson"
print(cjson.encode({ 1, 2 }), require("cjson.safe").decode("[") == nil, require("proxyapi").VERSION,
  proxyapi == require "proxyapi")
]]) .. " < /dev/null")
      assert.equal("", err)
      assert.equal(0, code)
      assert.equal("[1,2]\ttrue\t" .. proxyapi.VERSION .. "\ttrue\n", out)
    end)
  end)
end)

describe("pxlua with a journal it cannot use", function()
  it("exits 2 with one line naming the file and --no-journal, before the script uses api", function()
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p " .. dir .. "/proxyapi && touch " .. dir .. "/proxyapi/journal.sqlite3 && chmod 644 "
      .. dir .. "/proxyapi/journal.sqlite3"))
    local p = io.popen(string.format("XDG_STATE_HOME=%s PROXYAPI_APP_KEY=k PROXYAPI_BASE_URL=http://127.0.0.1:9 %s "
      .. "-e 'print(api)' 2>&1; echo \"rc=$?\"", dir, helper.PXLUA))
    local out = p:read("a")
    p:close()
    os.execute("rm -rf " .. dir)
    assert.matches("rc=2\n$", out)
    assert.matches("can be read by group or others", out, 1, true)
    assert.matches("--no-journal", out, 1, true)
    assert.not_matches("traceback", out)
  end)
end)
