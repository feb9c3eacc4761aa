-- Fuzz regressions: every file of the decode seed corpus
-- (spec/fuzz/corpus/decode/) and every input the fuzzers found
-- (spec/fuzz/regressions/) goes through core.json_decode, with the
-- invariants that csrc/fuzz/fuzz_decode.c checks:
--   - a refusal is nil and a message, never a raised error;
--   - every number is an integer, or a finite float that is not whole or
--     has no integer representation;
--   - no cjson.null (light userdata) anywhere;
--   - a table has string keys only, or exactly the keys 1..n (# is n);
--   - the text with spaces after it up to 4096 bytes (normalised by the
--     scan of px_normalise.c instead of the plain walk) gives the same;
--   - json_encode of the value decodes again to an equal value.
-- Then the request-side findings of csrc/fuzz/fuzz_encode.c, as cases.
local core = require "proxyapi.core"
local lfs = require "lfs"

local CORPUS = "spec/fuzz/corpus/decode"
local REGRESSIONS = "spec/fuzz/regressions"

local mtype, floor, huge, tointeger = math.type, math.floor, math.huge, math.tointeger
local format = string.format

local function files_under(dir, out)
  out = out or {}
  if lfs.attributes(dir, "mode") ~= "directory" then return out end
  local names = {}
  for name in lfs.dir(dir) do
    if name ~= "." and name ~= ".." then names[#names + 1] = name end
  end
  table.sort(names)
  for _, name in ipairs(names) do
    local path = dir .. "/" .. name
    if lfs.attributes(path, "mode") == "directory" then
      files_under(path, out)
    else
      out[#out + 1] = path
    end
  end
  return out
end

local function read(path)
  local f = assert(io.open(path, "rb"))
  local text = f:read "a"
  f:close()
  return text
end

--- nil when v holds the invariants, else what is wrong and where.
local function check_value(v, where)
  local kind = type(v)
  if kind == "number" then
    if mtype(v) == "float" then
      if v ~= v or v == huge or v == -huge then
        return format("%s: non-finite float %s", where, tostring(v))
      end
      if v == floor(v) and tointeger(v) then
        return format("%s: whole float %.17g kept as a float", where, v)
      end
    end
  elseif kind == "table" then
    local count, ints, strs, max = 0, 0, 0, 0
    for k, item in next, v do
      count = count + 1
      if type(k) == "string" then
        strs = strs + 1
      elseif mtype(k) == "integer" and k >= 1 then
        ints = ints + 1
        if k > max then max = k end
      else
        return format("%s: key %s of type %s", where, tostring(k), mtype(k) or type(k))
      end
      local err = check_value(item, format("%s[%q]", where, k))
      if err then return err end
    end
    if ints > 0 and strs > 0 then
      return format("%s: %d integer and %d string keys", where, ints, strs)
    end
    if (v[1] ~= nil or ints > 0) and (#v ~= count or max ~= count) then
      return format("%s: array not dense: # = %d, %d keys, largest %d", where, #v, count, max)
    end
  elseif kind ~= "string" and kind ~= "boolean" and not (kind == "nil" and where == "reply") then
    return format("%s: a %s (cjson.null is light userdata)", where, kind)
  end
  return nil
end

local function show(v)
  if mtype(v) == "float" then return format("%.17g", v) end
  return tostring(v)
end

--- nil when a and b are equal values (same types, integer or float too).
local function diff(a, b, where)
  if type(a) ~= type(b) or mtype(a) ~= mtype(b) then
    return format("%s: %s %s became %s %s", where, mtype(a) or type(a), show(a), mtype(b) or type(b), show(b))
  end
  if type(a) ~= "table" then
    if a ~= b then
      return format("%s: %s became %s", where, show(a), show(b))
    end
    return nil
  end
  for k, item in next, a do
    local err = diff(item, b[k], format("%s[%q]", where, k))
    if err then return err end
  end
  for k in next, b do
    if a[k] == nil then return format("%s: key %s appeared", where, tostring(k)) end
  end
  return nil
end

local REFUSALS = { "^invalid JSON in reply %(", "^number out of range in reply$", "^reply nested too deeply$" }
local PAD_TO = 4096 -- PX_SCAN_FROM in csrc/px_normalise.c

--- json_decode(text): true and the value, or false and the refusal.
local function decode(text)
  local results = table.pack(pcall(core.json_decode, text))
  assert(results[1], "json_decode raised: " .. tostring(results[2]))
  local value, msg = results[2], results[3]
  if results.n == 3 then
    assert(value == nil and type(msg) == "string", "a refusal must be nil and a message")
    for _, pattern in ipairs(REFUSALS) do
      if msg:find(pattern) then return false, msg end
    end
    error("unexpected refusal message: " .. msg)
  end
  assert(results.n == 2, "one value expected from json_decode")
  local err = check_value(value, "reply")
  assert(err == nil, err)
  return true, value
end

local function check_reply(text)
  local ok, value = decode(text)
  if #text < PAD_TO then
    local padded_ok, padded = decode(text .. (" "):rep(PAD_TO - #text))
    assert(padded_ok == ok, format("trailing spaces changed the outcome: %s without, %s with",
      ok and "a value" or value, padded_ok and "a value" or padded))
    local err = ok and diff(value, padded, "reply")
    assert(not err, err and err .. " when spaces after the text make it long enough to be scanned")
  end
  if not ok then return end
  local encoded_ok, encoded = pcall(core.json_encode, value)
  assert(encoded_ok, "json_encode refused a decoded reply: " .. tostring(encoded))
  local again, msg2 = core.json_decode(encoded)
  assert(again ~= nil or encoded == "null", "json_decode refused json_encode's output: " .. tostring(msg2))
  local err = diff(value, again, "reply")
  assert(err == nil, err and err .. " after json_encode -> json_decode (text: " .. encoded:sub(1, 200) .. ")")
end

describe("fuzz regressions: reply decoding", function()
  local paths = files_under(CORPUS)
  files_under(REGRESSIONS, paths)

  it("has the seed corpus", function()
    assert.truthy(#files_under(CORPUS) >= 10, "no seed corpus in " .. CORPUS)
  end)

  for _, path in ipairs(paths) do
    it("holds the invariants on " .. path, function()
      check_reply(read(path))
    end)
  end
end)

describe("fuzz regressions: request encoding", function()
  -- fuzz_encode: a float with no integer representation goes out as
  -- "%.17g", so its exponent's '+' reaches the query unescaped, where a
  -- server reads it as a space (api:call("GET", path, { n = 2^63 }) does).
  it("encode_query percent-encodes the text of every float", function()
    for _, x in ipairs { 2.0 ^ 63, 2.0 ^ 64, 1e300, -1e300, 1.5e-7 } do
      local q = core.request_text({ fields = { k = x }, order = { "k" } }, "GET")
      assert.falsy(q:find "[^%w%-%._~%%=&]", format("%.17g went out as %s", x, q))
      local text = q:match "^k=(.*)$":gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end)
      assert.equal(x, tonumber(text))
    end
  end)

  -- fuzz_encode and fuzz_decode: the private cjson writes every number
  -- with 14 significant digits, so a body loses the rest
  -- (api:call("POST", path, { id = 123456789012345 }) sends 1.2345678901234e+14).
  it("json_encode writes integers exactly", function()
    for _, i in ipairs { 123456789012345, 9007199254740993, math.maxinteger, math.mininteger } do
      local text = core.json_encode { n = i }
      assert.equal(format('{"n":%d}', i), text)
    end
  end)

  it("json_encode writes floats that read back as the same double", function()
    for _, x in ipairs { 0.1 + 0.2, 1 / 3, 2.0 ^ 63, 1.7976931348623157e308, 2.2250738585072014e-308 } do
      local text = core.json_encode { x }
      assert.equal(x, tonumber(text:match "^%[(.*)%]$"), format("%.17g went out as %s", x, text))
    end
  end)
end)
