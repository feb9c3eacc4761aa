-- Shared by the jobs' specs: pxlua runs in the background with a state
-- folder of their own (so each has its own journal), signals sent at a
-- chosen point, the journal and output files read back, and the fake's
-- request log counted per account.
local helper = require "helper"
local socket = require "socket"

local quote = helper.quote

local jh = {}

local function slurp(path)
  local f = io.open(path)
  if not f then return nil end
  local text = f:read("a")
  f:close()
  return text
end
jh.slurp = slurp

--- A new private folder; `jh.remove_tree` removes it.
function jh.tempdir()
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir -m 700 " .. quote(dir)))
  return dir
end

function jh.remove_tree(dir)
  os.execute("rm -rf " .. quote(dir))
end

local Run = {}
Run.__index = Run

--- Starts `pxlua ARGS` (shell words) in the background against `fake`
-- with XDG_STATE_HOME = `state` and PROXYAPI_GRACE = `grace`. Its pid is
-- pxlua's own (the shell execs it), so SIGKILL reaches it.
function jh.start(fake, state, args, grace)
  local files = {}
  for _, name in ipairs { "pid", "out", "err", "rc" } do
    files[name] = state .. "/run." .. name
    os.remove(files[name])
  end
  local env = "env -u LUA_INIT -u LUA_INIT_5_4 no_proxy=127.0.0.1 NO_PROXY=127.0.0.1"
    .. " PROXYAPI_BASE_URL=" .. quote(fake.base_url) .. " PROXYAPI_APP_KEY=" .. quote(fake.app_key)
    .. " XDG_STATE_HOME=" .. quote(state) .. " PROXYAPI_GRACE=" .. tostring(grace or 0.3)
  local inner = "echo $$ > " .. quote(files.pid) .. "; exec " .. env .. " " .. helper.PXLUA .. " " .. args
  local line = "( sh -c " .. quote(inner) .. " > " .. quote(files.out) .. " 2> " .. quote(files.err)
    .. " < /dev/null; echo $? > " .. quote(files.rc) .. " ) &"
  assert(os.execute("sh -c " .. quote(line)))
  local run = setmetatable({ files = files, state = state }, Run)
  local t0 = socket.gettime()
  repeat
    run.pid = tonumber((slurp(files.pid) or ""):match("%d+"))
    if run.pid then break end
    socket.sleep(0.005)
  until socket.gettime() - t0 > 5
  assert(run.pid, "pxlua did not start")
  return run
end

--- Sends a signal ("INT", "TERM", "KILL").
function Run:signal(sig)
  os.execute("kill -" .. sig .. " " .. self.pid .. " 2>/dev/null")
end

--- Waits for the end (at most `limit` seconds, then SIGKILL and an
-- error); returns the exit status, stdout and stderr.
function Run:wait(limit)
  local t0 = socket.gettime()
  while true do
    local rc = slurp(self.files.rc)
    if rc and rc:find("%d") then
      return math.tointeger(tonumber(rc:match("%d+"))), slurp(self.files.out), slurp(self.files.err)
    end
    if socket.gettime() - t0 > (limit or 30) then
      self:signal("KILL")
      error("pxlua ran on past " .. (limit or 30) .. " s")
    end
    socket.sleep(0.01)
  end
end

--- Polls `check()` until it is true (at most `limit` seconds); returns whether it became true.
function jh.until_true(check, limit)
  local t0 = socket.gettime()
  repeat
    if check() then return true end
    socket.sleep(0.005)
  until socket.gettime() - t0 > (limit or 10)
  return false
end

--- The requests in the fake's log to a path ending in `suffix`.
function jh.requests(fake, suffix)
  local list = {}
  for _, entry in ipairs(fake:log()) do
    if entry.path:sub(-#suffix) == suffix then list[#list + 1] = entry end
  end
  return list
end

--- Per account, the passwords change-password requests that the fake
-- answered (not faulted) carried: account -> password -> count.
function jh.password_sends(fake)
  local sends = {}
  for _, entry in ipairs(jh.requests(fake, "/change-password")) do
    if entry.fault == nil then
      local account = entry.params.account
      sends[account] = sends[account] or {}
      sends[account][entry.params.password] = (sends[account][entry.params.password] or 0) + 1
    end
  end
  return sends
end

--- The journal a run in `state` used, read back (secrets shown).
function jh.journal(state)
  local journal = require "proxyapi.journal"
  local j = assert(journal.open(state .. "/proxyapi/journal.sqlite3", { readonly = true }))
  return j
end

--- The rows of a credentials file (or text): username -> {password =, outcome =}, and the count.
function jh.credentials(text)
  local rows, n = {}, 0
  for line in (text or ""):gmatch("[^\n]+") do
    local name, password, outcome = line:match("^(%w+),(%w*),([%a-]+)$")
    if name and name ~= "username" then
      rows[name], n = { password = password, outcome = outcome }, n + 1
    end
  end
  return rows, n
end

--- The file's permission bits as "600".
function jh.mode(path)
  local p = assert(io.popen("stat -c %a " .. quote(path)))
  local mode = p:read("l")
  p:close()
  return mode
end

--- Adds accounts prefix1..prefixN (password "old" .. i) to the fake.
function jh.add_accounts(fake, prefix, n)
  local list = {}
  for i = 1, n do list[i] = prefix .. i .. ":old" .. i end
  local api = fake:client()
  assert(api:add_accounts(list))
  api:close()
  fake:clear_log()
end

--- Runs a job in this process: `argv` parsed as the script would parse
-- it (the job's options plus --json, --csv), `ctx` from jobs.context with
-- output to temporary files (`opts` may set journal, format, …). Returns
-- the status, stdout and stderr; a usage error returns 2 without running.
function jh.run_job(job, api, argv, opts)
  local cli = require "proxyapi.cli"
  local jobs = require "proxyapi.jobs"
  local parser = cli.parser(job.script .. ".lua", job.summary)
  job.define(parser)
  local out, err = io.tmpfile(), io.tmpfile()
  local args, status = cli.parse(parser, argv)
  if not args then
    return status, "", ""
  end
  local settings = { out = out, err = err, tty = false }
  for k, v in pairs(opts or {}) do settings[k] = v end
  local ctx = jobs.context(api, settings)
  if opts and opts.no_journal then ctx.journal = nil end
  status = job.run(ctx, args)
  local function text(f)
    f:seek("set")
    local t = f:read("a")
    f:close()
    return t
  end
  return status, text(out), text(err)
end

--- Ends the journal run of an in-process client (as pxlua does at exit).
function jh.finish(api, status)
  local rec = require("proxyapi.client").recorder(api)
  require("proxyapi.record").finish(rec, status or "ok")
  rec.run = nil -- the next change begins a new run
end

return jh
