-- proxyapi.notify and core.spawn: webhooks POSTed over real HTTP to a
-- receiver in a child process, with retries and timeouts; commands run
-- without a shell, with exactly the environment given, killed on timeout.
local notify = require "proxyapi.notify"
local rules = require "proxyapi.rules"
local core = require "proxyapi.core"
local cjson = require "cjson"
local helper = require "helper"
local wh = require "watch_helper"

local function firing()
  return rules.firing { rule = "near-cap", subject = { account = "shop01" }, profile = "acme",
                        values = { usage_percent = 93.5, usage_gb = 9.35, status = 1 }, period_key = "2031-05",
                        time = 1936526400 }
end

local function slurp(path)
  local f = io.open(path)
  if not f then
    return nil
  end
  local s = f:read("a")
  f:close()
  return s
end

describe("notify webhook", function()
  local receiver
  after_each(function()
    if receiver then
      receiver:stop()
      receiver = nil
    end
  end)

  it("POSTs the notification as one JSON object and returns true on 2xx", function()
    receiver = wh.start_receiver("204")
    local n = notify.new { proxy = false }
    local body = rules.notification(firing())
    assert.same({ true }, { n:webhook(receiver.url .. "?token=t0k3n", body) })
    n:close()
    local got = receiver:requests()
    assert.equal(1, #got)
    assert.equal("POST", got[1].method)
    assert.equal("/hook?token=t0k3n", got[1].path)
    assert.equal("application/json", got[1].headers["content-type"])
    assert.matches("^proxyapi/", got[1].headers["user-agent"])
    assert.same(cjson.decode(cjson.encode(body)), got[1].json)
    assert.equal(firing().id, got[1].json.id)
    assert.is_nil(got[1].body:find("app_key", 1, true))
  end)

  it("retries 503 with the same body, and gives up after its retries", function()
    receiver = wh.start_receiver("503,503,200")
    local n = notify.new { proxy = false, retries = 2, retry_backoff = 0.01 }
    assert.is_true(n:webhook(receiver.url, rules.notification(firing())))
    local got = receiver:requests()
    assert.equal(3, #got)
    assert.equal(got[1].body, got[3].body)
    local fewer = notify.new { proxy = false, retries = 1, retry_backoff = 0.01 }
    local ok, err, attempts = fewer:webhook(receiver.url, { id = "x" }) -- the receiver now answers 200
    assert.same({ true, nil, nil }, { ok, err, attempts })
  end)

  it("does not retry a 4xx, and names only the host in its message", function()
    receiver = wh.start_receiver("404")
    local n = notify.new { proxy = false, retries = 3, retry_backoff = 0.01 }
    local ok, err, attempts = n:webhook("http://user:pw@127.0.0.1:" .. receiver.port .. "/s3cr3t?token=t0k3n",
      { id = "x" })
    assert.is_nil(ok)
    assert.equal("webhook 127.0.0.1:" .. receiver.port .. ": HTTP 404", err)
    assert.equal(1, attempts)
    assert.equal(1, #receiver:requests())
  end)

  it("times out a receiver that does not answer, and reports a refused connection", function()
    receiver = wh.start_receiver("slow")
    local n = notify.new { proxy = false, timeout = 0.3, retries = 0 }
    local ok, err = n:webhook(receiver.url, { id = "x" })
    assert.is_nil(ok)
    assert.matches("^webhook 127%.0%.0%.1:%d+: timeout: ", err)
    local port = helper.refused_port()
    local ok2, err2, attempts = notify.new({ proxy = false, retries = 2, retry_backoff = 0.01 })
      :webhook("http://127.0.0.1:" .. port .. "/", { id = "x" })
    assert.is_nil(ok2)
    assert.matches("^webhook 127%.0%.0%.1:" .. port .. ": network: ", err2)
    assert.equal(3, attempts)
  end)

  it("starts nothing after an interrupt", function()
    receiver = wh.start_receiver("204")
    core.set_interrupted(true)
    local ok, err = notify.new({ proxy = false }):webhook(receiver.url, { id = "x" })
    core.set_interrupted(false)
    assert.is_nil(ok)
    assert.matches("interrupted before delivery", err)
    assert.equal(0, #receiver:requests())
  end)
end)

describe("notify command", function()
  it("runs argv without a shell, with exactly the environment given", function()
    local out = wh.tmp()
    local n = notify.new { base_env = { PATH = "/usr/bin:/bin", HOME = "/nonexistent", LANG = "C.UTF-8",
                                        PROXYAPI_APP_KEY = "sekrit", PROXYAPI_BASE_URL = "http://x" } }
    local env = rules.command_env(firing(), n.base_env)
    assert.is_true(n:command({ "/usr/bin/env" }, env, { output = out }))
    local lines = {}
    for line in slurp(out):gmatch("[^\n]+") do
      lines[#lines + 1] = line
    end
    table.sort(lines)
    assert.same({ "HOME=/nonexistent", "LANG=C.UTF-8", "PATH=/usr/bin:/bin", "PROXYAPI_ACCOUNT=shop01",
                  "PROXYAPI_ID=" .. firing().id, "PROXYAPI_PERIOD=2031-05", "PROXYAPI_PROFILE=acme",
                  "PROXYAPI_RULE=near-cap", "PROXYAPI_STATUS=1",
                  "PROXYAPI_TIME=" .. os.date("!%Y-%m-%dT%H:%M:%SZ", 1936526400),
                  "PROXYAPI_USAGE_GB=9.35", "PROXYAPI_USAGE_PERCENT=93.5" }, lines)
    assert.equal(os.date("!%Y-%m-%dT%H:%M:%SZ", 1936526400), env.PROXYAPI_TIME)
    os.remove(out)
    -- shell syntax in an argument is only text
    out = wh.tmp()
    local marker = wh.tmp()
    assert.is_true(n:command({ "/bin/echo", "$(touch " .. marker .. ")", ";", "|" }, {}, { output = out }))
    assert.equal("$(touch " .. marker .. ") ; |\n", slurp(out))
    assert.is_nil(io.open(marker))
    os.remove(out)
  end)

  it("never passes the process's app_key on, whatever the environment holds", function()
    local out = wh.tmp()
    local code = string.format([[
      package.path = "./lua/?.lua;./lua/?/init.lua;" .. package.path
      package.cpath = "./build/?.so;" .. package.cpath
      local notify, rules = require "proxyapi.notify", require "proxyapi.rules"
      local n = notify.new()
      local f = rules.firing { rule = "r", subject = { account = "a1" }, period_key = "ever", time = 0 }
      assert(n:command({ "/usr/bin/env" }, rules.command_env(f, n.base_env), { output = %q }))
    ]], out)
    local status, _, err = helper.run("PROXYAPI_APP_KEY=sekrit0key PROXYAPI_BASE_URL=http://127.0.0.1:1 " ..
      "OTHER_SECRET=x lua5.4 -e " .. helper.quote(code))
    assert.equal(0, status, err)
    local text = slurp(out)
    os.remove(out)
    assert.is_nil(text:find("sekrit0key", 1, true))
    assert.is_nil(text:find("OTHER_SECRET", 1, true))
    assert.is_nil(text:find("PROXYAPI_BASE_URL", 1, true))
    assert.matches("\nPROXYAPI_ACCOUNT=a1\n", "\n" .. text)
    assert.matches("PATH=", text)
  end)

  it("reports a non-zero exit, a signal, a missing file and bad arguments", function()
    local n = notify.new()
    assert.same({ nil, "command /bin/sh: exit status 3" }, { n:command({ "/bin/sh", "-c", "exit 3" }, {}) })
    assert.same({ nil, "command /bin/sh: killed by signal 9" }, { n:command({ "/bin/sh", "-c", "kill -9 $$" }, {}) })
    assert.same({ nil, "command /nonexistent/page-me: No such file or directory" },
      { n:command({ "/nonexistent/page-me" }, {}) })
    assert.has_error(function() core.spawn({ "page-me" }, {}) end,
      "bad argument #1 to 'spawn' (argv[1] must be an absolute path)")
    assert.has_error(function() core.spawn({ "/bin/true" }, { ["A=B"] = "x" }) end,
      "bad argument #2 to 'spawn' (environment name 'A=B': no '=' and not empty)")
    assert.has_error(function() core.spawn({ "/bin/true", "a\0b" }, {}) end,
      "bad argument #1 to 'spawn' (argv item: a string without NUL expected)")
  end)

  it("kills a command that runs past its timeout, with its children", function()
    local pids = wh.tmp()
    local n = notify.new { command_timeout = 0.5 }
    local ok, err = n:command({ "/bin/sh", "-c", "sleep 30 & echo $! > " .. pids .. "; wait" }, {})
    assert.same({ nil, "command /bin/sh: timed out after 0.5 s" }, { ok, err })
    local child = tonumber(slurp(pids))
    assert.is_number(child)
    -- the whole group got the signal: the grandchild is gone (or a zombie of init)
    local alive = os.execute("kill -0 " .. child .. " 2>/dev/null && ! grep -q '^State:.*Z' /proc/" .. child ..
      "/status")
    assert.is_falsy(alive)
    os.remove(pids)
  end)
end)
