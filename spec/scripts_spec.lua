-- The customer scripts in scripts/, each run through the real build/pxlua
-- against one fake API: what they change on the fake, which requests go out,
-- and what they print.
local helper = require "helper"
local cjson = require "cjson"

local quote = helper.quote
local KB_PER_GB = 1024 * 1024

local lines_of = helper.lines

local function int(v)
  return math.tointeger(v)
end

local function file_mode(path)
  local p = assert(io.popen("stat -c %a " .. quote(path)))
  local mode = p:read("l")
  p:close()
  return mode
end

local function slurp(path)
  local f = assert(io.open(path))
  local text = f:read("a")
  f:close()
  return text
end

describe("customer scripts", function()
  local fake, env

  lazy_setup(function()
    fake = helper.start_fake()
    env = "env -u LUA_INIT -u LUA_INIT_5_4 no_proxy=127.0.0.1 NO_PROXY=127.0.0.1"
      .. " PROXYAPI_BASE_URL=" .. quote(fake.base_url) .. " PROXYAPI_APP_KEY=" .. quote(fake.app_key)
  end)

  lazy_teardown(function()
    fake:stop()
  end)

  before_each(function()
    fake:reset()
  end)

  --- Runs scripts/NAME.lua with `args` (shell words); `flags` go to pxlua.
  local function run(name, args, flags, stdin)
    return helper.pxlua((flags or "") .. " scripts/" .. name .. ".lua " .. (args or ""), stdin or "", env)
  end

  --- The provider requests in the fake's log: all, or those with `method`.
  local function requests(method)
    local list = {}
    for _, entry in ipairs(fake:log()) do
      if method == nil or entry.method == method then list[#list + 1] = entry end
    end
    return list
  end

  --- POST counts by endpoint name ("change-password" = 2, ...).
  local function post_counts()
    local counts = {}
    for _, entry in ipairs(requests("POST")) do
      local name = entry.path:match("([^/]+)$")
      counts[name] = (counts[name] or 0) + 1
    end
    return counts
  end

  local function add_accounts(list)
    local api = fake:client()
    assert(api:add_accounts(list))
    api:close()
    fake:clear_log()
  end

  describe("every script", function()
    local usage_errors = {
      ["rotate-passwords"] = "--length short",
      ["cap-traffic"] = "--action disable",            -- no --threshold
      ["usage-report"] = "--from 2025-02-30 --to 2025-03-01",
      ["pull-ips"] = "--num 0",
      ["provision"] = "",                              -- no FILE
    }
    for name, bad_args in pairs(usage_errors) do
      local pattern = name:gsub("%-", "%%-") .. "%.lua"
      it(name .. " --help prints its usage and exits 0", function()
        local code, out, err = run(name, "--help")
        assert.equal(0, code)
        assert.matches("^Usage: " .. pattern, out)
        assert.matches("\n   %-h, %-%-help", out)
        assert.equal("", err)
        assert.same({}, requests())
      end)

      it(name .. " exits 2 on a usage error and sends nothing", function()
        local code, out, err = run(name, bad_args)
        assert.equal(2, code)
        assert.equal("", out)
        assert.matches("^Usage: " .. pattern, err)
        assert.matches("\n" .. pattern .. ": [^\n]+\n$", err)
        assert.same({}, requests())
      end)

      it(name .. " refuses its own --dry-run (pxlua's makes the dry run) and sends nothing", function()
        local code, out, err = run(name, (name == "provision" and "x.csv " or "") .. "--dry-run")
        assert.equal(2, code)
        assert.equal("", out)
        assert.matches("pxlua %-%-dry%-run " .. pattern, err)
        assert.same({}, requests())
      end)
    end

    it("demo.lua --help prints its help and runs nothing", function()
      local code, out, err = run("demo", "--help", "", "")
      assert.equal(0, code)
      assert.matches("^Usage: demo%.lua", out)
      assert.equal("", err)
      assert.same({}, requests())
    end)

    it("--help needs no key", function()
      local code, out = helper.run("env -u PROXYAPI_APP_KEY -u PROXYAPI_BASE_URL " .. helper.PXLUA
        .. " scripts/rotate-passwords.lua --help < /dev/null")
      assert.equal(0, code)
      assert.matches("%-%-resume RUN", out)
    end)
  end)

  describe("rotate-passwords", function()
    before_each(function()
      add_accounts { "teamA1:oldpw1", "teamB2:oldpw2", "other3:oldpw3" }
    end)

    it("changes only the accounts matching --match and prints their new passwords", function()
      local before = fake:accounts()
      local code, out, err = run("rotate-passwords", "--match 'team*'")
      assert.equal(0, code, err)
      assert.matches("^rotate%-passwords: 2 rotated %(journal run %d+%)\n$", err)
      local lines = lines_of(out)
      assert.equal("username,password,outcome", lines[1])
      assert.equal(3, #lines)
      local after, printed = fake:accounts(), {}
      for i = 2, #lines do
        local name, password = lines[i]:match("^(%w+),(%w+),applied$")
        assert.is_not_nil(name, lines[i])
        assert.equal(16, #password)
        assert.equal(after[name].password, password)
        assert.are_not.equal(before[name].password, password)
        printed[name] = true
      end
      assert.same({ teamA1 = true, teamB2 = true }, printed)
      for name, account in pairs(before) do
        if not printed[name] then assert.equal(account.password, after[name].password) end
      end
      assert.same({ ["change-password"] = 2 }, post_counts())
    end)

    it("understands ? in globs, --length, and writes --output with mode 0600", function()
      local path = helper.tempfile("old content\n")
      os.execute("chmod 644 " .. quote(path))
      local code, out, err = run("rotate-passwords", "--match 'team?2' --length 24 --output " .. quote(path))
      assert.equal(0, code, err)
      assert.equal("", out)
      assert.equal("600", file_mode(path))
      local lines = lines_of(slurp(path))
      os.remove(path)
      assert.equal(2, #lines)
      assert.equal("username,password,outcome", lines[1])
      local password = lines[2]:match("^teamB2,(%w+),applied$")
      assert.equal(24, #password)
      assert.equal(fake:accounts().teamB2.password, password)
    end)

    it("reports a failed change on stderr, marks its row failed and exits 3 (partial)", function()
      fake:fault { path = "/openapi/whitelist-account/change-password", code = 400, msg = "no way", times = 1 }
      local code, out, err = run("rotate-passwords", "--match 'team*'")
      assert.equal(3, code)
      local failed = err:match("^(team%w+): [^\n]*no way\n")
      assert.is_not_nil(failed, err)
      assert.matches("\nrotate%-passwords: 1 rotated, 1 failed %(journal run (%d+)%); finish with %-%-resume %1\n$",
        err)
      local lines = lines_of(out)
      assert.equal(3, #lines)
      local outcomes, after = {}, fake:accounts()
      for i = 2, 3 do
        local name, password, outcome = lines[i]:match("^(%w+),(%w+),(%a+)$")
        outcomes[name] = outcome
        if outcome == "applied" then assert.equal(password, after[name].password) end
      end
      assert.equal("failed", outcomes[failed])
      assert.equal(failed == "teamA1" and "oldpw1" or "oldpw2", after[failed].password)
    end)

    it("under pxlua --dry-run sends no POST but prints what would be set", function()
      local before = fake:accounts()
      local code, out, err = run("rotate-passwords", "", "--dry-run")
      assert.equal(0, code, err)
      assert.same({}, requests("POST"))
      assert.same(before, fake:accounts())
      local lines = lines_of(out)
      assert.equal("username,password,outcome", lines[1])
      local count = 0
      for _ in pairs(before) do count = count + 1 end
      assert.equal(count + 1, #lines)
      for i = 2, #lines do assert.matches("^%w+,%w+,dry%-run$", lines[i]) end
      assert.matches("^rotate%-passwords: dry run: nothing is changed\n", err)
      assert.matches("dry%-run: POST /openapi/whitelist%-account/change%-password", err)
      assert.matches("\nrotate%-passwords: would rotate " .. count .. "\n$", err)
      assert.is_nil(err:find(fake.app_key, 1, true))
    end)
  end)

  describe("cap-traffic", function()
    --- The enabled accounts at or over `gb`, sorted, and how many are disabled.
    local function over(accounts, gb, keep)
      local names = {}
      for name, a in pairs(accounts) do
        if a.usage_flow >= gb * KB_PER_GB and keep(a) then names[#names + 1] = name end
      end
      table.sort(names)
      return names
    end

    --- The usernames in the first column of the output's table, sorted.
    local function table_names(out)
      local names = {}
      for i, line in ipairs(lines_of(out)) do
        if i > 2 and line ~= "" and not line:find(" account%(s%) ") then
          names[#names + 1] = line:match("^(%w+) ")
        end
      end
      table.sort(names)
      return names
    end

    it("with pxlua --dry-run sends no POST, changes nothing and says what it would do", function()
      local before = fake:accounts()
      local expected = over(before, 20, function(a) return int(a.status) == 1 end)
      assert.is_true(#expected >= 2)
      local code, out, err = run("cap-traffic", "--threshold 20", "--dry-run")
      assert.equal(0, code, err)
      for _, entry in ipairs(requests()) do assert.equal("GET", entry.method) end
      assert.same(before, fake:accounts())
      assert.same(expected, table_names(out))
      local _, would = out:gsub("would disable", "")
      assert.equal(#expected + 1, would) -- the rows and the summary
      assert.matches(": would disable " .. #expected .. ", ", out)
      assert.matches("^cap%-traffic: dry run: nothing is changed\n", err)
      assert.matches("dry%-run: POST /openapi/whitelist%-account/disable", err)
    end)

    it("--json says dry_run and what each account would get", function()
      local code, out = run("cap-traffic", "--threshold 20 --action cap --limit 200 --json", "--dry-run")
      assert.equal(0, code)
      local doc = cjson.decode(out)
      assert.is_true(doc.dry_run)
      assert.is_true(#doc.accounts >= 2)
      for _, a in ipairs(doc.accounts) do assert.equal("dry-run", a.outcome) end
      assert.same({}, requests("POST"))
    end)

    it("--max-changes N changes N accounts, lists the others as left and exits 3", function()
      local code, out = run("cap-traffic", "--threshold 20 --max-changes 1")
      assert.equal(3, code)
      assert.same({ disable = 1 }, post_counts())
      assert.is_nil(requests("POST")[1].params.accounts:find(",", 1, true))
      assert.matches("left %(%-%-max%-changes%)", out)
    end)

    it("disables the enabled accounts over the threshold and skips disabled ones", function()
      local before = fake:accounts()
      local expected = over(before, 20, function(a) return int(a.status) == 1 end)
      local skipped = over(before, 20, function(a) return int(a.status) == 0 end)
      assert.is_true(#expected >= 2 and #skipped >= 1)
      local code, out, err = run("cap-traffic", "--threshold 20")
      assert.equal(0, code, err)
      assert.same(expected, table_names(out))
      assert.matches(string.format("\n%d account%%(s%%) at or over 20 GB: %d disabled, %d skipped "
        .. "%%(already disabled%%), 0 failed %%(journal run %%d+%%)\n$", #expected + #skipped, #expected,
        #skipped), out)
      local posts = requests("POST")
      assert.equal(1, #posts)
      local sent = {}
      for name in posts[1].params.accounts:gmatch("%w+") do sent[#sent + 1] = name end
      table.sort(sent)
      assert.same(expected, sent)
      local after = fake:accounts()
      for name, a in pairs(before) do
        local over_threshold = a.usage_flow >= 20 * KB_PER_GB
        assert.equal(over_threshold and 0 or int(a.status), int(after[name].status), name)
      end
    end)

    it("--action cap sets the limit, skipping accounts capped at or below it", function()
      local before = fake:accounts()
      local expected = over(before, 20, function(a) return a.limit_flow == 0 or a.limit_flow > 200 end)
      local skipped = over(before, 20, function(a) return a.limit_flow ~= 0 and a.limit_flow <= 200 end)
      assert.is_true(#expected >= 2 and #skipped >= 1)
      local code, out, err = run("cap-traffic", "--threshold 20 --action cap --limit 200")
      assert.equal(0, code, err)
      assert.same(expected, table_names(out))
      local _, capped = out:gsub("capped at 200 GB", "")
      assert.equal(#expected + 1, capped) -- the rows and the summary
      assert.same({ ["change-limit"] = #expected }, post_counts())
      local after = fake:accounts()
      for name, a in pairs(before) do
        local is_expected = false
        for _, n in ipairs(expected) do is_expected = is_expected or n == name end
        assert.equal(is_expected and 200 or int(a.limit_flow), int(after[name].limit_flow), name)
        assert.equal(int(a.status), int(after[name].status))
      end
    end)

    it("needs --limit for --action cap", function()
      local code, _, err = run("cap-traffic", "--threshold 20 --action cap")
      assert.equal(2, code)
      assert.matches("%-%-limit", err)
    end)

    it("exits 4 (the API refused) and names the accounts when the change fails", function()
      local expected = over(fake:accounts(), 20, function(a) return int(a.status) == 1 end)
      fake:fault { path = "/openapi/whitelist-account/disable", code = 400, msg = "refused", times = 1 }
      local code, out, err = run("cap-traffic", "--threshold 20")
      assert.equal(4, code)
      local names = {}
      for name in assert(err:match("failed: ([%w, ]+):")):gmatch("%w+") do names[#names + 1] = name end
      table.sort(names)
      assert.same(expected, names)
      local _, failed = out:gsub("FAILED: disable", "")
      assert.equal(#expected, failed)
    end)
  end)

  describe("usage-report", function()
    local function fake_usage(from, to, user)
      local api = fake:client()
      local list = assert(api:usage_flow { start_time = from .. " 00:00:00", end_time = to .. " 23:59:59",
                                           username = user })
      api:close()
      fake:clear_log()
      return list
    end

    it("--csv prints the fake's daily usage for --from/--to", function()
      local list = fake_usage("2025-06-25", "2025-07-05")
      local code, out, err = run("usage-report", "--csv --from 2025-06-25 --to 2025-07-05")
      assert.equal(0, code, err)
      local lines = lines_of(out)
      assert.equal("day,flow_kb", lines[1])
      assert.equal(#list + 1, #lines)
      local sum, printed = 0, 0
      for i, entry in ipairs(list) do
        assert.equal(entry.day .. "," .. entry.flow, lines[i + 1])
        sum = sum + entry.flow
        printed = printed + tonumber(lines[i + 1]:match(",(%d+)$"))
      end
      assert.is_true(sum > 0)
      assert.equal(sum, printed)
      local req = requests()[1]
      assert.equal("2025-06-25 00:00:00", req.params.start_time)
      assert.equal("2025-07-05 23:59:59", req.params.end_time)
    end)

    it("--csv --days N ends today and sums like the fake for one --user", function()
      local today = os.date("%Y-%m-%d")
      local first = os.date("%Y-%m-%d", os.time() - 4 * 86400)
      local list = fake_usage(first, today, "seoteam")
      local code, out = run("usage-report", "--csv --days 5 --user seoteam")
      assert.equal(0, code)
      local lines = lines_of(out)
      assert.equal(6, #lines)
      assert.equal(first .. ",", lines[2]:sub(1, 11))
      assert.equal(today .. ",", lines[6]:sub(1, 11))
      local expected, got = 0, 0
      for _, entry in ipairs(list) do expected = expected + entry.flow end
      for i = 2, #lines do got = got + tonumber(lines[i]:match(",(%d+)$")) end
      assert.is_true(expected > 0)
      assert.equal(expected, got)
      assert.equal("seoteam", requests()[1].params.username)
    end)

    it("--json prints the document with integers", function()
      local list = fake_usage("2025-06-28", "2025-07-02")
      local code, out = run("usage-report", "--json --from 2025-06-28 --to 2025-07-02")
      assert.equal(0, code)
      for number in out:gmatch(":%s*([%d%.eE+-]+)") do assert.matches("^%d+$", number) end
      local doc = cjson.decode(out)
      assert.equal("2025-06-28", doc.from)
      assert.equal("2025-07-02", doc.to)
      local total = 0
      assert.equal(#list, #doc.days)
      for i, entry in ipairs(list) do
        assert.same({ day = entry.day, flow_kb = entry.flow }, doc.days[i])
        total = total + entry.flow
      end
      assert.equal(total, doc.total_kb)
    end)

    it("draws a table with bars scaled to the busiest day and a total line", function()
      local list = fake_usage("2025-06-28", "2025-07-02")
      local code, out = run("usage-report", "--from 2025-06-28 --to 2025-07-02 --product-type 9")
      assert.equal(0, code)
      local lines = lines_of(out)
      assert.equal(#list + 3, #lines)
      assert.matches("^day +traffic$", lines[1])
      local full = 0
      for i = 3, #lines - 1 do
        assert.matches("^2025%-0[67]%-%d%d +[%d.]+ [KMGT]B", lines[i])
        if lines[i]:find(string.rep("█", 40), 1, true) then full = full + 1 end
      end
      assert.equal(1, full)
      assert.matches("^total [%d.]+ [KMGT]B over 5 day%(s%), 2025%-06%-28 to 2025%-07%-02$", lines[#lines])
      assert.equal("9", requests()[1].params.product_type)
    end)

    it("refuses --from without --to", function()
      local code, _, err = run("usage-report", "--from 2025-06-28")
      assert.equal(2, code)
      assert.matches("%-%-to", err)
    end)
  end)

  describe("pull-ips", function()
    it("writes N proxy URLs with the account's credentials", function()
      local account = fake:accounts().seoteam
      assert.equal(1, int(account.status))
      local code, out, err = run("pull-ips", "--num 5 --cc US --state CA --city 'San Diego' --account seoteam")
      assert.equal(0, code, err)
      local lines = lines_of(out)
      assert.equal(5, #lines)
      for _, line in ipairs(lines) do
        local user, password, ip, port = line:match("^http://(%w+):(%w+)@([%d.]+):(%d+)$")
        assert.equal("seoteam", user)
        assert.equal(account.password, password)
        assert.matches("^%d+%.%d+%.%d+%.%d+$", ip)
        assert.is_true(tonumber(port) > 0)
      end
      local extract = requests()[#requests()]
      assert.equal("/openapi/ip/v3", extract.path)
      assert.same({ "US", "CA", "San Diego", "5" },
        { extract.params.cc, extract.params.state, extract.params.city, extract.params.num })
    end)

    it("takes --scheme, and writes --output with mode 0600", function()
      local password = fake:accounts().seoteam.password
      local path = os.tmpname()
      local code, out, err = run("pull-ips", "--num 3 --cc de --account seoteam --scheme socks5h"
        .. " --output " .. quote(path))
      assert.equal(0, code, err)
      assert.equal("", out)
      assert.equal("600", file_mode(path))
      local lines = lines_of(slurp(path))
      os.remove(path)
      assert.equal(3, #lines)
      for _, line in ipairs(lines) do assert.equal("socks5h://seoteam:" .. password .. "@", line:match("^.*@")) end
    end)

    it("--as hostport and hostport-user-pass, --json", function()
      local password = fake:accounts().seoteam.password
      local code, out = run("pull-ips", "--num 2 --as hostport")
      assert.equal(0, code)
      for _, line in ipairs(lines_of(out)) do assert.matches("^[%d.]+:%d+$", line) end
      code, out = run("pull-ips", "--num 2 --as hostport-user-pass --account seoteam")
      assert.equal(0, code)
      local lines = lines_of(out)
      assert.equal(2, #lines)
      for _, line in ipairs(lines) do assert.matches("^[%d.]+:%d+:seoteam:" .. password .. "$", line) end
      code, out = run("pull-ips", "--num 2 --json")
      assert.equal(0, code)
      local doc = cjson.decode(out)
      assert.equal(2, doc.count)
      assert.is_false(doc.dry_run)
      code = run("pull-ips", "--as hostport-user-pass")
      assert.equal(2, code)
    end)

    it("under pxlua --dry-run extracts nothing and writes no file", function()
      local path = os.tmpname()
      os.remove(path)
      local code, out, err = run("pull-ips", "--num 4 --cc US --output " .. quote(path), "--dry-run")
      assert.equal(0, code, err)
      assert.equal("", out)
      assert.matches("would extract 4", err)
      assert.is_nil(io.open(path))
      for _, entry in ipairs(requests()) do assert.are_not.equal("/openapi/ip/v3", entry.path) end
    end)

    it("prints bare URLs without credentials", function()
      local code, out = run("pull-ips", "--num 2")
      assert.equal(0, code)
      local lines = lines_of(out)
      assert.equal(2, #lines)
      for _, line in ipairs(lines) do assert.matches("^http://[%d.]+:%d+$", line) end
    end)

    it("exits 2 naming a bad cc, state or city, before extracting anything", function()
      for args, bad in pairs { ["--cc ZZ"] = "'ZZ'", ["--cc US --state QQ"] = "'QQ'",
                               ["--cc US --state CA --city Paris"] = "'Paris'",
                               ["--cc US --city Atlantis"] = "'Atlantis'" } do
        fake:clear_log()
        local code, out, err = run("pull-ips", args)
        assert.equal(2, code, args)
        assert.equal("", out)
        assert.matches("^pull%-ips: unknown [a-z ]+ " .. bad, err)
        for _, entry in ipairs(requests()) do assert.are_not.equal("/openapi/ip/v3", entry.path) end
      end
    end)

    it("exits 2 for an unknown or a disabled account", function()
      local disabled
      for name, a in pairs(fake:accounts()) do
        if int(a.status) == 0 then disabled = name end
      end
      assert.is_not_nil(disabled)
      local code, _, err = run("pull-ips", "--account " .. disabled)
      assert.equal(2, code)
      assert.matches("disabled", err)
      code, _, err = run("pull-ips", "--account nobody9")
      assert.equal(2, code)
      assert.matches("nobody9", err)
    end)
  end)

  describe("provision", function()
    local function csv_file(text)
      return helper.tempfile(text)
    end

    it("applies a mixed CSV exactly, names the bad lines, and a second run sends nothing", function()
      local seeded = fake:accounts()
      local same, pw_changed, remark_changed = seeded.crawler, seeded.scraper7, seeded.seoteam
      local path = csv_file(table.concat({
        "username,password,remark,limit",
        string.format("crawler,%s,%s,%d", same.password, same.remark, int(same.limit_flow)),
        string.format("scraper7,newPass7,%s,%d", pw_changed.remark, int(pw_changed.limit_flow)),
        string.format("seoteam,%s,\"new, remark\",77", remark_changed.password),
        "alpha1,pwA1,team x,10",
        "beta2,pwB2",
        "bad-name,pw,,",                   -- line 7
        "gamma3,pwG3,team x,",
        "alpha1,other,,",                  -- line 9: repeated
        "delta4,pwD4,,102401",             -- line 10: limit out of range
        "eps5,pwE5,,,",                    -- line 11: five columns
        "zeta6,pwZ6," .. string.rep("长", 33), -- line 12: remark too long
      }, "\n") .. "\n")
      local code, out, err = run("provision", quote(path))
      assert.equal(3, code)
      assert.matches("\nprovision: added 3, updated 2, unchanged 1, bad rows 5 %(journal run %d+%)\n$", err)
      -- the passwords this run set, as their outcomes landed
      local printed = {}
      for i, line in ipairs(lines_of(out)) do
        if i == 1 then
          assert.equal("username,password,outcome", line)
        else
          local name, password = line:match("^(%w+),(%w+),applied$")
          printed[name] = password
        end
      end
      assert.same({ alpha1 = "pwA1", beta2 = "pwB2", gamma3 = "pwG3", scraper7 = "newPass7" }, printed)
      local bad_lines = {}
      for line in err:gmatch("[^\n]+") do
        if not line:find("^provision: ") then
          assert.equal(path .. ":", line:sub(1, #path + 1))
          bad_lines[#bad_lines + 1] = tonumber(line:sub(#path + 2):match("^(%d+): "))
        end
      end
      assert.same({ 7, 9, 10, 11, 12 }, bad_lines)
      assert.matches(":7: [^\n]*bad%-name", err)
      assert.matches(":9: [^\n]*alpha1[^\n]*line 5", err)

      local after = fake:accounts()
      assert.same(same, after.crawler)
      assert.equal("newPass7", after.scraper7.password)
      assert.equal(pw_changed.remark, after.scraper7.remark)
      assert.equal("new, remark", after.seoteam.remark)
      assert.equal(77, int(after.seoteam.limit_flow))
      assert.equal(remark_changed.password, after.seoteam.password)
      local function fields(a) return { a.password, a.remark, int(a.limit_flow) } end
      assert.same({ "pwA1", "team x", 10 }, fields(after.alpha1))
      assert.same({ "pwB2", "", 0 }, fields(after.beta2))
      assert.same({ "pwG3", "team x", 0 }, fields(after.gamma3))
      for _, name in ipairs { "bad-name", "delta4", "eps5", "zeta6" } do assert.is_nil(after[name]) end
      for name, a in pairs(seeded) do
        if name ~= "scraper7" and name ~= "seoteam" then assert.same(a, after[name]) end
      end
      assert.same({ add = 2, ["change-password"] = 1, ["change-remark"] = 1, ["change-limit"] = 2 }, post_counts())

      fake:clear_log()
      code, out, err = run("provision", quote(path))
      os.remove(path)
      assert.equal(3, code)
      assert.equal("", out)
      assert.matches("\nprovision: added 0, updated 0, unchanged 6, bad rows 5\n$", err)
      assert.same({}, requests("POST"))
      assert.same(after, fake:accounts())
    end)

    it("exits 0 for a good file without a header, twice", function()
      local path = csv_file("new1,pw1,,5\r\nnew2,pw2,备注\r\n")
      local code, _, err = run("provision", quote(path))
      assert.equal(0, code, err)
      assert.matches("^provision: added 2, updated 0, unchanged 0, bad rows 0 %(journal run %d+%)\n$", err)
      assert.equal(5, int(fake:accounts().new1.limit_flow))
      assert.equal("备注", fake:accounts().new2.remark)
      fake:clear_log()
      code, _, err = run("provision", quote(path))
      os.remove(path)
      assert.equal(0, code)
      assert.equal("provision: added 0, updated 0, unchanged 2, bad rows 0\n", err)
      assert.same({}, requests("POST"))
    end)

    it("gives a new account with an empty password a random one, written to --output (0600)", function()
      local path = csv_file("gen1,,x,\ngen2,,,3\n")
      local out_path = os.tmpname()
      local code, out, err = run("provision", "--output " .. quote(out_path) .. " " .. quote(path))
      os.remove(path)
      assert.equal(0, code, err)
      assert.equal("", out)
      assert.equal("600", file_mode(out_path))
      local lines = lines_of(slurp(out_path))
      os.remove(out_path)
      assert.equal("username,password,outcome", lines[1])
      assert.equal(3, #lines)
      local after = fake:accounts()
      for i = 2, 3 do
        local name, password = lines[i]:match("^(gen%d),(%w+),applied$")
        assert.equal(16, #password)
        assert.equal(after[name].password, password)
      end
      assert.equal(3, int(after.gen2.limit_flow))
    end)

    it("under pxlua --dry-run changes nothing and says what it would do", function()
      local before = fake:accounts()
      local path = csv_file("new1,pw1,x,5\ncrawler,changed1\n")
      local out_path = os.tmpname()
      os.remove(out_path)
      local code, _, err = run("provision", "--output " .. quote(out_path) .. " " .. quote(path), "--dry-run")
      os.remove(path)
      assert.equal(0, code)
      assert.matches("^provision: dry run: nothing is changed\n", err)
      assert.matches("\nprovision: would add 1, would update 1, unchanged 0, bad rows 0\n$", err)
      assert.same({}, requests("POST"))
      assert.same(before, fake:accounts())
      assert.is_nil(io.open(out_path))
    end)

    it("reports a failed add by username and exits 4 (the API refused)", function()
      fake:fault { path = "/openapi/whitelist-account/add", code = 400, msg = "nope", times = 1 }
      local path = csv_file("new1,pw1\n")
      local code, out, err = run("provision", quote(path))
      os.remove(path)
      assert.equal(4, code)
      assert.matches("^new1: [^\n]*nope", err)
      assert.matches("\nprovision: added 0, updated 0, unchanged 0, bad rows 0, failed 1 %(journal run (%d+)%); "
        .. "finish with %-%-resume %1\n$", err)
      assert.equal("username,password,outcome\nnew1,pw1,failed\n", out)
      assert.is_nil(fake:accounts().new1)
    end)

    it("exits 2 for a file with no good row or that cannot be read", function()
      local path = csv_file("bad-name,pw\n")
      local code = run("provision", quote(path))
      os.remove(path)
      assert.equal(2, code)
      code = run("provision", "/nonexistent/file.csv")
      assert.equal(2, code)
      assert.same({}, requests("POST"))
    end)
  end)
end)
