-- luacheck: read globals api proxyapi
-- Rotates proxy account passwords: every account, or those whose username
-- matches a glob, gets a new random password (letters and digits from
-- /dev/urandom); the new credentials are printed as CSV.
local cli = require "proxyapi.cli"

local opts = cli.parse(arg, {
  name = "rotate-passwords",
  usage = "pxlua [--dry-run] rotate-passwords.lua [options]",
  description = "Sets a new random password (letters and digits from /dev/urandom) on every\n"
    .. "account, or on those whose username matches --match, concurrently, and prints\n"
    .. "the new credentials as CSV (username,password). Only accounts whose change\n"
    .. "succeeded are listed; failures go to stderr as 'username: error' and make\n"
    .. "the exit status 1. --output files are created readable by their owner only.\n"
    .. "Under pxlua --dry-run (or with --dry-run) nothing is changed and the CSV shows\n"
    .. "what would be set.",
  options = {
    { name = "--match", value = "GLOB", type = "string", help = "only usernames matching GLOB (* and ?)" },
    { name = "--length", value = "N", type = "integer", min = 8, default = 16, help = "password length" },
    { name = "--output", value = "FILE", type = "string", help = "write the CSV to FILE (mode 0600), not stdout" },
    { name = "--dry-run", type = "flag", help = "change nothing; print what would be set" },
  },
  max_args = 0,
})

-- pxlua's own --dry-run (given before the script) makes every POST a no-op.
local dry_run = opts.dry_run or api:settings().dry_run

-- "*" and "?" globs as anchored Lua patterns.
local function glob_pattern(glob)
  return "^" .. glob:gsub("[%^%$%(%)%%%.%[%]%+%-]", "%%%0"):gsub("%*", ".*"):gsub("%?", ".") .. "$"
end

local SYMBOLS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

-- Unbiased: bytes 248..255 are rejected, so 0..247 map evenly onto 62 symbols.
local function random_password(urandom, length)
  local out = {}
  while #out < length do
    local bytes = assert(urandom:read(length * 2), "/dev/urandom: short read")
    for i = 1, #bytes do
      local b = bytes:byte(i)
      if b < 248 and #out < length then
        local k = b % 62 + 1
        out[#out + 1] = SYMBOLS:sub(k, k)
      end
    end
  end
  return table.concat(out)
end

-- A new file only its owner can read, under a temporary name that is renamed
-- onto `path` once written; opened before any change, so that a bad path
-- fails before passwords are changed and lost.
local function open_private(path, urandom)
  local tmp = path .. "." .. urandom:read(6):gsub(".", function(c) return string.format("%02x", c:byte()) end)
  local quoted = "'" .. tmp:gsub("'", "'\\''") .. "'"
  if not os.execute("(umask 077 && set -C && : > " .. quoted .. ") 2>/dev/null") then
    return nil, "cannot create a file beside " .. path
  end
  local file, err = io.open(tmp, "w")
  if not file then
    os.remove(tmp)
    return nil, err
  end
  return file, tmp
end

local urandom = assert(io.open("/dev/urandom", "rb"))
local out, tmp_name = io.stdout, nil
if opts.output then
  local file, tmp_or_err = open_private(opts.output, urandom)
  if not file then cli.die("rotate-passwords: " .. tmp_or_err) end
  out, tmp_name = file, tmp_or_err
end

local accounts, err = api:list_accounts()
if not accounts then
  if tmp_name then out:close() os.remove(tmp_name) end
  cli.die("rotate-passwords: " .. tostring(err))
end

local pattern = opts.match and glob_pattern(opts.match)
local targets = {}
for _, account in ipairs(accounts) do
  if not pattern or account.username:find(pattern) then
    targets[#targets + 1] = { username = account.username, password = random_password(urandom, opts.length) }
  end
end
urandom:close()

local errs = {}
if not opts.dry_run and #targets > 0 then
  errs = select(2, api:map(targets, function(client, target)
    return client:change_password(target.username, target.password)
  end))
end

local changed = {}
for i, target in ipairs(targets) do
  if errs[i] then
    io.stderr:write(target.username, ": ", tostring(errs[i]), "\n")
  else
    changed[#changed + 1] = target
  end
end

cli.write_csv({ "username", "password" }, changed, out)
if tmp_name then
  local ok, close_err = out:close()
  if not ok then cli.die("rotate-passwords: " .. tostring(close_err)) end
  local renamed, rename_err = os.rename(tmp_name, opts.output)
  if not renamed then
    cli.die("rotate-passwords: " .. tostring(rename_err) .. "; the new credentials are in " .. tmp_name)
  end
end

if #targets == 0 then
  io.stderr:write("rotate-passwords: no account matches\n")
elseif dry_run then
  io.stderr:write(string.format("rotate-passwords: dry run: %d password(s) would be changed\n", #changed))
end
os.exit(#changed == #targets and 0 or 1)
