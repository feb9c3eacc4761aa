-- The decode-only reference for peak memory: a process that reads a JSON
-- text from a file and runs cjson.decode on it once, nothing else. Runs
-- under lua5.4 or build/pxlua (its built-in cjson).
--
--   lua5.4 scripts/bench/decode.lua FILE
--
-- Prints items=N hwm_kib=K before_kib=K (VmHWM after reading the file and
-- before decoding, and at the end).

local cjson = require "cjson"

local function vmhwm()
  local f = assert(io.open("/proc/self/status"))
  local text = f:read("a")
  f:close()
  return tonumber(text:match("VmHWM:%s*(%d+)"))
end

local path = arg[1]
if not path then
  io.stderr:write("usage: decode.lua FILE\n")
  os.exit(2)
end
local before = vmhwm()
local f = assert(io.open(path, "rb"))
local text = f:read("a")
f:close()
local reply = cjson.decode(text)
local list = reply.data.list
io.stdout:write(string.format("calls=1 seconds=0 cpu=%.6f items=%d hwm_kib=%d before_kib=%d\n", os.clock(), #list,
  vmhwm(), before))
