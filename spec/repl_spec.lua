-- The pxlua prompt: the printer, the completer, the history rule and help
-- as Lua functions; then the real `pxlua -i` in a terminal (tmux), typed
-- at: results printed, Tab, Ctrl-C, the history file, help().
local helper = require "helper"
local socket = require "socket"
local proxyapi = require "proxyapi"
local core = require "proxyapi.core"
local repl = require "proxyapi.repl"
local show = require "proxyapi.repl_show"
local help = require "proxyapi.repl_help"
local errors = require "proxyapi.errors"
local endpoints = require "proxyapi.endpoints"

local quote = helper.quote

local function read(path)
  local f = assert(io.open(path))
  local text = f:read("a")
  f:close()
  return text
end

local function write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

local function tempdir()
  local p = assert(io.popen("mktemp -d"))
  local dir = p:read("l")
  p:close()
  return dir
end

-- metamethods that fail the spec if anything calls them
local function booby_trapped()
  local function trap()
    error("a metamethod ran", 2)
  end
  return { __index = trap, __pairs = trap, __len = trap, __tostring = trap, __call = trap }
end

describe("repl_show", function()
  it("quotes strings and escapes control bytes, and bytes of invalid UTF-8", function()
    assert.equal('"a\\nb\\t\\"c\\"\\\\"', show.value('a\nb\t"c"\\'))
    assert.equal('"\\0001\\128"', show.value("\0" .. "1\128"))
    assert.equal('"été"', show.value("été"))
  end)

  it("writes numbers so that integers and floats differ, and the specials readably", function()
    assert.equal("3\t3.0\t0.1\t1e+100", show.values(3, 3.0, 0.1, 1e100))
    assert.equal("math.huge\t-math.huge\t0/0", show.values(math.huge, -math.huge, 0 / 0))
    assert.equal("nil\ttrue\tfalse", show.values(nil, true, false))
  end)

  it("sorts keys: numbers, then names and strings, then booleans", function()
    local t = { "one", "two", [-1] = 1, [1.5] = 2, [10] = 3, zeta = 4, alpha = 5, ["x y"] = 6,
                ["end"] = 7, [true] = 8, [false] = 9 }
    assert.equal('{\n  "one", "two",\n  [-1] = 1,\n  [1.5] = 2,\n  [10] = 3,\n  alpha = 5,\n'
      .. '  ["end"] = 7,\n  ["x y"] = 6,\n  zeta = 4,\n  [false] = 9,\n  [true] = 8\n}', show.value(t))
  end)

  it("keeps small tables on one line and indents nested ones", function()
    assert.equal('{ 1, "a", t = { x = 1 } }', show.value { 1, "a", t = { x = 1 } })
    assert.equal("{}", show.value {})
  end)

  it("stops at the depth limit", function()
    assert.equal("{ a = { b = {...} } }", show.value({ a = { b = { c = 1 } } }, { depth = 2 }))
    assert.equal("{ a = { b = { c = { d = {...} } } } }", show.value { a = { b = { c = { d = { e = 1 } } } } })
  end)

  it("labels a table met again: cycles and shared tables", function()
    local t = { name = "x" }
    t.self = t
    assert.equal('<1>{ name = "x", self = <table 1> }', show.value(t))
    local shared = { 1 }
    assert.equal("{ <1>{ 1 }, <table 1>, { <table 1> } }", show.value { shared, shared, { shared } })
  end)

  it("cuts long arrays and long key lists, with a count", function()
    local big, many = {}, {}
    for i = 1, 100000 do
      big[i] = i
      many["k" .. i] = i
    end
    local text = show.value(big)
    assert.truthy(text:find("1, 2, 3,", 1, true))
    assert.equal(", 50, ... (99950 more)\n}", text:sub(-24))
    assert.falsy(text:find("51", 1, true))
    text = show.value(many)
    assert.truthy(text:find("\n  k1 = 1,\n  k10 = 10,\n", 1, true))
    assert.truthy(text:find("... (99950 more keys)", 1, true))
    assert.equal(52, select(2, text:gsub("\n", "")))
  end)

  it("cuts long strings inside tables, not at the top", function()
    local s = string.rep("x", 5000)
    assert.equal('{ "' .. string.rep("x", 10) .. '"... (5000 bytes) }', show.value({ s }, { string_bytes = 10 }))
    assert.equal(5002, #show.value(s))
  end)

  it("runs no metamethod: __index, __pairs, __len, __tostring, __call", function()
    local t = setmetatable({ a = 1 }, booby_trapped())
    assert.equal("{ a = 1 }", show.value(t))
    assert.equal("{ <1>{ a = 1 }, <table 1> }", show.value { t, t })
    local named = booby_trapped()
    named.__name = "Thing"
    assert.equal("Thing { a = 1 }", show.value(setmetatable({ a = 1 }, named)))
  end)

  it("shows functions, threads and userdata by type and address", function()
    assert.matches("^function: 0x%x+$", show.value(print))
    assert.matches("^thread: 0x%x+$", show.value(coroutine.create(print)))
    assert.matches("^FILE%* %(0x%x+%)$", show.value(io.stdout))
    assert.matches("^{ <function: 0x%x+>, <FILE%* %(0x%x+%)> }$", show.value { print, io.stdout })
  end)

  it("shows the client as proxyapi.Client (0x...), never its key", function()
    local api = proxyapi.new { app_key = "Sh0wMeN0tKey", base_url = "http://127.0.0.1:1", proxy = false }
    assert.matches("^proxyapi%.Client %(0x%x+%)$", show.value(api))
    assert.matches("^{ client = <proxyapi%.Client %(0x%x+%)> }$", show.value { client = api })
    assert.falsy(show.value({ api, api:settings() }, { depth = 10 }):find("Sh0wMeN0tKey", 1, true))
    api:close()
    assert.equal("proxyapi.Client (closed)", show.value(api))
  end)

  it("shows error objects as their tostring, one line", function()
    local err = errors.new { kind = "api", code = 3, msg = "invalid app_key", endpoint = "GET /x" }
    assert.equal("proxyapi: GET /x: api code 3: invalid app_key", show.value(err))
    assert.equal("{ [2] = <proxyapi: GET /x: api code 3: invalid app_key> }", show.value { [2] = err })
    assert.equal("nil\tproxyapi: GET /x: api code 3: invalid app_key", show.values(nil, err))
  end)
end)

describe("repl.complete", function()
  local client = proxyapi.new { app_key = "k", base_url = "http://127.0.0.1:1", proxy = false }
  local env = setmetatable({
    string = string, print = print, api = client,
    a = { b = { c = { deep = 1, deeper = print } } },
    obj = setmetatable({ own = 1 }, { __index = { method = print, field = 2, __hidden = print } }),
    trap = setmetatable({}, booby_trapped()),
    word = "text",
  }, booby_trapped())
  teardown(function()
    client:close()
  end)

  it("completes methods from the metatable's __index, with (", function()
    assert.same({ "api:list_accounts(", "api:list_cities(", "api:list_products(", "api:list_states(",
                  "api:list_static_ips(" }, repl.complete("api:li", env))
    assert.same({ "api:list_accounts(" }, repl.complete("api:list_a", env))
    assert.same({ "obj:method(" }, repl.complete("obj:", env)) -- `:` offers functions only
  end)

  it("completes fields of tables, nested, and of libraries", function()
    assert.same({ "string.format(" }, repl.complete("string.fo", env))
    assert.same({ "a.b.c.deep", "a.b.c.deeper(" }, repl.complete("a.b.c.de", env))
    assert.same({ "obj.field", "obj.method(", "obj.own" }, repl.complete("obj.", env))
    assert.same({ "obj.__hidden(" }, repl.complete("obj.__", env))
    assert.same({ "word:upper(" }, repl.complete("word:up", env)) -- strings' metatable
  end)

  it("completes the word before the cursor, inside any expression", function()
    assert.same({ "string.format(" }, repl.complete('print(#x, "y", string.fo', env))
  end)

  it("completes globals, keywords, and the stand-ins of lazy globals", function()
    local proxy_module = setmetatable({}, { __index = { product = {}, product_name = print } })
    assert.same({ "print(", "proxyapi.product" }, {
      repl.complete("pri", env)[1], repl.complete("proxyapi.produ", env, { proxyapi = proxy_module })[1] })
    assert.same({ "local" }, repl.complete("loc", env))
    assert.same({ "while" }, repl.complete("whil", env))
  end)

  it("offers nothing where there is nothing to walk", function()
    for _, line in ipairs { "1.", "x = 1.5", "a..b", "a.b.:", "missing.x", "word.x", "trap.x", "a.b:c.d", ".a" } do
      assert.same({}, repl.complete(line, env), line)
    end
  end)

  it("runs nothing: __index functions of tables and of the globals are not called", function()
    assert.same({}, repl.complete("trap.", env))
    assert.same({}, repl.complete("nothing_here", env))
  end)

  it("completes api before its first use, from the session's stand-in", function()
    local session = repl.start({}, { getenv = function() end })
    assert.same({ "api:list_accounts(" }, session.complete("api:list_a"))
    assert.same({ "proxyapi.product", "proxyapi.product_name(" }, session.complete("proxyapi.produ"))
  end)
end)

describe("the history", function()
  it("is in XDG_STATE_HOME, else in ~/.local/state, else nowhere", function()
    local function env(t)
      return function(name)
        return t[name]
      end
    end
    assert.equal("/s/proxyapi/repl_history", repl.history_path(env { XDG_STATE_HOME = "/s", HOME = "/h" }))
    assert.equal("/h/.local/state/proxyapi/repl_history", repl.history_path(env { HOME = "/h" }))
    assert.equal("/h/.local/state/proxyapi/repl_history",
      repl.history_path(env { XDG_STATE_HOME = "relative", HOME = "/h" }))
    assert.is_nil(repl.history_path(env {}))
  end)

  it("is made with a 0700 folder and a 0600 file", function()
    local dir = tempdir()
    local path = dir .. "/a/b/proxyapi/repl_history"
    assert.equal(path, repl.open_history(path))
    assert.equal(448, core.stat(dir .. "/a/b/proxyapi").mode) -- 0700
    assert.equal(448, core.stat(dir .. "/a").mode)
    assert.equal(384, core.stat(path).mode) -- 0600
    assert.equal(path, repl.open_history(path)) -- again: it exists
    os.execute("rm -rf " .. quote(dir))
  end)

  it("is refused when group or others may read it, or when it is no file", function()
    local dir = tempdir()
    local path = dir .. "/repl_history"
    write(path, "old\n")
    os.execute("chmod 644 " .. quote(path))
    local ok, msg = repl.open_history(path)
    assert.is_nil(ok)
    assert.equal("history file " .. path .. " can be read by group or others (mode 644): not loaded or "
      .. "written; allow only its owner: chmod 600 " .. path, msg)
    os.execute("chmod 604 " .. quote(path))
    assert.is_nil(repl.open_history(path))
    os.execute("rm " .. quote(path) .. " && mkdir " .. quote(path))
    ok, msg = repl.open_history(path)
    assert.is_nil(ok)
    assert.equal("history file " .. path .. " is a directory: not used", msg)
    os.execute("rm -rf " .. quote(dir))
  end)

  it("keeps out lines that hold a secret, raw or percent-encoded", function()
    local keep = repl.history_filter("K3y+Value/9", nil, "")
    assert.is_true(keep("x = 1"))
    assert.is_false(keep('k = "K3y+Value/9"'))
    assert.is_false(keep("K3y+Value/9"))
    assert.is_false(keep("url = '...?app_key=K3y%2BValue%2F9'"))
    assert.is_true(keep("K3y+Value/")) -- a part of it is no secret
    assert.is_true(keep("3y+Value/9 K3y+Value/8"))
  end)

  it("keeps out app_key given or compared to a string literal", function()
    local keep = repl.history_filter()
    for _, line in ipairs { 'proxyapi.new{app_key = "abc"}', "o['app_key']='x'", 'o["app_key"] = [[x]]',
                            'APP_KEY = "q"', 'if s.app_key == "x" then end', '{"app_key": "z"}' } do
      assert.is_false(keep(line), line)
    end
    for _, line in ipairs { "app_key = key", 'app_key = os.getenv "K"', "print(app_key)", "" } do
      assert.is_true(keep(line), line)
    end
  end)

  it("takes the key file of --app-key-file from arg, with a script or without", function()
    local dir = tempdir()
    local file = dir .. "/key"
    write(file, "  FileKeyZ42\n")
    os.execute("chmod 600 " .. quote(file))
    local getenv = function() end
    local with_script = repl.start({ arg = { [-3] = "pxlua", [-2] = "--app-key-file", [-1] = file, [0] = "s.lua" } },
      { getenv = getenv })
    local without = repl.start({ arg = { [0] = "pxlua", "--app-key-file", file, "-i" } }, { getenv = getenv })
    local after_dashes = repl.start({ arg = { [0] = "pxlua", "--", "--app-key-file", file } }, { getenv = getenv })
    os.execute("rm -rf " .. quote(dir))
    assert.is_false(with_script.remember("x = 'FileKeyZ42'"))
    assert.is_false(without.remember("FileKeyZ42"))
    assert.is_true(without.remember("x = 1"))
    assert.is_true(after_dashes.remember("FileKeyZ42"))
  end)

  it("takes the key of PROXYAPI_APP_KEY", function()
    local session = repl.start({}, { getenv = function(name)
      return name == "PROXYAPI_APP_KEY" and "EnvKey77" or nil
    end })
    assert.is_false(session.remember("print('EnvKey77')"))
    assert.is_true(session.remember("print('EnvKey')"))
    assert.is_nil(session.history) -- not a terminal: no history file
  end)

  it("takes the key of the global client, wherever it came from (a profile, say)", function()
    local env = {}
    local session = repl.start(env, { getenv = function() end })
    assert.is_true(session.remember("x = 'ProfKey55'")) -- no client yet
    env.api = require("proxyapi").new { app_key = "ProfKey55", base_url = "http://127.0.0.1:9", proxy = false }
    assert.is_false(session.remember("x = 'ProfKey55'"))
    assert.is_false(session.remember("x = 'profkey55'")) -- every spelling the scrubber knows
    assert.is_true(session.remember("x = 'ProfKey'"))
    env.api:close()
  end)
end)

describe("help", function()
  it("lists every method with its summary, and how to get more", function()
    local text = help.text()
    for name, ep in pairs(endpoints) do
      assert.truthy(text:find("\n  " .. name .. " +" .. ep.summary:sub(1, 12):gsub("%p", "%%%0")), name)
      if ep.paged then
        assert.truthy(text:find("\n  " .. ep.paged.iterator .. " ", 1, true))
      end
    end
    for _, name in ipairs { "call", "map", "check_proxies", "settings", "close" } do
      assert.truthy(text:find("\n  " .. name .. " +%u"), name)
    end
    assert.truthy(text:find('help "NAME"', 1, true))
  end)

  it("shows a method's arguments, result and example from the endpoint table", function()
    local text = help.text("add_accounts")
    local ep = endpoints.add_accounts
    assert.equal("api:add_accounts(accounts, {remark =, product_type =})", text:match("^[^\n]+"))
    for _, piece in ipairs { ep.summary, ep.args[1].doc, ep.args[2].doc, ep.args[3].doc, ep.returns, ep.usage } do
      assert.truthy(text:find(piece, 1, true), piece)
    end
    assert.equal(help.text("add_accounts"), help.text("api:add_accounts"))
    assert.equal(help.text("list_accounts"), help.text(core.Client.list_accounts))
    assert.equal("no help for nope: help() lists the methods", help.text("nope"))
  end)

  it("is the prompt's global help, unless the script made one", function()
    local env = {}
    repl.start(env, {})
    assert.equal(help.help, env.help)
    local mine = function() end
    env = { help = mine }
    repl.start(env, {})
    assert.equal(mine, env.help)
  end)
end)

-- ---------------------------------------------------------------------
-- The real prompt in a terminal: each pxlua runs in a tmux server of
-- its own, in a scratch HOME; every wait is bounded.

local PXLUA = helper.PXLUA
if PXLUA:sub(1, 1) ~= "/" then
  local p = assert(io.popen("pwd"))
  PXLUA = p:read("l") .. "/" .. PXLUA:gsub("^%./", "")
  p:close()
end
local WAIT = 15 -- seconds, at most, for anything to show on the screen

local Term = {}
Term.__index = Term

-- pxlua with `args`, in a terminal 120x50, HOME and XDG_STATE_HOME in
-- `dir`; the pane stays after pxlua ends, showing its exit status.
local function terminal(dir, args, env)
  local sock = dir .. "/tmux.sock"
  local command = "env -i PATH=/usr/bin:/bin TERM=screen LANG=C.UTF-8 no_proxy=127.0.0.1 HOME=" .. quote(dir)
    .. " XDG_STATE_HOME=" .. quote(dir .. "/state") .. " " .. (env or "") .. " " .. PXLUA .. " " .. args
    .. "; echo PXLUA-EXIT=$?; exec sleep 120"
  assert(os.execute("tmux -f /dev/null -S " .. quote(sock) .. " new-session -d -x 120 -y 50 "
    .. quote(command)))
  return setmetatable({ sock = sock }, Term)
end

function Term:tmux(args)
  return os.execute("tmux -S " .. quote(self.sock) .. " " .. args .. " > /dev/null 2>&1")
end

function Term:screen()
  -- -J joins wrapped lines, -N keeps the space after an empty prompt
  local p = assert(io.popen("tmux -S " .. quote(self.sock) .. " capture-pane -p -J -N -S - 2>/dev/null"))
  local text = p:read("a")
  p:close()
  return text
end

--- Waits until ready(screen) is true; returns the screen.
function Term:wait(ready, what)
  local deadline = socket.gettime() + WAIT
  repeat
    local screen = self:screen()
    if ready(screen) then
      return screen
    end
    socket.sleep(0.05)
  until socket.gettime() > deadline
  error("the terminal never showed " .. what .. ":\n" .. self:screen(), 3)
end

local function count(screen, text)
  return select(2, screen:gsub(text:gsub("%p", "%%%0"), ""))
end

--- Waits until the screen holds `text` (plain) `n` times (default 1).
function Term:wait_for(text, n)
  return self:wait(function(screen)
    return count(screen, text) >= (n or 1)
  end, text)
end

-- Where the last `text` starts on the screen.
local function last(screen, text)
  local at, from = nil, 1
  while true do
    local i = screen:find(text, from, true)
    if i == nil then
      return at
    end
    at, from = i, i + 1
  end
end

function Term:type(text)
  assert(self:tmux("send-keys -l -- " .. quote(text)))
end

function Term:keys(...)
  assert(self:tmux("send-keys " .. table.concat({ ... }, " ")))
end

--- Types a line and waits for it to run: the prompt after its echo.
function Term:line(text)
  self:type(text)
  self:keys("Enter")
  return self:wait(function(screen)
    local at = last(screen, "> " .. text .. "\n")
    return at ~= nil and screen:find("\n> ", at + #text, true) ~= nil
  end, "the prompt after " .. text)
end

--- Waits for a fresh prompt after the last `text`.
function Term:prompt_after(text)
  return self:wait(function(screen)
    local at = last(screen, text)
    return at ~= nil and screen:find("\n> ", at, true) ~= nil
  end, "a prompt after " .. text)
end

function Term:close()
  self:tmux("kill-server")
end

describe("pxlua -i in a terminal", function()
  local dir, term
  before_each(function()
    dir = tempdir()
  end)
  after_each(function()
    if term then
      term:close()
      term = nil
    end
    os.execute("rm -rf " .. quote(dir))
  end)

  local function start(args, env)
    term = terminal(dir, args, env)
    term:wait_for("> ")
    return term
  end

  it("prints results readably: tables, strings, the client, errors", function()
    start("--fake -i")
    local screen = term:line('{ 1, "two", t = { x = 1.5 } }, "s"')
    -- (the terminal shows the tab between results as spaces)
    assert.truthy(screen:find('\n{ 1, "two", t = { x = 1%.5 } } +"s"\n'))
    screen = term:line("api")
    assert.truthy(screen:find("\nproxyapi%.Client %(0x%x+%)\n"))
    screen = term:line('api:call("GET", "/nope")')
    assert.truthy(screen:find("\nnil +proxyapi: GET /nope: http 404: api code 404: not found\n"))
    term:keys("C-d")
    term:wait_for("PXLUA-EXIT=0")
  end)

  it("completes with Tab: api:list_a becomes api:list_accounts(, and runs", function()
    start("--fake -i")
    term:type("api:list_a")
    term:keys("Tab")
    term:wait_for("> api:list_accounts(")
    term:type(")")
    term:keys("Enter")
    local screen = term:wait_for("\n}\n> ")
    assert.truthy(screen:find('username = "', 1, true))
    term:type("proxyapi.produ")
    term:keys("Tab")
    term:wait_for("> proxyapi.product")
    term:keys("C-u")
    term:type("api:li")
    term:keys("Tab") -- the common part; readline lists at the second Tab after it
    term:wait_for("> api:list_")
    term:keys("Tab", "Tab")
    screen = term:wait_for("api:list_static_ips(")
    assert.truthy(screen:find("api:list_cities(", 1, true))
  end)

  it("runs multi-line statements; Ctrl-C drops a statement or stops one, Ctrl-D leaves", function()
    start("--fake -i")
    term:type("for i = 1, 3 do")
    term:keys("Enter")
    term:wait_for(">> ")
    term:type("print(i * 10)")
    term:keys("Enter")
    term:wait_for(">> ", 2)
    term:type("end")
    term:keys("Enter")
    local screen = term:wait_for("\n30\n> ")
    assert.truthy(screen:find("\n10\n20\n30\n", 1, true))
    term:type("do")
    term:keys("Enter")
    term:wait_for(">> ", 3)
    term:type("dropped = 1")
    term:keys("C-c")
    term:prompt_after(">> dropped = 1")
    screen = term:line("dropped")
    assert.truthy(screen:find("\n> dropped\nnil\n", 1, true))
    term:type("while true do end")
    term:keys("Enter")
    term:wait_for("> while true do end\n")
    socket.sleep(0.1) -- it runs
    term:keys("C-c")
    term:prompt_after("interrupted!")
    screen = term:line("6 * 7")
    assert.truthy(screen:find("\n42\n", 1, true))
    term:keys("C-d")
    term:wait_for("PXLUA-EXIT=0")
  end)

  it("has help()", function()
    start("--fake -i")
    local screen = term:line("help()")
    assert.truthy(screen:find("\n  list_accounts +Lists the proxy sub%-accounts%.\n"))
    screen = term:line('help "list_accounts"')
    assert.truthy(screen:find("\napi:list_accounts()\n", 1, true))
    assert.truthy(screen:find("\nReturns: " .. endpoints.list_accounts.returns, 1, true))
  end)

  it("keeps the history in a 0600 file, without the key lines, and loads it again", function()
    start("--fake -i", "PROXYAPI_APP_KEY=PtyEnvKey55")
    for _, line in ipairs { "first = 1", 'k = "PtyEnvKey55"', 'x = { app_key = "literal" }', "last = 2" } do
      term:line(line)
    end
    term:keys("C-d")
    term:wait_for("PXLUA-EXIT=0")
    term:close()
    local path = dir .. "/state/proxyapi/repl_history"
    assert.equal("first = 1\nlast = 2\n", read(path))
    assert.equal(384, core.stat(path).mode) -- 0600
    assert.equal(448, core.stat(dir .. "/state/proxyapi").mode) -- 0700
    start("--fake -i")
    term:keys("Up")
    term:wait_for("> last = 2")
    term:keys("Enter")
    term:prompt_after("> last = 2\n")
    term:keys("C-d")
    term:wait_for("PXLUA-EXIT=0")
    assert.equal("first = 1\nlast = 2\n", read(path)) -- a repeated line is not added
  end)

  it("keeps the line holding the key file's content out of the history", function()
    write(dir .. "/key", "PtyFileKey66\n")
    os.execute("chmod 600 " .. quote(dir .. "/key"))
    start("--app-key-file " .. quote(dir .. "/key") .. " --base-url http://127.0.0.1:1 -i")
    term:line("s = 'PtyFileKey66'")
    term:line("kept = true")
    term:keys("C-d")
    term:wait_for("PXLUA-EXIT=0")
    assert.equal("kept = true\n", read(dir .. "/state/proxyapi/repl_history"))
  end)

  it("refuses a history file that others can read: a warning, not loaded, not written", function()
    os.execute("mkdir -p " .. quote(dir .. "/state/proxyapi"))
    local path = dir .. "/state/proxyapi/repl_history"
    write(path, "old line\n")
    os.execute("chmod 644 " .. quote(path))
    start("--fake -i")
    term:wait_for("can be read by group or others (mode 644)")
    term:keys("Up")
    term:line("new = 1")
    term:keys("C-d")
    local screen = term:wait_for("PXLUA-EXIT=0")
    assert.falsy(screen:find("old line", 1, true))
    assert.equal("old line\n", read(path))
  end)
end)
