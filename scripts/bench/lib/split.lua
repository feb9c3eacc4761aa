-- Where a process's instructions went, from a callgrind profile: libcurl
-- (every call into libcurl from outside it, inclusive: what it does with
-- libc, zlib and the kernel's interface on our behalf), the JSON decoder
-- (every call of lua-cjson's decode, inclusive), and the rest, which is
-- the client's own code: the Lua VM running its Lua, its C glue, and the
-- callbacks libcurl makes into it (write and header functions, a Lua
-- writefunction), which are added back to it. This is the issue's
-- definition of glue: everything that is neither libcurl nor cjson.

local format = string.format

local M = {}

local function is_libcurl(obj)
  return obj:find("libcurl%.so", 1) ~= nil
end

-- The client's side of a callback: the program, Lua and Lua modules, and
-- what the build made; not libc, zlib or TLS.
local function is_client(obj, build)
  if is_libcurl(obj) then
    return false
  end
  return obj:sub(1, #build) == build or obj:lower():find("lua", 1, true) ~= nil
end

-- The decoder: lua-cjson's decode, by name where the copy is linked in
-- (the private one, the floor's), else any call into Debian's liblua5.4-cjson.so
-- (stripped; the contenders call nothing else of it per call).
local function in_decoder(fn, obj)
  return fn == "json_decode" or fn:match(":json_decode$") ~= nil or obj:find("cjson[^/]*%.so[.%d]*$") ~= nil
end

local absolute = setmetatable({}, { __index = function(t, path)
  local p = io.popen(format("realpath -- '%s'", path:gsub("'", "'\\''")))
  local real = p:read("l") or path
  p:close()
  t[path] = real
  return real
end })

--- Splits callgrind_annotate's output (`--inclusive=yes --tree=calling`),
-- an iterator of its lines: { total =, libcurl =, decode =, own = }
-- (instructions), or nil and why. `build` is the build folder, absolute
-- (its objects are the client's).
function M.parse(lines, build)
  build = build:gsub("/*$", "/")
  local total, libcurl, callbacks, decode = nil, 0, 0, 0
  local caller_obj, caller_fn
  for line in lines do
    if not total then
      local t = line:match("^%s*([%d,]+)%s+%([%s%d.]+%%%)%s+PROGRAM TOTALS")
      total = t and tonumber((t:gsub(",", "")))
    end
    local n, mark, fn, rest = line:match("^%s*([%d,]+) %([%s%d.]+%%%)%s+([*>])%s+(%S+)(.*)$")
    if n then
      n = tonumber((n:gsub(",", "")))
      -- callgrind_annotate leaves the object out of some lines (functions
      -- of a dlopen'ed module with absolute source paths, say): only ours
      -- have debug information to be named by, so such a line is ours
      local obj = rest:match("%[([^%]]+)%]%s*$") or build .. "(unnamed)"
      if mark == "*" then
        caller_fn, caller_obj = fn, obj
      elseif caller_obj then
        local from_curl, to_curl = is_libcurl(caller_obj), is_libcurl(obj)
        if to_curl and not from_curl then
          libcurl = libcurl + n
        elseif from_curl and not to_curl and is_client(obj, build) then
          callbacks = callbacks + n
        end
        if in_decoder(fn, obj) and not in_decoder(caller_fn, caller_obj) then
          decode = decode + n
        end
      end
    end
  end
  if not total then
    return nil, "callgrind_annotate printed no totals"
  end
  local curl = libcurl - callbacks
  return { total = total, libcurl = curl, decode = decode, own = total - curl - decode }
end

--- Splits the callgrind profile at `file` (see parse).
function M.profile(file, build)
  local p = io.popen(format("callgrind_annotate --inclusive=yes --tree=calling --threshold=100 '%s' 2>&1",
    file:gsub("'", "'\\''")))
  local parts, err = M.parse(p:lines(), absolute[build])
  p:close()
  return parts, err
end

return M
