-- Shared by the watch, notify, history and metrics command specs: a
-- webhook receiver in a child process (LuaSocket on loopback), job
-- contexts over a fake, the fake's clock as "now", and reading the
-- history's fired-state back.
local socket = require "socket"
local cjson = require "cjson"
local helper = require "helper"

local wh = {}

--- The receiver's main loop (run in a child: see `start_receiver`).
-- Logs each request as a JSON line {method, path, headers, body} to
-- log_path, then answers the next status of `statuses` (comma-separated;
-- the last one repeats; "slow" waits 3 s and answers 204). Ends on GET
-- /_stop or after ttl seconds.
function wh.receiver_main(log_path, statuses, ttl)
  local server = assert(socket.bind("127.0.0.1", 0))
  local _, port = server:getsockname()
  io.stdout:write(port, "\n")
  io.stdout:flush()
  local list = {}
  for s in (statuses or "204"):gmatch("[^,]+") do
    list[#list + 1] = s
  end
  local deadline, n = socket.gettime() + (tonumber(ttl) or 60), 0
  server:settimeout(0.2)
  while socket.gettime() < deadline do
    local c = server:accept()
    if c then
      c:settimeout(2)
      local line = c:receive("*l")
      local method, path = (line or ""):match("^(%u+) (%S+)")
      local headers = {}
      repeat
        local h = c:receive("*l")
        local name, value = (h or ""):match("^([^:]+):%s*(.*)$")
        if name then
          headers[name:lower()] = value
        end
      until not h or h == ""
      local len = tonumber(headers["content-length"]) or 0
      local body = len > 0 and c:receive(len) or ""
      if path == "/_stop" then
        c:send("HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
        c:close()
        break
      end
      n = n + 1
      local f = assert(io.open(log_path, "a"))
      f:write(cjson.encode { method = method, path = path, headers = headers, body = body }, "\n")
      f:close()
      local status = list[math.min(n, #list)]
      if status == "slow" then
        socket.sleep(3)
        status = "204"
      end
      c:send("HTTP/1.1 " .. status .. " X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
      c:close()
    end
  end
  server:close()
end

local Receiver = {}
Receiver.__index = Receiver

--- Starts a receiver child; `statuses` as for receiver_main.
function wh.start_receiver(statuses)
  local log = os.tmpname()
  local code = string.format("package.path = './spec/?.lua;' .. package.path; " ..
    "require('watch_helper').receiver_main(%q, %q, 120)", log, statuses or "204")
  local pipe = assert(io.popen("exec lua5.4 -e " .. helper.quote(code), "r"))
  local port = tonumber(pipe:read("l"))
  assert(port, "the webhook receiver did not start")
  return setmetatable({ pipe = pipe, port = port, log = log, url = "http://127.0.0.1:" .. port .. "/hook" }, Receiver)
end

--- The requests received so far, each with `json` (the decoded body).
function Receiver:requests()
  local list = {}
  local f = io.open(self.log)
  if not f then
    return list
  end
  for line in f:lines() do
    local r = cjson.decode(line)
    local ok, body = pcall(cjson.decode, r.body)
    r.json = ok and body or nil
    list[#list + 1] = r
  end
  f:close()
  return list
end

function Receiver:stop()
  local c = socket.connect("127.0.0.1", self.port)
  if c then
    c:send("GET /_stop HTTP/1.1\r\n\r\n")
    c:receive("*a")
    c:close()
  end
  self.pipe:close()
  os.remove(self.log)
end

--- A fake started with no accounts and a clock frozen at `now`.
function wh.start_fake(now)
  return helper.start_fake("--empty --frozen --now " .. helper.quote(now or "2031-05-14 12:00:00"))
end

--- The fake's "now" as epoch seconds (its naive local time read as local).
function wh.fake_now(fake)
  return function()
    return require("proxyapi.variables").epoch(fake:clock().now)
  end
end

--- A temporary path that does not exist yet.
function wh.tmp(suffix)
  local name = os.tmpname()
  os.remove(name)
  return name .. (suffix or "")
end

--- A job context over the fake: output into temporary files (read with `ctx:output()`).
function wh.ctx(fake, fields)
  fields = fields or {}
  local out_path, err_path = os.tmpname(), os.tmpname()
  local ctx = {
    api = fake:client({ journal = fields.journal or false, dry_run = fields.dry_run }, fields.client),
    out = assert(io.open(out_path, "w")), err = assert(io.open(err_path, "w")),
    format = fields.format or "json", dry_run = fields.dry_run or false, profile = fields.profile or "test",
    settings = fields.settings or {}, tty = false, confirm = function() return false end,
  }
  function ctx.output()
    ctx.out:flush()
    ctx.err:flush()
    local function slurp(p)
      local f = assert(io.open(p))
      local s = f:read("a")
      f:close()
      return s
    end
    return slurp(out_path), slurp(err_path)
  end
  function ctx.close()
    ctx.out:close()
    ctx.err:close()
    os.remove(out_path)
    os.remove(err_path)
  end
  return ctx
end

--- Every firing stored in a history file: rows with `channels` (a set).
function wh.firings(path)
  local h = assert(require("proxyapi.history").open(path))
  local rows = assert(h.store:rows([[SELECT f.id, f.rule, f.subject, f.period_key, f.data,
      (SELECT group_concat(channel, ' ') FROM deliveries d WHERE d.firing_id = f.id) AS channels
    FROM fired f ORDER BY f.rule, f.subject, f.period_key]]))
  h:close()
  for _, row in ipairs(rows) do
    local set = {}
    for ch in (row.channels or ""):gmatch("%S+") do
      set[ch] = true
    end
    row.channels = set
    row.account = row.subject:match(" (%w+)$")
  end
  return rows
end

--- Parses a job's argument list with its define (as the command would).
function wh.parse(job, list)
  local cli = require "proxyapi.cli"
  local parser = cli.parser("proxyapi")
  job.define(cli.command(parser, job.name, job.summary))
  local args = { job.name }
  for i, a in ipairs(list or {}) do
    args[i + 1] = a
  end
  return cli.parse(parser, args)
end

--- Adds accounts to a fake: `{ name = { gb =, limit = } }` (usage added
-- in GB today, a limit in GB), each with the password "pw" .. name.
function wh.seed(fake, accounts)
  local api = fake:client()
  local list = {}
  for name in pairs(accounts) do
    list[#list + 1] = name .. ":pw" .. name
  end
  assert(api:add_accounts(list))
  for name, a in pairs(accounts) do
    if a.limit then
      assert(api:change_limit(name, a.limit))
    end
    if a.gb then
      fake:add_usage { account = name, gb = a.gb }
    end
  end
  api:close()
end

return wh
