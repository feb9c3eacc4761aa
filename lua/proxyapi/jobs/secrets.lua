--- The credentials a job sets (`username,password,outcome` rows), written
-- ahead of the requests that set them. With a file, every row is there
-- with outcome `pending` (created 0600, flushed, fsync'd, renamed into
-- place, the folder fsync'd) before the first request goes out; the file
-- is rewritten the same way as outcomes land (at most every
-- REWRITE_INTERVAL seconds) and at the end. Without one, rows go to the
-- job's output as their outcomes land (the journal holds the intents).
-- So a run killed at any point leaves, in the file or the journal, every
-- password that may now be in force. A dry run writes no file.
-- @module proxyapi.jobs.secrets

local core = require "proxyapi.core"
local output = require "proxyapi.output"
local common = require "proxyapi.jobs.common"
local resume = require "proxyapi.jobs.resume"

local setmetatable, ipairs, tostring = setmetatable, ipairs, tostring
local format, match, concat = string.format, string.match, table.concat
local remove, open = os.remove, io.open
local now = core.now

local secrets = {}

secrets.COLUMNS = { "username", "password", "outcome" }

--- Seconds between two rewrites of the file while outcomes land.
secrets.REWRITE_INTERVAL = 0.2

local function csv_line(row)
  return concat({ output.csv_field(row.username), output.csv_field(row.password),
                  output.csv_field(row.outcome) }, ",") .. "\n"
end

--- The file's text: the header and every row.
function secrets.text(rows)
  local parts = { concat(secrets.COLUMNS, ",") .. "\n" }
  for i, row in ipairs(rows) do
    parts[i + 1] = csv_line(row)
  end
  return concat(parts)
end

local function folder_of(path)
  local dir = match(path, "^(.*)/[^/]*$")
  if dir == nil then
    return "."
  end
  return dir == "" and "/" or dir
end

local seq = 0

--- Replaces `path` with `text` atomically: a new 0600 file beside it,
-- written, flushed and fsync'd, renamed over it, and the folder fsync'd.
-- @return true, or nil and a message
function secrets.write_atomic(path, text)
  local tmp, ok, err
  for _ = 1, 100 do
    seq = seq + 1
    tmp = format("%s.%d-%d.tmp", path, core.pid(), seq)
    ok, err = core.create_private(tmp)
    if ok or err ~= "exists" then
      break
    end
  end
  if not ok then
    return nil, tostring(err)
  end
  local file
  file, err = open(tmp, "w")
  if file then
    ok, err = file:write(text)
    if ok then
      ok, err = file:flush()
    end
    local closed, cerr = file:close()
    if ok and not closed then
      ok, err = nil, cerr
    end
  else
    ok = nil
  end
  if ok then
    ok, err = core.fsync(tmp)
  end
  if ok then
    ok, err = core.rename(tmp, path)
  end
  if not ok then
    remove(tmp)
    return nil, tostring(err)
  end
  ok, err = core.fsync(folder_of(path))
  if not ok then
    return nil, "renamed, but the folder could not be synced: " .. tostring(err)
  end
  return true
end

local Sink = {}
Sink.__index = Sink

--- A sink for the job `name`: to `path`, or to ctx.out (rows as CSV as
-- outcomes land; nothing in JSON, where the job prints them at the end).
-- A dry run writes no file (and prints nothing in its place).
function secrets.open(ctx, path, name)
  local sink = setmetatable({ ctx = ctx, name = name, rows = {}, last = -math.huge, dirty = false }, Sink)
  sink.stream = path == nil and ctx.format ~= "json"
  if path and ctx.dry_run then
    -- nor on stdout, which the caller did not ask for
    ctx.err:write(name, ": dry run: ", path, " is not written\n")
    path = nil
  end
  sink.path = path
  return sink
end

--- What a job that sets secrets does before it plans: loads the run
-- `--resume` names, opens the sink for `--output` and lists the accounts.
-- Returns `{ prior =, sink =, accounts = }`, or nil and the exit status
-- (the reason said with `say`, or written by common.fail).
function secrets.begin(ctx, args, name, say)
  local prior
  if args.resume then
    local msg
    prior, msg = resume.load(ctx, args.resume)
    if prior == nil then
      say("%s", msg)
      return nil, 2
    end
  end
  local sink = secrets.open(ctx, args.output, name)
  local accounts, err = ctx.api:list_accounts()
  if not accounts then
    return nil, common.fail(ctx, name, err)
  end
  return { prior = prior, sink = sink, accounts = accounts }
end

--- Whether the rows go to a file.
function Sink:to_file()
  return self.path ~= nil
end

function Sink:write()
  local ok, err = secrets.write_atomic(self.path, secrets.text(self.rows))
  if ok then
    self.last, self.dirty = now(), false
  end
  return ok, err
end

--- Writes every row (outcome `pending` for those about to be sent)
-- before anything is sent; for stdout, the header. Returns true, or nil
-- and why the file cannot be written (then send nothing).
function Sink:plan(rows)
  self.rows = rows
  if self.path then
    return self:write()
  elseif self.stream and #rows > 0 then
    self.ctx.out:write(concat(secrets.COLUMNS, ","), "\n")
    self.ctx.out:flush()
  end
  return true
end

--- A row's outcome landed: printed at once, or the file rewritten (now,
-- or with a later one, at most every REWRITE_INTERVAL).
function Sink:landed(row)
  if self.stream then
    self.ctx.out:write(csv_line(row))
    self.ctx.out:flush()
  elseif self.path then
    self.dirty = true
    if now() - self.last >= secrets.REWRITE_INTERVAL then
      local ok, err = self:write()
      if not ok then
        self.ctx.err:write(self.name, ": warning: cannot rewrite ", self.path, ": ", err,
          " (it still holds every password, with older outcomes)\n")
      end
    end
  end
end

--- Prints rows that were settled without a request (already applied).
function Sink:settled(row)
  if self.stream then
    self.ctx.out:write(csv_line(row))
  end
end

--- The rows for a job's JSON document: username and outcome, and the
-- password unless a file holds them.
function Sink:listed(rows)
  local list = {}
  for i, row in ipairs(rows) do
    list[i] = { username = row.username, outcome = row.outcome, password = not self.path and row.password or nil }
  end
  return output.array(list)
end

--- The last rewrite, with the final outcomes. Returns true, or nil and a message.
function Sink:finish()
  if self.path then
    return self:write()
  end
  self.ctx.out:flush()
  return true
end

return secrets
