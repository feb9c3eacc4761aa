-- Every argument rule of the contract (README), for every method of the client, on both
-- sides of each bound. A refused argument raises
-- `bad argument #n to 'fname' (...)` (no position prefix) before anything
-- is sent or changed; an accepted edge value goes out on the wire as the
-- contract says.
local helper = require "helper"

local format, rep = string.format, string.rep

describe("argument rules", function()
  local fake, api, small, dry
  local dry_lines = {}

  lazy_setup(function()
    fake = helper.start_fake()
    api = fake:client()
    small = fake:client { batch_size = 2 }
    dry = fake:client { dry_run = function(line) dry_lines[#dry_lines + 1] = line end }
  end)

  lazy_teardown(function()
    api:close()
    small:close()
    dry:close()
    fake:stop()
  end)

  before_each(function()
    fake:reset()
  end)

  --- Asserts that fn raises `bad argument #n to 'fname' (detail)` exactly
  -- (any detail when detail is nil), with no position prefix, and that
  -- nothing was sent and nothing changed.
  local function refuses(fname, n, detail, fn)
    fake:clear_log()
    local before = fake:accounts()
    local ok, msg = pcall(fn)
    assert.is_false(ok, "no error was raised")
    assert.is_string(msg)
    local prefix = format("bad argument #%d to '%s' (", n, fname)
    if detail ~= nil then
      assert.equal(prefix .. detail .. ")", msg)
    else
      assert.equal(prefix, msg:sub(1, #prefix))
      assert.equal(")", msg:sub(-1))
    end
    assert.same({}, fake:log())
    assert.same(before, fake:accounts())
  end

  --- Runs fn, which must not raise, and returns the one request it sent.
  local function sends(fn)
    fake:clear_log()
    fn()
    local log = fake:log()
    assert.equal(1, #log)
    return log[1]
  end

  --- The raw (still percent-encoded) values of a query string.
  local function query(wire)
    local q = {}
    for k, v in wire:gmatch("([^&=]+)=([^&]*)") do
      q[k] = v
    end
    return q
  end

  --- Asserts that a JSON body holds `"name":value` (value as raw JSON text).
  local function has_json(wire, name, value)
    local pattern = '"' .. name .. '":' .. value:gsub("%p", "%%%0") .. "[,}]"
    assert.is_truthy(wire:find(pattern), format("%s not in %s", name .. ":" .. value, wire))
  end

  local function add(...)
    assert.is_true(api:add_accounts { ... })
  end

  -- -------------------------------------------------------------------
  -- Names and passwords

  -- label, value, detail of the message when the name stands alone
  local BAD_NAMES = {
    { "an empty string", "", "account name: empty" },
    { "a space", "a b", "account 'a b': letters and digits only" },
    { "a hyphen", "a-b", "account 'a-b': letters and digits only" },
    { "an underscore", "a_b", "account 'a_b': letters and digits only" },
    { "a non-ASCII letter", "é", "account 'é': letters and digits only" },
    { "a full-width digit", "a１", "account 'a１': letters and digits only" },
    { "a NUL byte", "a\0b" },
    { "a trailing newline", "ab\n" },
    { "an integer", 5, "account name: string expected, got integer" },
    { "a float", 1.5 },
    { "a boolean", true },
    { "a table", {} },
    { "nil", nil },
  }

  local LONG_NAME = rep("Ab9", 333) .. "x" -- 1000 characters

  describe("names", function()
    for _, fname in ipairs { "delete_accounts", "disable_accounts", "enable_accounts" } do
      describe(fname, function()
        for _, case in ipairs(BAD_NAMES) do
          local label, value, detail = case[1], case[2], case[3]
          if type(value) ~= "table" then
            it("refuses a name with " .. label, function()
              refuses(fname, 1, type(value) == "string" and detail or nil, function() return api[fname](api, value) end)
            end)
          end
          it("refuses an array with " .. label .. " in the middle", function()
            refuses(fname, 1, type(value) == "string" and detail or nil, function()
              return api[fname](api, { "good1", value, "good2" })
            end)
          end)
        end

        it("refuses an empty array", function()
          refuses(fname, 1, "no account names given", function() return api[fname](api, {}) end)
        end)

        it("refuses a table with non-array keys", function()
          refuses(fname, 1, nil, function() return api[fname](api, { "good1", "good2", x = "good3" }) end)
          refuses(fname, 1, nil, function() return api[fname](api, { "good1", n = 1 }) end)
          refuses(fname, 1, nil, function() return api[fname](api, { name = "good1" }) end)
          refuses(fname, 1, nil, function() return api[fname](api, { [2] = "good1" }) end)
        end)

        it("refuses a bad item in a list longer than batch_size, sending no chunk", function()
          refuses(fname, 1, "account 'b 4': letters and digits only", function()
            return small[fname](small, { "b1", "b2", "b3", "b 4", "b5" })
          end)
          refuses(fname, 1, nil, function()
            return small[fname](small, { "b1", "b2", "b3", "b4", "b5", "b6", false })
          end)
        end)

        it("sends one name, an array of names, and a 1000-character name", function()
          add("Nm1:pw1", "nm2:pw2", "n3:pw3", "123:pw4")
          assert.equal("Nm1", sends(function() assert.is_true(api[fname](api, "Nm1")) end).params.accounts)
          assert.equal("nm2,n3,123", sends(function()
            assert.is_true(api[fname](api, { "nm2", "n3", "123" }))
          end).params.accounts)
          assert.equal(1000, #LONG_NAME)
          local req = sends(function() api[fname](api, LONG_NAME) end)
          assert.equal(LONG_NAME, req.params.accounts)
        end)
      end)
    end

    for _, fname in ipairs { "change_password", "change_remark", "change_limit" } do
      local second = { change_password = "pw1", change_remark = "r", change_limit = 1 }
      describe(fname, function()
        for _, case in ipairs(BAD_NAMES) do
          local label, value, detail = case[1], case[2], case[3]
          it("refuses a name with " .. label, function()
            refuses(fname, 1, detail, function() return api[fname](api, value, second[fname]) end)
          end)
        end

        it("refuses an array of names", function()
          refuses(fname, 1, nil, function() return api[fname](api, { "a1" }, second[fname]) end)
        end)

        it("accepts a 1000-character name", function()
          local req = sends(function() api[fname](api, LONG_NAME, second[fname]) end)
          assert.equal(LONG_NAME, req.params.account)
        end)
      end)
    end

    describe("usage_flow username", function()
      for _, case in ipairs(BAD_NAMES) do
        local label, value, detail = case[1], case[2], case[3]
        if value ~= nil then
          it("refuses a name with " .. label, function()
            refuses("usage_flow", 1, detail, function() return api:usage_flow { username = value } end)
          end)
        end
      end

      it("sends a good name, and a 1000-character one", function()
        assert.equal("seoteam", sends(function() api:usage_flow { username = "seoteam" } end).params.username)
        assert.equal(LONG_NAME, sends(function() api:usage_flow { username = LONG_NAME } end).params.username)
      end)
    end)

    describe("add_accounts usernames", function()
      for _, case in ipairs(BAD_NAMES) do
        local label, value, detail = case[1], case[2], case[3]
        if type(value) == "string" then
          it("refuses a \"user:pass\" string whose name has " .. label, function()
            refuses("add_accounts", 1, detail, function() return api:add_accounts { "ok1:pw1", value .. ":pw2" } end)
          end)
        end
        it("refuses a table whose username is " .. label, function()
          refuses("add_accounts", 1, type(value) == "string" and detail or nil, function()
            return api:add_accounts { "ok1:pw1", { username = value, password = "pw2" } }
          end)
        end)
      end

      it("accepts a 1000-character username", function()
        local req = sends(function() assert.is_true(api:add_accounts { LONG_NAME .. ":pw1" }) end)
        assert.equal(LONG_NAME .. ":pw1", req.params.accounts)
      end)
    end)
  end)

  -- label, value, detail after "password" (or "password of account 'x'")
  local BAD_PASSWORDS = {
    { "an empty string", "", ": empty" },
    { "a space", "p w", ": letters and digits only" },
    { "a hyphen", "p-w", ": letters and digits only" },
    { "a non-ASCII letter", "pä", ": letters and digits only" },
    { "a NUL byte", "p\0w", ": letters and digits only" },
    { "a colon", "p:w", ": letters and digits only" },
    { "an integer", 5, ": string expected, got integer" },
    { "a boolean", true },
    { "a table", {} },
    { "nil", nil, ": string expected, got no value" },
  }

  describe("passwords", function()
    describe("change_password", function()
      for _, case in ipairs(BAD_PASSWORDS) do
        local label, value, detail = case[1], case[2], case[3]
        it("refuses " .. label, function()
          refuses("change_password", 2, detail and "password" .. detail,
            function() return api:change_password("seoteam", value) end)
        end)
      end

      it("does not echo a refused password", function()
        local ok, msg = pcall(api.change_password, api, "seoteam", "Secret-Pw77")
        assert.is_false(ok)
        assert.is_nil(msg:find("Secret", 1, true))
      end)

      it("sends a 1000-character password, and digits only", function()
        local long = rep("Pw1", 333) .. "z"
        local req = sends(function() assert.is_true(api:change_password("seoteam", long)) end)
        assert.same({ account = "seoteam", password = long }, req.params)
        assert.equal(long, fake:accounts().seoteam.password)
        sends(function() assert.is_true(api:change_password("seoteam", "0123")) end)
        assert.equal("0123", fake:accounts().seoteam.password)
      end)
    end)

    describe("add_accounts", function()
      for _, case in ipairs(BAD_PASSWORDS) do
        local label, value, detail = case[1], case[2], case[3]
        if type(value) == "string" and not value:find(":", 1, true) then
          it("refuses a \"user:pass\" string with a password of " .. label, function()
            refuses("add_accounts", 1, "password of account 'new2'" .. detail,
              function() return api:add_accounts { "new1:pw1", "new2:" .. value } end)
          end)
        end
        it("refuses a table with a password of " .. label, function()
          refuses("add_accounts", 1, detail and "password of account 'new2'" .. detail,
            function() return api:add_accounts { "new1:pw1", { username = "new2", password = value } } end)
        end)
      end
    end)
  end)

  describe("accounts for add_accounts", function()
    it("sends tables and \"user:pass\" strings as \"u1:p1,u2:p2\"", function()
      local req = sends(function()
        assert.is_true(api:add_accounts { { username = "tab1", password = "Pw1" }, "str2:pw2" })
      end)
      assert.equal("tab1:Pw1,str2:pw2", req.params.accounts)
      assert.equal("Pw1", fake:accounts().tab1.password)
      assert.equal("pw2", fake:accounts().str2.password)
    end)

    it("refuses a string without a colon", function()
      refuses("add_accounts", 1, 'account #2: "user:pass" expected',
        function() return api:add_accounts { "ok1:pw1", "nocolon" } end)
    end)

    it("refuses an empty password after the colon", function()
      refuses("add_accounts", 1, "password of account 'abc': empty", function() return api:add_accounts { "abc:" } end)
    end)

    it("refuses two colons", function()
      refuses("add_accounts", 1, nil, function() return api:add_accounts { "abc:pw:x" } end)
      refuses("add_accounts", 1, nil, function() return api:add_accounts { "abc::" } end)
    end)

    it("refuses an empty username before the colon", function()
      refuses("add_accounts", 1, "account name: empty", function() return api:add_accounts { ":pw1" } end)
    end)

    for _, case in ipairs {
      { "an integer", 5, 'account #2: table or "user:pass" string expected, got integer' },
      { "a float", 1.5 },
      { "a boolean", true },
      { "a function", print },
    } do
      it("refuses an item that is " .. case[1], function()
        refuses("add_accounts", 1, case[3], function() return api:add_accounts { "ok1:pw1", case[2], "ok3:pw3" } end)
      end)
    end

    it("refuses a table item without a username or a password", function()
      refuses("add_accounts", 1, nil, function() return api:add_accounts { { password = "pw1" } } end)
      refuses("add_accounts", 1, "password of account 'u1': string expected, got no value",
        function() return api:add_accounts { { username = "u1" } } end)
      refuses("add_accounts", 1, nil, function() return api:add_accounts { { "u1", "pw1" } } end)
    end)

    it("refuses an empty array", function()
      refuses("add_accounts", 1, "no accounts given", function() return api:add_accounts {} end)
    end)

    it("refuses a table with non-array keys", function()
      refuses("add_accounts", 1, "array of accounts expected, the table has other keys",
        function() return api:add_accounts { "u1:pw1", x = "u2:pw2" } end)
      refuses("add_accounts", 1, nil, function() return api:add_accounts { username = "u1", password = "pw1" } end)
    end)

    it("refuses a non-table", function()
      refuses("add_accounts", 1, nil, function() return api:add_accounts "u1:pw1" end)
      refuses("add_accounts", 1, nil, function() return api:add_accounts(5) end)
      refuses("add_accounts", 1, nil, function() return api:add_accounts() end)
    end)

    it("refuses a bad item in a list longer than batch_size, sending no chunk", function()
      refuses("add_accounts", 1, "password of account 'b4': letters and digits only", function()
        return small:add_accounts { "b1:pw", "b2:pw", "b3:pw", "b4:p w", "b5:pw" }
      end)
      refuses("add_accounts", 1, nil, function()
        return small:add_accounts { "b1:pw", "b2:pw", "b3:pw", "b4:pw", "b5:pw", "b6" }
      end)
      for i = 1, 6 do
        assert.is_nil(fake:accounts()["b" .. i])
      end
    end)
  end)

  -- -------------------------------------------------------------------
  -- Remarks

  local CHINESE = "中"
  local GOOD_REMARKS = {
    { "64 ASCII characters", rep("a", 64) },
    { "32 Chinese characters", rep(CHINESE, 32) },
    { "31 Chinese characters and 2 ASCII", rep(CHINESE, 31) .. "ab" },
    { "an empty string", "" },
    { "32 emoji of 4 bytes each", rep("😀", 32) },
    { "U+00A0 just after the C1 range", rep("\u{A0}", 32) },
    { "printable ASCII punctuation", "~!@#$%^&*()_+-={}[]|\\:;\"'<>,.?/ `" },
  }
  local WIDTH = "remark: at most 64 width units (ASCII 1, others 2), got "
  local CONTROL = "remark: control characters are not allowed"
  local BAD_REMARKS = {
    { "65 ASCII characters", rep("a", 65), WIDTH .. "65" },
    { "33 Chinese characters", rep(CHINESE, 33), WIDTH .. "66" },
    { "31 Chinese characters and 3 ASCII", rep(CHINESE, 31) .. "abc", WIDTH .. "65" },
    { "33 emoji", rep("😀", 33) },
    { "invalid UTF-8 (a lone 0xFF)", "ok\255", "remark: invalid UTF-8" },
    { "a truncated sequence", "\228\184" },
    { "an overlong encoding", "\192\128" },
    { "a UTF-16 surrogate", "\237\160\128" },
    { "a code point above U+10FFFF", "\244\144\128\128" },
    { "a line feed", "\n", CONTROL },
    { "a tab", "a\tb", CONTROL },
    { "a NUL byte", "a\0b", CONTROL },
    { "DEL", "\127", CONTROL },
    { "U+0080", "\u{80}", CONTROL },
    { "U+0085 (NEL)", "x\u{85}", CONTROL },
    { "U+009F", "\u{9F}", CONTROL },
    { "an integer", 5, "remark: string expected, got integer" },
    { "a boolean", true },
    { "a table", {} },
  }

  describe("remark", function()
    describe("change_remark", function()
      for _, case in ipairs(GOOD_REMARKS) do
        it("accepts and sends " .. case[1], function()
          local req = sends(function() assert.is_true(api:change_remark("seoteam", case[2])) end)
          assert.same({ account = "seoteam", remark = case[2] }, req.params)
          assert.equal(case[2], fake:accounts().seoteam.remark)
        end)
      end
      for _, case in ipairs(BAD_REMARKS) do
        it("refuses " .. case[1], function()
          refuses("change_remark", 2, case[3], function() return api:change_remark("seoteam", case[2]) end)
        end)
      end
      it("refuses a missing remark", function()
        refuses("change_remark", 2, "remark: string expected, got no value",
          function() return api:change_remark("seoteam") end)
      end)
    end)

    describe("add_accounts remark option", function()
      for _, case in ipairs(GOOD_REMARKS) do
        it("accepts and sends " .. case[1], function()
          local req = sends(function() assert.is_true(api:add_accounts({ "rem1:pw1" }, { remark = case[2] })) end)
          assert.equal(case[2], req.params.remark)
          assert.equal(case[2], fake:accounts().rem1.remark)
        end)
      end
      for _, case in ipairs(BAD_REMARKS) do
        it("refuses " .. case[1], function()
          refuses("add_accounts", 2, case[3],
            function() return api:add_accounts({ "rem1:pw1" }, { remark = case[2] }) end)
        end)
      end
      it("sends no remark when it is absent", function()
        local req = sends(function() assert.is_true(api:add_accounts({ "rem1:pw1" }, {})) end)
        assert.is_nil(req.params.remark)
        assert.is_nil(req.wire:find("remark", 1, true))
      end)
    end)
  end)

  -- -------------------------------------------------------------------
  -- Limits in GB

  describe("change_limit gb", function()
    for _, case in ipairs {
      { 0, "0" }, { 1, "1" }, { 102400, "102400" }, { 5.0, "5" }, { 102400.0, "102400" }, { 0.0, "0" },
    } do
      it(format("accepts %s and sends %s", tostring(case[1]), case[2]), function()
        local req = sends(function() assert.is_true(api:change_limit("seoteam", case[1])) end)
        has_json(req.wire, "limit", case[2])
        assert.is_nil(req.wire:find("%.0"))
        assert.equal(tonumber(case[2]), fake:accounts().seoteam.limit_flow)
      end)
    end

    for _, case in ipairs {
      { "-1", -1, "limit in GB: must be from 0 to 102400, got -1" },
      { "102401", 102401, "limit in GB: must be from 0 to 102400, got 102401" },
      { "1.5", 1.5, "limit in GB: number has no integer representation" },
      { "NaN", 0 / 0 },
      { "math.huge", math.huge },
      { "-math.huge", -math.huge },
      { "math.mininteger", math.mininteger },
      { "2^53", 2 ^ 53 },
      { 'the string "5"', "5" },
      { 'the string "0"', "0" },
      { "a boolean", true },
      { "a table", {} },
      { "nil", nil, "limit in GB: integer expected, got no value" },
    } do
      it("refuses " .. case[1], function()
        refuses("change_limit", 2, case[3], function() return api:change_limit("seoteam", case[2]) end)
      end)
    end
  end)

  -- -------------------------------------------------------------------
  -- product_type and status

  -- method, argument number, call with a value, how the value goes out
  local PRODUCT_TYPE_SITES = {
    { "add_accounts", 2, function(v) return api:add_accounts({ "pt1:pw1" }, { product_type = v }) end, "json" },
    { "usage_flow", 1, function(v) return api:usage_flow { product_type = v } end, "query" },
    { "list_products", 1, function(v) return api:list_products { product_type = v } end, "query" },
    { "each_product", 1, function(v) return api:each_product { product_type = v }() end, "query" },
  }
  local STATIC_SITES = {
    { "list_static_ips", 1, function(field, v) return api:list_static_ips { [field] = v } end },
    { "each_static_ip", 1, function(field, v) return api:each_static_ip { [field] = v }() end },
  }

  local function sent_value(req, how, name)
    if how == "json" then
      return (req.wire:match('"' .. name .. '":([^,}]*)'))
    end
    return query(req.wire)[name]
  end

  describe("product_type", function()
    for _, site in ipairs(PRODUCT_TYPE_SITES) do
      local fname, n, call, how = site[1], site[2], site[3], site[4]
      describe(fname, function()
        for _, case in ipairs { { 9, "9" }, { 11, "11" }, { 14, "14" }, { 25, "25" }, { 9.0, "9" }, { 25.0, "25" } } do
          it(format("accepts %s and sends %s", tostring(case[1]), case[2]), function()
            local req = sends(function() call(case[1]) end)
            assert.equal(case[2], sent_value(req, how, "product_type"))
          end)
        end
        for _, case in ipairs {
          { "10", 10, "product_type: one of 9, 11, 14, 25 expected, got 10" },
          { "0", 0, "product_type: one of 9, 11, 14, 25 expected, got 0" },
          { "26", 26 }, { "-9", -9 }, { "9.5", 9.5 }, { "NaN", 0 / 0 },
          { 'the string "9"', "9" }, { "a boolean", true }, { "a table", {} },
        } do
          it("refuses " .. case[1], function()
            refuses(fname, n, case[3], function() return call(case[2]) end)
          end)
        end
      end)
    end

    for _, site in ipairs(STATIC_SITES) do
      local fname, n, call = site[1], site[2], site[3]
      describe(fname .. " (static IPs: 14 or 25)", function()
        for _, case in ipairs { { 14, "14" }, { 25, "25" }, { 14.0, "14" } } do
          it(format("accepts %s and sends %s", tostring(case[1]), case[2]), function()
            local req = sends(function() call("product_type", case[1]) end)
            assert.equal(case[2], query(req.wire).product_type)
          end)
        end
        for _, case in ipairs {
          { "9", 9, "product_type: one of 14, 25 expected, got 9" },
          { "11", 11, "product_type: one of 14, 25 expected, got 11" },
          { "10", 10 }, { "0", 0 }, { 'the string "14"', "14" }, { "a boolean", true },
        } do
          it("refuses " .. case[1], function()
            refuses(fname, n, case[3], function() return call("product_type", case[2]) end)
          end)
        end
      end)
    end
  end)

  describe("status", function()
    for _, site in ipairs(STATIC_SITES) do
      local fname, n, call = site[1], site[2], site[3]
      describe(fname, function()
        for _, case in ipairs { { 1, "1" }, { 2, "2" }, { 3, "3" }, { 4, "4" }, { 4.0, "4" } } do
          it(format("accepts %s and sends %s", tostring(case[1]), case[2]), function()
            local req = sends(function() call("status", case[1]) end)
            assert.equal(case[2], query(req.wire).status)
          end)
        end
        for _, case in ipairs {
          { "0", 0, "status: one of 1, 2, 3, 4 expected, got 0" },
          { "5", 5, "status: one of 1, 2, 3, 4 expected, got 5" },
          { "1.5", 1.5 }, { "-1", -1 }, { 'the string "1"', "1" }, { "a boolean", true },
        } do
          it("refuses " .. case[1], function()
            refuses(fname, n, case[3], function() return call("status", case[2]) end)
          end)
        end
      end)
    end
  end)

  -- -------------------------------------------------------------------
  -- Times

  describe("start_time and end_time", function()
    local epoch = os.time { year = 2024, month = 2, day = 29, hour = 13, min = 14, sec = 15 }
    local GOOD_TIMES = {
      { "a leap day", "2024-02-29 00:00:00", "2024-02-29 00:00:00" },
      { "the last second of a year", "2024-12-31 23:59:59", "2024-12-31 23:59:59" },
      { "a 400-year leap day", "2000-02-29 12:00:00", "2000-02-29 12:00:00" },
      { "a table with year, month and day only", { year = 2024, month = 2, day = 29 }, "2024-02-29 00:00:00" },
      { "a table with an hour", { year = 2024, month = 3, day = 1, hour = 5 }, "2024-03-01 05:00:00" },
      { "a full os.date('*t') table", os.date("*t", epoch), "2024-02-29 13:14:15" },
      { "an integer epoch, in local time", epoch, "2024-02-29 13:14:15" },
    }
    local NOT_REAL = ": not a real time"
    local FORMAT = ': "YYYY-MM-DD HH:MM:SS" expected'
    local BAD_TIMES = {
      { "February 29 of a common year", "2023-02-29 00:00:00", NOT_REAL },
      { "February 29 of 1900", "1900-02-29 00:00:00", NOT_REAL },
      { "April 31", "2024-04-31 00:00:00", NOT_REAL },
      { "month 13", "2024-13-01 00:00:00", NOT_REAL },
      { "month 0", "2024-00-10 00:00:00", NOT_REAL },
      { "day 0", "2024-01-00 00:00:00", NOT_REAL },
      { "hour 24", "2024-01-01 24:00:00", NOT_REAL },
      { "minute 60", "2024-01-01 23:60:00", NOT_REAL },
      { "second 60", "2024-01-01 23:59:60", NOT_REAL },
      { "a date without a time", "2024-01-01", FORMAT },
      { "a T separator", "2024-01-01T00:00:00", FORMAT },
      { "one-digit month", "2024-1-01 00:00:00", FORMAT },
      { "slashes", "2024/01/01 00:00:00", FORMAT },
      { "a leading space", " 2024-01-01 00:00:00", FORMAT },
      { "a trailing space", "2024-01-01 00:00:00 ", FORMAT },
      { "a zone suffix", "2024-01-01 00:00:00Z", FORMAT },
      { "an empty string", "", FORMAT },
      { "an epoch in a string", "1700000000", FORMAT },
      { "a table without day", { year = 2024, month = 1 } },
      { "a table with month 13", { year = 2024, month = 13, day = 1 }, NOT_REAL },
      { "a table naming February 29 of a common year", { year = 2023, month = 2, day = 29 }, NOT_REAL },
      { "a table with hour 24", { year = 2024, month = 1, day = 1, hour = 24 }, NOT_REAL },
      { "a table with a fractional day", { year = 2024, month = 1, day = 1.5 } },
      { "an empty table", {} },
      { "a float epoch", 1.5 },
      { "a boolean", true },
    }

    for _, field in ipairs { "start_time", "end_time" } do
      describe(field, function()
        for _, case in ipairs(GOOD_TIMES) do
          it("accepts " .. case[1], function()
            local req = sends(function() assert(api:usage_flow { [field] = case[2] }) end)
            assert.same({ [field] = case[3] }, req.params)
          end)
        end
        for _, case in ipairs(BAD_TIMES) do
          it("refuses " .. case[1], function()
            refuses("usage_flow", 1, case[3] and field .. case[3],
              function() return api:usage_flow { [field] = case[2] } end)
          end)
        end
      end)
    end

    it("percent-encodes the space and colons in the query", function()
      local req = sends(function() assert(api:usage_flow { start_time = "2024-02-29 01:02:03" }) end)
      assert.equal("2024-02-29%2001%3A02%3A03", query(req.wire).start_time)
    end)

    it("refuses start after end", function()
      refuses("usage_flow", 1, "start_time is after end_time", function()
        return api:usage_flow { start_time = "2024-01-02 00:00:00", end_time = "2024-01-01 23:59:59" }
      end)
      refuses("usage_flow", 1, "start_time is after end_time", function()
        return api:usage_flow { start_time = { year = 2024, month = 3, day = 1 }, end_time = epoch }
      end)
      refuses("usage_flow", 1, "start_time is after end_time", function()
        return api:usage_flow { start_time = epoch + 1, end_time = epoch }
      end)
    end)

    it("accepts start equal to end, and start one second before end", function()
      local req = sends(function() assert(api:usage_flow { start_time = epoch, end_time = "2024-02-29 13:14:15" }) end)
      assert.same({ start_time = "2024-02-29 13:14:15", end_time = "2024-02-29 13:14:15" }, req.params)
      req = sends(function() assert(api:usage_flow { start_time = epoch - 1, end_time = epoch }) end)
      assert.same({ start_time = "2024-02-29 13:14:14", end_time = "2024-02-29 13:14:15" }, req.params)
    end)
  end)

  -- -------------------------------------------------------------------
  -- Counts: page, size, num, life

  describe("page and size", function()
    local SITES = {
      { "list_products", function(o) return api:list_products(o) end },
      { "list_static_ips", function(o) return api:list_static_ips(o) end },
      { "each_product", function(o) return api:each_product(o)() end },
      { "each_static_ip", function(o) return api:each_static_ip(o)() end },
    }
    for _, site in ipairs(SITES) do
      local fname, call = site[1], site[2]
      for _, field in ipairs { "page", "size" } do
        describe(fname .. " " .. field, function()
          for _, case in ipairs { { 1, "1" }, { 2.0, "2" }, { 100, "100" } } do
            it(format("accepts %s and sends %s", tostring(case[1]), case[2]), function()
              local req = sends(function() call { [field] = case[1] } end)
              assert.equal(case[2], query(req.wire)[field])
            end)
          end
          for _, case in ipairs {
            { "0", 0, field .. ": must be at least 1, got 0" },
            { "-1", -1, field .. ": must be at least 1, got -1" },
            { "1.5", 1.5, field .. ": number has no integer representation" },
            { "NaN", 0 / 0 }, { "math.huge", math.huge },
            { 'the string "2"', "2" }, { "a boolean", true }, { "a table", {} },
          } do
            it("refuses " .. case[1], function()
              refuses(fname, 1, case[3], function() return call { [field] = case[2] } end)
            end)
          end
        end)
      end
    end
  end)

  describe("extract_ips num and life", function()
    for _, field in ipairs { "num", "life" } do
      describe(field, function()
        for _, case in ipairs { { 1, "1" }, { 3.0, "3" }, { 30, "30" } } do
          it(format("accepts %s and sends %s", tostring(case[1]), case[2]), function()
            local req = sends(function() api:extract_ips { [field] = case[1] } end)
            assert.equal(case[2], query(req.wire)[field])
          end)
        end
        for _, case in ipairs {
          { "0", 0, field .. ": must be at least 1, got 0" },
          { "-1", -1 }, { "1.5", 1.5 }, { "NaN", 0 / 0 }, { "math.huge", math.huge },
          { 'the string "3"', "3" }, { "a boolean", true },
        } do
          it("refuses " .. case[1], function()
            refuses("extract_ips", 1, case[3], function() return api:extract_ips { [field] = case[2] } end)
          end)
        end
      end)
    end
  end)

  -- -------------------------------------------------------------------
  -- Text parameters and lb

  describe("text parameters", function()
    -- method, argument number, parameter, call with a value, a good value
    local SITES = {
      { "extract_ips", 1, "cc", function(v) return api:extract_ips { cc = v } end, "US" },
      { "extract_ips", 1, "state", function(v) return api:extract_ips { state = v } end, "São Paulo" },
      { "extract_ips", 1, "city", function(v) return api:extract_ips { city = v } end, "New York" },
      { "extract_ips", 1, "ep", function(v) return api:extract_ips { ep = v } end, "us" },
      { "extract_ips", 1, "format", function(v) return api:extract_ips { format = v } end, "json" },
      { "list_products", 1, "trade_no", function(v) return api:list_products { trade_no = v } end, "T-1&x=2" },
      { "each_product", 1, "trade_no", function(v) return api:each_product { trade_no = v }() end, "T-1" },
      { "list_static_ips", 1, "country_code", function(v) return api:list_static_ips { country_code = v } end, "DE" },
      { "list_static_ips", 1, "trade_no", function(v) return api:list_static_ips { trade_no = v } end, "T-1" },
      { "each_static_ip", 1, "country_code", function(v) return api:each_static_ip { country_code = v }() end, "DE" },
      { "each_static_ip", 1, "trade_no", function(v) return api:each_static_ip { trade_no = v }() end, "T-1" },
      { "search_cities", 1, "country_code", function(v) return api:search_cities(v, "Texas") end, "US" },
      { "search_cities", 2, "state", function(v) return api:search_cities("US", v) end, "São Paulo" },
      { "search_states", 1, "country_code", function(v) return api:search_states(v) end, "US" },
    }
    for _, site in ipairs(SITES) do
      local fname, n, param, call, good = site[1], site[2], site[3], site[4], site[5]
      describe(fname .. " " .. param, function()
        it("sends " .. good, function()
          local req = sends(function() call(good) end)
          assert.equal(good, req.params[param])
        end)
        for _, case in ipairs {
          { "an empty string", "", param .. ": empty" },
          { "a line feed", "a\nb", param .. ": control characters are not allowed" },
          { "a tab", "a\tb" },
          { "a NUL byte", "a\0b" },
          { "DEL", "a\127b" },
          { "U+0085 (a C1 control)", "a\u{85}b" },
          { "invalid UTF-8", "a\255b" },
          { "an integer", 5, param .. ": string expected, got integer" },
          { "a boolean", true },
          { "a table", {} },
        } do
          it("refuses " .. case[1], function()
            refuses(fname, n, case[3], function() return call(case[2]) end)
          end)
        end
      end)
    end

    it("percent-encodes text in the query", function()
      local req = sends(function() api:list_products { trade_no = "T-1&x=2" } end)
      assert.equal("T-1%26x%3D2", query(req.wire).trade_no)
      req = sends(function() api:search_cities("US", "São Paulo") end)
      assert.equal("S%C3%A3o%20Paulo", query(req.wire).state)
    end)

    it("search_cities and search_states require their arguments", function()
      refuses("search_cities", 1, "country_code: string expected, got no value",
        function() return api:search_cities() end)
      refuses("search_cities", 1, nil, function() return api:search_cities(nil, "Texas") end)
      refuses("search_cities", 2, "state: string expected, got no value", function() return api:search_cities("US") end)
      refuses("search_states", 1, "country_code: string expected, got no value",
        function() return api:search_states() end)
    end)
  end)

  describe("extract_ips lb", function()
    for _, case in ipairs {
      { "a bar", "|" }, { "a line feed", "\n" }, { "CR LF", "\r\n" }, { "16 bytes", rep("-", 16) },
      { "a non-ASCII character", "é" }, { "a space", " " },
    } do
      it("accepts " .. case[1], function()
        local req = sends(function() api:extract_ips { num = 2, format = "text", lb = case[2] } end)
        assert.equal(case[2], req.params.lb)
      end)
    end
    for _, case in ipairs {
      { "an empty string", "", "lb: 1 to 16 bytes without NUL expected" },
      { "17 bytes", rep("-", 17), "lb: 1 to 16 bytes without NUL expected" },
      { "a NUL byte", "\0" },
      { "a NUL after text", "|\0" },
      { "an integer", 5 },
      { "a boolean", true },
      { "a table", {} },
    } do
      it("refuses " .. case[1], function()
        refuses("extract_ips", 1, case[3], function() return api:extract_ips { format = "text", lb = case[2] } end)
      end)
    end
  end)

  -- -------------------------------------------------------------------
  -- Options tables

  describe("options tables", function()
    local SITES = {
      { "add_accounts", 2, function(o) return api:add_accounts({ "opt1:pw1" }, o) end, "page" },
      { "usage_flow", 1, function(o) return api:usage_flow(o) end, "page" },
      { "list_products", 1, function(o) return api:list_products(o) end, "status" },
      { "each_product", 1, function(o) return api:each_product(o)() end, "username" },
      { "extract_ips", 1, function(o) return api:extract_ips(o) end, "trade_no" },
      { "list_static_ips", 1, function(o) return api:list_static_ips(o) end, "cc" },
      { "each_static_ip", 1, function(o) return api:each_static_ip(o)() end, "remark" },
    }
    for _, site in ipairs(SITES) do
      local fname, n, call, foreign = site[1], site[2], site[3], site[4]
      describe(fname, function()
        it("refuses an unknown option name", function()
          refuses(fname, n, "unknown option 'x'", function() return call { x = 1 } end)
        end)
        it("refuses an option of another method ('" .. foreign .. "')", function()
          refuses(fname, n, "unknown option '" .. foreign .. "'", function() return call { [foreign] = 1 } end)
        end)
        it("refuses a misspelt option", function()
          refuses(fname, n, nil, function() return call { product_typ = 9 } end)
        end)
        it("refuses a non-string key", function()
          refuses(fname, n, nil, function() return call { 1 } end)
        end)
        for _, case in ipairs {
          { "a string", "x", "table of options expected, got string" },
          { "an integer", 5, "table of options expected, got integer" },
          { "a boolean", true }, { "a function", print },
        } do
          it("refuses " .. case[1] .. " where the options table belongs", function()
            refuses(fname, n, case[3], function() return call(case[2]) end)
          end)
        end
        it("accepts nil and {} and sends no optional parameter", function()
          for _, opts in ipairs { false, {} } do
            local req = sends(function() call(opts or nil) end)
            if fname == "add_accounts" then
              assert.same({ accounts = "opt1:pw1" }, req.params)
              fake:reset()
            elseif fname:find("^each_") then -- the iterator asks for the first page
              assert.same({ page = "1" }, req.params)
              assert.equal("app_key=***&page=1", req.wire)
            else
              assert.same({}, req.params)
              assert.equal("app_key=***", req.wire)
            end
          end
        end)
      end)
    end
  end)

  describe("required arguments", function()
    it("the change_* methods require both arguments", function()
      refuses("change_password", 1, "account name: string expected, got no value",
        function() return api:change_password() end)
      refuses("change_password", 2, "password: string expected, got no value",
        function() return api:change_password("seoteam") end)
      refuses("change_remark", 2, nil, function() return api:change_remark("seoteam") end)
      refuses("change_limit", 2, "limit in GB: integer expected, got no value",
        function() return api:change_limit("seoteam") end)
      refuses("change_limit", 1, nil, function() return api:change_limit(nil, 5) end)
    end)

    it("the batch methods require names", function()
      for _, fname in ipairs { "delete_accounts", "disable_accounts", "enable_accounts" } do
        refuses(fname, 1, "account name or array of names expected, got no value",
          function() return api[fname](api) end)
      end
      refuses("add_accounts", 1, "array of accounts expected, got no value", function() return api:add_accounts() end)
    end)
  end)

  -- -------------------------------------------------------------------
  -- The escape hatch and map

  describe("call", function()
    it("refuses a method other than GET or POST, a path without leading /, and bad params", function()
      refuses("call", 1, nil, function() return api:call(5, "/openapi/ip/dynamic-states") end)
      refuses("call", 1, nil, function() return api:call("DELETE", "/openapi/whitelist-account/delete") end)
      refuses("call", 2, nil, function() return api:call("GET", "openapi/ip/dynamic-states") end)
      refuses("call", 2, nil, function() return api:call("GET", "/openapi/ip/dynamic-states?x=1") end)
      refuses("call", 3, nil, function() return api:call("GET", "/openapi/ip/dynamic-states", "cc=US") end)
      refuses("call", 3, nil, function() return api:call("GET", "/openapi/ip/dynamic-states", { app_key = "k" }) end)
      refuses("call", 3, nil, function() return api:call("GET", "/openapi/ip/dynamic-states", { n = 0 / 0 }) end)
      refuses("call", 3, nil, function() return api:call("GET", "/openapi/ip/dynamic-states", { [1] = "x" }) end)
    end)

    it("sends whole floats as integers", function()
      local req = sends(function() api:call("GET", "/openapi/user-product/list", { page = 2.0 }) end)
      assert.equal("2", query(req.wire).page)
      req = sends(function() api:call("POST", "/openapi/whitelist-account/change-limit",
        { account = "seoteam", limit = 7.0 }) end)
      has_json(req.wire, "limit", "7")
    end)
  end)

  describe("map", function()
    it("refuses a non-table, a non-function and unknown options", function()
      refuses("map", 1, nil, function() return api:map("x", function() end) end)
      refuses("map", 2, nil, function() return api:map({ 1 }, "f") end)
      refuses("map", 3, "unknown option 'x'", function() return api:map({ 1 }, function() end, { x = 1 }) end)
      refuses("map", 3, nil, function() return api:map({ 1 }, function() end, { concurrency = 0 }) end)
    end)
  end)

  -- -------------------------------------------------------------------
  -- Wire forms of accepted edge values

  describe("accepted values on the wire", function()
    it("change_limit(name, 5.0) puts \"limit\":5 in the JSON body", function()
      local req = sends(function() assert.is_true(api:change_limit("seoteam", 5.0)) end)
      has_json(req.wire, "limit", "5")
      has_json(req.wire, "account", '"seoteam"')
      assert.equal(5, req.params.limit)
      assert.is_nil(req.wire:find("5.0", 1, true))
    end)

    it("list_products{page = 2.0} puts page=2 in the query", function()
      local req = sends(function() assert(api:list_products { page = 2.0, size = 3.0 }) end)
      assert.equal("2", query(req.wire).page)
      assert.equal("3", query(req.wire).size)
      assert.same({ page = "2", size = "3" }, req.params)
      assert.is_nil(req.wire:find("%.0"))
    end)

    it("add_accounts sends product_type 25.0 as 25 and an empty remark as \"\"", function()
      local req = sends(function()
        assert.is_true(api:add_accounts({ "wire1:pw1" }, { product_type = 25.0, remark = "" }))
      end)
      has_json(req.wire, "product_type", "25")
      has_json(req.wire, "remark", '""')
      assert.equal(25, fake:accounts().wire1.product_type)
    end)

    it("extract_ips sends num 3.0 and life 1.0 as integers", function()
      local req = sends(function() api:extract_ips { num = 3.0, life = 1.0 } end)
      assert.same({ num = "3", life = "1" }, req.params)
    end)
  end)

  -- -------------------------------------------------------------------
  -- Messages: the standard form, exactly

  describe("messages", function()
    local CASES = {
      { "add_accounts", 1, "account 'bad name': letters and digits only",
        function() return api:add_accounts { "bad name:x" } end },
      { "add_accounts", 1, 'account #1: "user:pass" expected', function() return api:add_accounts { "abc" } end },
      { "add_accounts", 2, "unknown option 'remarks'",
        function() return api:add_accounts({ "abc:pw" }, { remarks = "x" }) end },
      { "delete_accounts", 1, "no account names given", function() return api:delete_accounts {} end },
      { "disable_accounts", 1, "account 'b c': letters and digits only",
        function() return api:disable_accounts { "a1", "b c", "d1" } end },
      { "enable_accounts", 1, "account name: empty", function() return api:enable_accounts "" end },
      { "change_password", 2, "password: letters and digits only",
        function() return api:change_password("seoteam", "p w") end },
      { "change_remark", 2, "remark: at most 64 width units (ASCII 1, others 2), got 66",
        function() return api:change_remark("seoteam", rep(CHINESE, 33)) end },
      { "change_limit", 2, "limit in GB: must be from 0 to 102400, got 102401",
        function() return api:change_limit("seoteam", 102401) end },
      { "usage_flow", 1, "start_time: not a real time",
        function() return api:usage_flow { start_time = "2023-02-29 00:00:00" } end },
      { "usage_flow", 1, "start_time is after end_time",
        function() return api:usage_flow { start_time = "2024-01-02 00:00:00", end_time = "2024-01-01 00:00:00" } end },
      { "list_products", 1, "page: must be at least 1, got 0", function() return api:list_products { page = 0 } end },
      { "each_product", 1, "size: must be at least 1, got 0", function() return api:each_product { size = 0 } end },
      { "extract_ips", 1, "unknown option 'foo'", function() return api:extract_ips { foo = 1 } end },
      { "search_cities", 2, "state: string expected, got no value", function() return api:search_cities "US" end },
      { "list_static_ips", 1, "product_type: one of 14, 25 expected, got 9",
        function() return api:list_static_ips { product_type = 9 } end },
      { "each_static_ip", 1, "status: one of 1, 2, 3, 4 expected, got 5",
        function() return api:each_static_ip { status = 5 } end },
    }
    for _, case in ipairs(CASES) do
      local fname, n, detail, fn = case[1], case[2], case[3], case[4]
      local expected = format("bad argument #%d to '%s' (%s)", n, fname, detail)
      it(expected, function()
        refuses(fname, n, detail, fn)
        assert.has_error(fn, expected)
      end)
    end

    it("carry no position prefix when called from Lua code", function()
      local ok, msg = pcall(function()
        local r = api:add_accounts { "bad name:x" }
        return r
      end)
      assert.is_false(ok)
      assert.equal("bad argument #1 to 'add_accounts' (account 'bad name': letters and digits only)", msg)
    end)
  end)

  -- -------------------------------------------------------------------
  -- dry_run changes nothing about argument checking

  describe("with dry_run = true", function()
    local CASES = {
      { "add_accounts", 1, "account 'bad name': letters and digits only",
        function() return dry:add_accounts { "bad name:x" } end },
      { "add_accounts", 2, nil, function() return dry:add_accounts({ "ok1:pw1" }, { remark = "\n" }) end },
      { "delete_accounts", 1, "account name: empty", function() return dry:delete_accounts "" end },
      { "disable_accounts", 1, nil, function() return dry:disable_accounts { "a1", 5 } end },
      { "enable_accounts", 1, "no account names given", function() return dry:enable_accounts {} end },
      { "change_password", 2, nil, function() return dry:change_password("seoteam", "") end },
      { "change_remark", 2, nil, function() return dry:change_remark("seoteam", rep("a", 65)) end },
      { "change_limit", 2, nil, function() return dry:change_limit("seoteam", -1) end },
      { "usage_flow", 1, nil, function() return dry:usage_flow { end_time = "2024-02-30 00:00:00" } end },
      { "list_products", 1, nil, function() return dry:list_products { size = 0 } end },
      { "extract_ips", 1, nil, function() return dry:extract_ips { lb = "" } end },
    }
    for _, case in ipairs(CASES) do
      it(case[1] .. " still raises", function()
        dry_lines = {}
        refuses(case[1], case[2], case[3], case[4])
        assert.same({}, dry_lines)
      end)
    end
  end)
end)
