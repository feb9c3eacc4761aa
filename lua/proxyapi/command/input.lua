--- What the command reads besides its arguments: globs over names, and
-- names (or `user:pass` lines) from a file or standard input.
-- @module proxyapi.command.input

local errors = require "proxyapi.errors"

local tostring, error = tostring, error
local find, gsub, match = string.find, string.gsub, string.match
local concat = table.concat

local input = {}

local function usage(msg)
  error(errors.usage(msg), 0)
end

--- A glob (`*`, `?`, `[...]`) as an anchored Lua pattern.
-- @tparam string glob
-- @treturn string
-- @usage ("team7"):find(input.glob_pattern("team*")) --> 1
function input.glob_pattern(glob)
  local out, i = { "^" }, 1
  while i <= #glob do
    local c = glob:sub(i, i)
    if c == "*" then
      out[#out + 1] = ".*"
    elseif c == "?" then
      out[#out + 1] = "."
    elseif c == "[" and find(glob, "]", i + 1, true) then
      local close = find(glob, "]", i + 2, true) or find(glob, "]", i + 1, true)
      local set = glob:sub(i + 1, close - 1)
      set = gsub(gsub(set, "^!", "^"), "%%", "%%%%")
      out[#out + 1] = "[" .. set .. "]"
      i = close
    else
      out[#out + 1] = (gsub(c, "%p", "%%%0"))
    end
    i = i + 1
  end
  out[#out + 1] = "$"
  return concat(out)
end

--- Reads names (or `user:pass` lines) from a file or standard input:
-- one a line, blank lines and `#` comments skipped.
-- @tparam string path a file, or "-" for `stdin`
-- @param stdin the standard input
-- @treturn {string,...}
-- @raise a usage error when the file cannot be read
-- @usage local names = input.read_lines("-", io.stdin)
function input.read_lines(path, stdin)
  local f = stdin
  if path ~= "-" then
    local err
    f, err = io.open(path, "r")
    if f == nil then
      usage("--from: " .. tostring(err))
    end
  end
  local list = {}
  for line in f:lines() do
    line = match(line, "^%s*(.-)%s*$")
    if line ~= "" and not find(line, "^#") then
      list[#list + 1] = line
    end
  end
  if f ~= stdin then
    f:close()
  end
  return list
end

return input
