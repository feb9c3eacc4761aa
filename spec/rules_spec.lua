-- Watch rules: the when language, checking a profile's rules, the
-- variables of accounts and packages, the at-most-once decision and what
-- a notification carries.
local rules = require "proxyapi.rules"
local when = require "proxyapi.when"
local cjson = require "cjson"

local GB = 1024 * 1024 -- KB in a GB

local function holds(text, values)
  return assert(rules.parse(text)):eval(values)
end

describe("rules.parse", function()
  it("parses comparisons, and, or, not, parentheses, integers and decimals", function()
    local cond = assert(rules.parse("usage_gb > -1.5 and not (status ~= 1) or day_gb != 2"))
    assert.same({ "day_gb", "status", "usage_gb" }, cond:variables())
    assert.equal("account", cond:kind())
    assert.equal("usage_gb > -1.5 and not (status ~= 1) or day_gb != 2", cond.source)
  end)

  it("evaluates every comparison operator", function()
    local v = { usage_gb = 5 }
    local cases = { { "<", 4, false }, { "<", 6, true }, { "<=", 5, true }, { "<=", 4.99, false },
                    { ">", 4, true }, { ">", 5, false }, { ">=", 5, true }, { ">=", 5.01, false },
                    { "==", 5, true }, { "==", 5.5, false }, { "~=", 5, false }, { "~=", 4, true },
                    { "!=", 5, false }, { "!=", 4, true } }
    for _, c in ipairs(cases) do
      assert.equal(c[3], holds("usage_gb " .. c[1] .. " " .. c[2], v), "usage_gb " .. c[1] .. " " .. c[2])
      -- the number may come first
      local mirrored = ({ ["<"] = ">", ["<="] = ">=", [">"] = "<", [">="] = "<=" })[c[1]] or c[1]
      assert.equal(c[3], holds(c[2] .. " " .. mirrored .. " usage_gb", v))
    end
    assert.is_true(holds("day_gb <= month_gb", { day_gb = 1, month_gb = 3 }))
    assert.is_true(holds("package_days_left >= -2", { package_days_left = -1.5 }))
  end)

  it("binds not tighter than and, and tighter than or; parentheses group", function()
    local v = { usage_gb = 1, day_gb = 1, status = 0 }
    assert.is_true(holds("usage_gb > 5 and day_gb > 5 or status == 0", v)) -- (F and F) or T
    assert.is_false(holds("usage_gb > 5 and (day_gb > 5 or status == 0)", v)) -- F and (F or T)
    assert.is_true(holds("usage_gb == 1 or day_gb > 5 and status == 1", v)) -- T or (F and F)
    assert.is_false(holds("not usage_gb == 1 and status == 0", v)) -- (not T) and T
    assert.is_true(holds("not (usage_gb == 1 and status == 1)", v))
    assert.is_true(holds("not not status == 0", v))
  end)

  it("makes a comparison with a missing variable unknown, which never holds", function()
    for _, text in ipairs { "package_days_left <= 3", "usage_percent >= 90", "not (usage_percent < 90)",
                            "usage_percent >= 90 or usage_gb > 100", "not (usage_percent >= 90 and status == 1)" } do
      assert.is_false(holds(text, { usage_percent = false, usage_gb = 1, status = 1 }), text)
    end
    -- unknown and false is false, unknown or true is true: the known side decides
    assert.is_true(holds("usage_percent >= 90 or usage_gb < 100", { usage_percent = false, usage_gb = 1 }))
    assert.is_true(holds("not (usage_percent >= 90 and usage_gb > 100)", { usage_gb = 1 }))
    assert.is_false(holds("usage_gb > 0", { usage_gb = "5" }))
    assert.is_false(assert(rules.parse("status == 1")):eval())
  end)

  it("reports the first problem from the left with its column", function()
    local cases = {
      { "usage_percent >= 90 x", "unexpected 'x' at column 21" },
      { "usage_percent >= x", "unknown variable 'x' at column 18 (variables: day_gb, month_gb, " ..
        "package_days_left, status, usage_gb, usage_percent)" },
      { 'status == "1"', "unexpected '\"' at column 11" },
      { "status == '1'", "unexpected ''' at column 11" },
      { "usage_gb.x > 1", "unexpected '.' at column 9" },
      { "usage_gb = 5", "unexpected '=' at column 10 (compare with '==')" },
      { "usage_gb > 5 > 3", "unexpected '>' at column 14 (comparisons do not chain; join them with 'and')" },
      { "(usage_gb > 5", "expected ')' for the '(' at column 1, got end of expression at column 14" },
      { "usage_gb >= 90)", "unexpected ')' at column 15" },
      { "", "empty expression at column 1" },
      { "  \t", "empty expression at column 1" },
      { "1 < 2", "a comparison needs a variable at column 1" },
      { "usage_gb", "expected a comparison after 'usage_gb' at column 9" },
      { "usage_gb > 1e5", "malformed number '1e5' at column 12" },
      { "usage_gb > 0x10", "malformed number '0x10' at column 12" },
      { "usage_gb > 90.", "malformed number '90.' at column 12" },
      { "usage_gb > .5", "unexpected '.' at column 12" },
      { "usage_gb > 1 and", "unexpected end of expression at column 17" },
      { "usage_gb > 1 and and", "unexpected 'and' at column 18" },
      { "not", "unexpected end of expression at column 4" },
      { "usage_gb > 1 -- comment", "unexpected '-' at column 14" },
      { "usage_gb > 1 && status == 1", "unexpected '&' at column 14" },
      { "usage_gb > 1 é", "unexpected 'é' at column 14" },
      { "é > 1", "unexpected 'é' at column 1" },
      { "日本 == 1 or x", "unexpected '日' at column 1" },
      { "status\0 == 1", "unexpected '\\x00' at column 7" },
      { "usage_gb > #x", "unexpected '#' at column 12" },
      { "usage_gb > [[1]]", "unexpected '[' at column 12" },
      { "usage_gb > true", "unknown variable 'true' at column 12 (variables: day_gb, month_gb, " ..
        "package_days_left, status, usage_gb, usage_percent)" },
    }
    for _, c in ipairs(cases) do
      local cond, err = rules.parse(c[1], "near-cap")
      assert.is_nil(cond, c[1])
      assert.equal("rule 'near-cap': when: " .. c[2], err)
    end
    assert.same({ nil, "when: unexpected 'x' at column 21" }, { rules.parse("usage_percent >= 90 x") })
  end)

  it("refuses Lua: function calls, field access, strings, code", function()
    for _, text in ipairs { "os.exit(1)", "math.floor(usage_gb) > 1", "usage_gb > tonumber('1')",
                            "(function() return true end)()", "usage_gb > 1; os.exit()", "load('x')()" } do
      local cond, err = rules.parse(text)
      assert.is_nil(cond, text)
      assert.matches("^when: ", err)
    end
  end)

  it("never runs the text as Lua (load, dofile, require are not called)", function()
    local saved = { load = _G.load, dofile = _G.dofile, loadfile = _G.loadfile, require = _G.require }
    local called
    for name in pairs(saved) do
      _G[name] = function() called = name end
    end
    local ok, cond = pcall(rules.parse, "usage_percent >= 90 and not (status == 0)")
    for name, f in pairs(saved) do
      _G[name] = f
    end
    assert.is_true(ok)
    assert.is_nil(called)
    assert.is_true(cond:eval { usage_percent = 95, status = 1 })
  end)

  it("refuses mixing account and package variables, nesting too deep, and long texts", function()
    assert.same({ nil, "rule 'x': when: mixes account variables (day_gb, usage_gb) with package variables " ..
      "(package_days_left); use two rules" },
      { rules.parse("usage_gb > 1 or package_days_left < 3 and day_gb > 1", "x") })
    local deep = ("("):rep(40) .. "usage_gb > 1" .. (")"):rep(40)
    assert.same({ nil, "when: nested deeper than 32 at column 33" }, { rules.parse(deep) })
    local nots = ("not "):rep(40) .. "usage_gb > 1"
    assert.same({ nil, "when: nested deeper than 32 at column 129" }, { rules.parse(nots) })
    assert.is_truthy(rules.parse(("("):rep(31) .. "usage_gb > 1" .. (")"):rep(31)))
    local long = ("usage_gb > 1 or "):rep(100) .. "status == 1"
    assert.same({ nil, "when: longer than 1000 characters" }, { rules.parse(long) })
    assert.same({ nil, "when: must be a string, got number" }, { rules.parse(90) })
  end)

  it("knows package rules", function()
    local cond = assert(rules.parse("package_days_left <= 3"))
    assert.equal("product", cond:kind())
    assert.same({ "package_days_left" }, cond:variables())
    assert.is_true(cond:eval { package_days_left = 2.5 })
    assert.is_false(cond:eval { package_days_left = 3.01 })
    assert.is_true(when.VARIABLES.package_days_left == "product")
  end)
end)

-- the example of the contract (README)
local EXAMPLE = {
  { name = "near-cap", when = "usage_percent >= 90", action = "notify",
    webhook = "https://hooks.example/proxy", command = "/usr/local/bin/page-me" },
  { name = "hard-cap", when = "usage_percent >= 100", action = "disable" },
  { name = "daily", when = "day_gb >= 5", action = "cap", limit = 10, period = "day" },
  { name = "expiry", when = "package_days_left <= 3", action = "notify",
    webhook = "https://hooks.example/billing", period = "ever" },
}

describe("rules.check", function()
  it("compiles the contract's example", function()
    local list = assert(rules.check(EXAMPLE, "profile 'acme'"))
    assert.equal(4, #list)
    local near, hard, daily, expiry = list[1], list[2], list[3], list[4]
    assert.same({ "near-cap", "notify", "month", "account", "https://hooks.example/proxy" },
      { near.name, near.action, near.period, near.kind, near.webhook })
    assert.same({ "/usr/local/bin/page-me" }, near.command)
    assert.same({ "hard-cap", "disable", "month" }, { hard.name, hard.action, hard.period })
    assert.same({ "cap", 10, "day" }, { daily.action, daily.limit, daily.period })
    assert.same({ "product", "ever" }, { expiry.kind, expiry.period })
    assert.is_true(near.when:eval { usage_percent = 90 })
    assert.same({}, rules.check(nil))
    assert.same({}, rules.check({}))
  end)

  it("takes an argv list as the command", function()
    local list = assert(rules.check { { name = "n", when = "status == 0", action = "notify",
                                        command = { "/usr/bin/logger", "-t", "proxy watch" } } })
    assert.same({ "/usr/bin/logger", "-t", "proxy watch" }, list[1].command)
  end)

  local function refused(rule, msg)
    local list, err, all = rules.check({ rule }, "profile 'acme'")
    assert.is_nil(list)
    assert.equal("profile 'acme': " .. msg, err)
    assert.same({ err }, all)
  end

  it("names the rule and the field in every refusal", function()
    local base = { name = "r", when = "usage_gb > 1" }
    local function with(t)
      local r = {}
      for k, v in pairs(base) do r[k] = v end
      for k, v in pairs(t) do r[k] = v end
      return r
    end
    refused({ when = "usage_gb > 1", action = "disable" }, "rule #1: name: required")
    refused({ name = "has space", when = "usage_gb > 1", action = "disable" },
      "rule #1: name: must be a letter, then letters, digits, '-' or '_' (at most 40)")
    refused({ name = ("a"):rep(41), when = "usage_gb > 1", action = "disable" },
      "rule #1: name: must be a letter, then letters, digits, '-' or '_' (at most 40)")
    refused({ name = 7, action = "disable" }, "rule #1: name: must be a letter, then letters, digits, '-' or '_' " ..
      "(at most 40)")
    refused({ name = "r", action = "disable" }, "rule 'r': when: required")
    refused(with { when = "usage_gb >", action = "disable" },
      "rule 'r': when: unexpected end of expression at column 11")
    refused(with {}, "rule 'r': action: required (disable, cap or notify)")
    refused(with { action = "delete" }, "rule 'r': action: must be disable, cap or notify, got delete")
    refused(with { action = "disable", period = "week" }, "rule 'r': period: must be day, month or ever, got week")
    refused(with { action = "disable", Action = "x" }, "rule 'r': unknown key 'Action' (keys: action, command, " ..
      "limit, name, period, webhook, when)")
    refused(with { action = "disable", [1] = "x" }, "rule 'r': unknown key 1 (keys: action, command, limit, name, " ..
      "period, webhook, when)")
    refused(with { action = "cap" }, "rule 'r': limit: required for action cap (GB, 0..102400; 0 = unlimited)")
    for _, bad in ipairs { -1, 102401, 1.5, "10", true } do
      refused(with { action = "cap", limit = bad }, "rule 'r': limit: must be an integer 0..102400 (GB), got " ..
        tostring(bad))
    end
    refused(with { action = "disable", limit = 5 }, "rule 'r': limit: only for action cap")
    refused(with { action = "notify" }, "rule 'r': action: notify needs webhook and/or command")
    for _, url in ipairs { "ftp://hooks.example/x", "https://", "https:///path", "hooks.example/x",
                           "https://hooks.example/a b", "https://hooks.example/\n", "https://user@/x", 5 } do
      refused(with { action = "notify", webhook = url }, "rule 'r': webhook: must be an http:// or https:// URL " ..
        "with a host")
    end
    refused(with { action = "notify", command = "bin/page-me" },
      "rule 'r': command: must be an absolute path or a list { \"/path\", \"arg\", ... }")
    refused(with { action = "notify", command = "/usr/bin/page-me --now" },
      "rule 'r': command: a string is one absolute path and runs without a shell; give arguments as a list, " ..
      "e.g. { \"/usr/local/bin/page-me\", \"--urgent\" }")
    refused(with { action = "notify", command = {} }, "rule 'r': command: a list of 1 to 64 strings")
    refused(with { action = "notify", command = { "page-me" } },
      "rule 'r': command: item 1 must be an absolute path (no shell, no PATH search)")
    refused(with { action = "notify", command = { "/bin/x", 5 } }, "rule 'r': command: item 2 must be a string " ..
      "without NUL")
    refused(with { action = "notify", command = { "/bin/x", x = "y" } }, "rule 'r': command: a list of strings " ..
      "(key x)")
    refused(with { action = "notify", command = true }, "rule 'r': command: must be an absolute path or a list " ..
      "of strings, got boolean")
    refused(with { action = "disable", webhook = "https://h.example/" }, "rule 'r': webhook: only for action notify")
    refused(with { action = "cap", limit = 1, command = "/bin/x" }, "rule 'r': command: only for action notify")
    refused({ name = "e", when = "package_days_left < 3", action = "disable" },
      "rule 'e': action: 'disable' acts on accounts; a package rule (package_days_left) can only notify")
  end)

  it("accepts what the checks allow at their edges", function()
    local list = assert(rules.check {
      { name = "a", when = "usage_gb > 1", action = "cap", limit = 0 },
      { name = "b", when = "usage_gb > 1", action = "cap", limit = 102400.0 },
      { name = "c_1-x", when = "usage_gb > 1", action = "notify", webhook = "HTTP://127.0.0.1:8080/hook?x=1" },
      { name = ("z"):rep(40), when = "usage_gb > 1", action = "notify", webhook = "https://u:p@h.example" },
    })
    assert.same({ 0, 102400 }, { list[1].limit, list[2].limit })
    assert.equal("integer", math.type(list[2].limit))
  end)

  it("finds duplicate names and reports every problem", function()
    local list, first, all = rules.check({
      { name = "a", when = "usage_gb > 1", action = "disable" },
      { name = "b", when = "x", action = "disable" },
      { name = "a", when = "usage_gb > 2", action = "disable" },
      "not a table",
    }, "profile 'p'")
    assert.is_nil(list)
    assert.equal("profile 'p': rule 'b': when: unknown variable 'x' at column 1 (variables: day_gb, month_gb, " ..
      "package_days_left, status, usage_gb, usage_percent)", first)
    assert.same({ first, "profile 'p': rule 'a': name: used twice (rules #1 and #3)",
                  "profile 'p': rule #4: must be a table, got string" }, all)
  end)

  it("wants a list", function()
    assert.same({ nil, "rules: must be a list of rule tables, got string", { "rules: must be a list of rule " ..
      "tables, got string" } }, { rules.check("x") })
    local _, err = rules.check { name = "a", when = "usage_gb > 1", action = "disable" }
    assert.matches("^rules: must be a list of rule tables %(key %a+%)$", err)
  end)
end)

describe("rules.values_for_account", function()
  it("converts KB and GB (GB = 1024^3 bytes) and leaves percent out for unlimited accounts", function()
    local v = rules.values_for_account({ usage_flow = 9 * GB, limit_flow = 10, status = 1 }, nil, "2026-12-02")
    assert.same({ usage_gb = 9.0, usage_percent = 90.0, status = 1 }, v)
    assert.is_true(holds("usage_percent >= 90", v))
    local unlimited = rules.values_for_account({ usage_flow = 500 * GB, limit_flow = 0, status = 0 }, nil,
      "2026-12-02")
    assert.same({ usage_gb = 500.0, usage_percent = false, status = 0 }, unlimited)
    assert.is_false(holds("usage_percent >= 90", unlimited))
    assert.is_false(holds("usage_percent >= 0", unlimited))
    assert.is_true(holds("usage_gb >= 500 and status == 0", unlimited))
    -- 1 KB over 90 %
    local just = rules.values_for_account({ usage_flow = 9 * GB + 1, limit_flow = 10 }, nil, "2026-12-02")
    assert.is_true(holds("usage_percent > 90", just))
  end)

  it("takes day_gb from the latest listed day and month_gb from today's calendar month", function()
    local days = {
      { day = "2026-12-02", flow = 3 * GB }, -- listed out of order on purpose
      { day = "2026-11-30", flow = 7 * GB },
      { day = "2026-12-01", flow = GB // 2 },
      { day = "2026-12-03", flow = 100 * GB }, -- after today: not reported yet
      { day = "bogus", flow = 1 }, { day = "2026-12-01" },
    }
    local v = rules.values_for_account({ usage_flow = 0, limit_flow = 0, status = 1 }, days, "2026-12-02")
    assert.equal(3.0, v.day_gb)
    assert.equal(3.5, v.month_gb)
    local nov = rules.values_for_account({}, days, "2026-11-30")
    assert.same({ day_gb = 7.0, month_gb = 7.0 }, nov)
    -- a month with no listed day: 0 for the month, no latest day
    local jan = rules.values_for_account({}, { { day = "2026-12-31", flow = GB } }, "2027-01-01")
    assert.same({ day_gb = 1.0, month_gb = 0.0 }, jan)
    local none = rules.values_for_account({}, {}, "2027-01-01")
    assert.same({ month_gb = 0.0 }, none)
    assert.is_false(holds("day_gb >= 0", none))
  end)

  it("defaults today to the local date and refuses a bad one", function()
    local today = os.date("%Y-%m-%d")
    local v = rules.values_for_account({}, { { day = today, flow = GB } })
    assert.same({ day_gb = 1.0, month_gb = 1.0 }, v)
    assert.has_error(function() rules.values_for_account({}, {}, "2026-02-30") end,
      "bad argument to 'values_for_account' (day \"YYYY-MM-DD\" expected, got 2026-02-30)")
    assert.equal("2026-12-01 00:00:00", rules.month_start("2026-12-24"))
    assert.equal(today:sub(1, 8) .. "01 00:00:00", rules.month_start())
  end)
end)

describe("rules.values_for_product", function()
  local variables = require "proxyapi.variables"

  it("gives fractional days until expired_at, negative once expired", function()
    local now = variables.epoch("2026-12-02 00:00:00", 0)
    assert.same({ package_days_left = 3.5 }, rules.values_for_product({ expired_at = "2026-12-05 12:00:00" }, now, 0))
    assert.same({ package_days_left = -0.25 }, rules.values_for_product({ expired_at = "2026-12-01 18:00:00" }, now, 0))
    -- UTC+8: the same wall-clock time is 8 hours earlier
    assert.same({ package_days_left = 3.5 - 8 / 24 },
      rules.values_for_product({ expired_at = "2026-12-05 12:00:00" }, now, 8 * 3600))
  end)

  it("reads expired_at in the local time zone by default", function()
    local now = os.time { year = 2027, month = 1, day = 10, hour = 12, min = 0, sec = 0 }
    assert.same({ package_days_left = 2.0 }, rules.values_for_product({ expired_at = "2027-01-12 12:00:00" }, now))
    local v = rules.values_for_product { expired_at = os.date("%Y-%m-%d %H:%M:%S", os.time() + 86400) }
    assert.is_true(v.package_days_left > 0.99 and v.package_days_left <= 1)
  end)

  it("leaves the variable out for a missing or unreal expiry", function()
    for _, bad in ipairs { nil, "", "2026-02-30 00:00:00", "2026-12-01 24:00:00", "2026-12-01", 20261201 } do
      local v = rules.values_for_product({ expired_at = bad }, 0)
      assert.same({}, v)
      assert.is_false(holds("package_days_left <= 3", v))
    end
  end)
end)

describe("rules.period_key and rules.decide", function()
  it("names the period", function()
    assert.equal("2026-12-02", rules.period_key("day", "2026-12-02"))
    assert.equal("2026-12", rules.period_key("month", "2026-12-02"))
    assert.equal("ever", rules.period_key("ever", "2026-12-02"))
    assert.equal(os.date("%Y-%m"), rules.period_key("month"))
    assert.has_error(function() rules.period_key("week", "2026-12-02") end,
      "bad argument #1 to 'period_key' (day, month or ever expected, got week)")
    assert.has_error(function() rules.period_key("day", "2026-13-01") end,
      "bad argument to 'period_key' (day \"YYYY-MM-DD\" expected, got 2026-13-01)")
  end)

  local rule = assert(rules.check { { name = "near", when = "usage_gb >= 9", action = "disable" } })[1]
  local subject = { account = "shop01" }

  it("fires, holds, re-arms or idles", function()
    assert.equal("fire", rules.decide(rule, subject, { usage_gb = 9 }, nil))
    assert.equal("fire", rules.decide(rule, subject, { usage_gb = 9 }, false))
    assert.equal("hold", rules.decide(rule, subject, { usage_gb = 9 }, { id = "x" }))
    assert.equal("rearm", rules.decide(rule, subject, { usage_gb = 1 }, { id = "x" }))
    assert.equal("rearm", rules.decide(rule, subject, {}, true)) -- unknown counts as cleared
    assert.equal("idle", rules.decide(rule, subject, { usage_gb = 1 }, nil))
  end)

  it("refuses a subject of the other kind", function()
    assert.has_error(function() rules.decide(rule, { trade_no = "1" }, {}, nil) end,
      "bad argument #2 to 'decide' (rule 'near' is about accounts)")
    assert.has_error(function() rules.decide(rule, "shop01", {}, nil) end,
      "bad argument #2 to 'decide' (subject { account = name } or { trade_no = ... } expected)")
  end)

  -- What a watch loop does with the decisions, over an in-memory history.
  local function simulate(r, rounds)
    local history, out = {}, {}
    for _, round in ipairs(rounds) do
      local key = "near\0shop01\0" .. rules.period_key(r.period, round.day)
      local decision = rules.decide(r, subject, round.values, history[key])
      if decision == "fire" then
        history[key] = true
      elseif decision == "rearm" then
        history[key] = nil
      end
      out[#out + 1] = decision
    end
    return out
  end

  local over, under = { usage_gb = 10 }, { usage_gb = 1 }

  it("fires at most once per month, again in a new month while it still holds, and after a re-arm", function()
    assert.same({ "fire", "hold", "hold", "fire", "rearm", "idle", "fire", "hold" }, simulate(rule, {
      { day = "2026-11-29", values = over }, { day = "2026-11-30", values = over },
      { day = "2026-11-30", values = over }, { day = "2026-12-01", values = over }, -- new month
      { day = "2026-12-02", values = under }, { day = "2026-12-03", values = under },
      { day = "2026-12-04", values = over }, { day = "2026-12-31", values = over },
    }))
  end)

  it("fires once per day with period day, and once until it clears with ever", function()
    local daily = assert(rules.check { { name = "d", when = "usage_gb >= 9", action = "disable", period = "day" } })[1]
    assert.same({ "fire", "hold", "fire", "fire" }, simulate(daily, {
      { day = "2026-12-01", values = over }, { day = "2026-12-01", values = over },
      { day = "2026-12-02", values = over }, { day = "2026-12-03", values = over },
    }))
    local ever = assert(rules.check { { name = "e", when = "usage_gb >= 9", action = "disable", period = "ever" } })[1]
    assert.same({ "fire", "hold", "hold", "rearm", "fire" }, simulate(ever, {
      { day = "2026-12-01", values = over }, { day = "2027-01-01", values = over },
      { day = "2028-06-01", values = over }, { day = "2028-06-02", values = under },
      { day = "2028-06-03", values = over },
    }))
  end)
end)

describe("notifications", function()
  local list = assert(rules.check(EXAMPLE))
  local near, expiry = list[1], list[4]
  local values = rules.values_for_account({ usage_flow = 9 * GB + GB // 2, limit_flow = 10, status = 1 },
    { { day = "2026-12-02", flow = GB // 4 } }, "2026-12-02")
  local t = 1796212800 -- 2026-12-02T12:00:00Z

  local function account_firing(time)
    return rules.firing { rule = near, subject = { account = "shop01" }, values = values, profile = "acme",
                          period_key = "2026-12", time = time or t }
  end

  it("gives each firing an id that is stable for the same firing and new for a later one", function()
    local a, b, c = account_firing(), account_firing(), account_firing(t + 300)
    assert.matches("^%x+$", a.id)
    assert.equal(16, #a.id)
    assert.equal(a.id, b.id)
    assert.not_equal(a.id, c.id)
    local other = rules.firing { rule = near, subject = { account = "shop02" }, values = values, profile = "acme",
                                 period_key = "2026-12", time = t }
    assert.not_equal(a.id, other.id)
    assert.same({ "near-cap", "notify", "account" }, { a.rule, a.action, a.kind })
  end)

  it("builds the webhook's JSON object", function()
    local body = rules.notification(account_firing())
    local decoded = cjson.decode(cjson.encode(body))
    assert.same({
      id = account_firing().id, rule = "near-cap", account = "shop01", profile = "acme", period = "2026-12",
      time = "2026-12-02T12:00:00Z",
      values = { usage_gb = 9.5, usage_percent = 95, status = 1, day_gb = 0.25, month_gb = 0.25 },
    }, decoded)
    -- usage_percent false (unlimited) and anything that is not a variable are left out
    local f = rules.firing { rule = near, subject = { account = "u" }, profile = "p", period_key = "ever", time = t,
                             values = { usage_percent = false, usage_gb = 2, app_key = "secret", nan = 0 / 0 } }
    assert.same({ usage_gb = 2 }, rules.notification(f).values)
  end)

  it("names the package of a package firing", function()
    local f = rules.firing { rule = expiry, subject = { trade_no = "2024011012345678", product_type = 9 },
                             values = { package_days_left = 2.25 }, profile = "acme", period_key = "ever", time = t }
    local body = rules.notification(f)
    assert.same({ "2024011012345678", 9, nil }, { body.trade_no, body.product_type, body.account })
    assert.same({ package_days_left = 2.25 }, body.values)
    local env = rules.command_env(f)
    assert.same({ "2024011012345678", "9", "2.25", nil }, { env.PROXYAPI_TRADE_NO, env.PROXYAPI_PRODUCT_TYPE,
      env.PROXYAPI_PACKAGE_DAYS_LEFT, env.PROXYAPI_ACCOUNT })
  end)

  it("gives the command PROXYAPI_* variables and drops the inherited PROXYAPI_* ones (the key among them)", function()
    local key = "k3y-" .. ("x"):rep(28)
    local env = rules.command_env(account_firing(), {
      PATH = "/usr/bin:/bin", HOME = "/home/ops", PROXYAPI_APP_KEY = key, PROXYAPI_BASE_URL = "https://api.example",
      proxyapi_app_key = key,
    })
    assert.same({
      PATH = "/usr/bin:/bin", HOME = "/home/ops",
      PROXYAPI_ID = account_firing().id, PROXYAPI_RULE = "near-cap", PROXYAPI_PROFILE = "acme",
      PROXYAPI_PERIOD = "2026-12", PROXYAPI_TIME = "2026-12-02T12:00:00Z", PROXYAPI_ACCOUNT = "shop01",
      PROXYAPI_USAGE_GB = "9.5", PROXYAPI_USAGE_PERCENT = "95", PROXYAPI_STATUS = "1",
      PROXYAPI_DAY_GB = "0.25", PROXYAPI_MONTH_GB = "0.25",
    }, env)
    for name, value in pairs(env) do
      assert.is_nil(value:find(key, 1, true), name)
    end
    local third = rules.firing { rule = near, subject = { account = "u" }, profile = "p", period_key = "ever",
                                 time = t, values = { usage_gb = 1 / 3, day_gb = 1e-9, month_gb = -0.0000001 } }
    env = rules.command_env(third)
    assert.same({ "0.333333", "0", "0" }, { env.PROXYAPI_USAGE_GB, env.PROXYAPI_DAY_GB, env.PROXYAPI_MONTH_GB })
  end)
end)
