-- Who runs in `make bench`, and with which command line, row by row.
-- Each contender is { key =, name =, env =, argv =, cmd =, limit = } or,
-- when it cannot run here, { key =, name =, skip = "why" }.
-- Used by scripts/bench/run.lua; `ctx` is the run's settings (see there).

local cjson = require "cjson"
local measure = require "measure"

local format = string.format
local quote = measure.quote

local C = {}

C.NAMES = {
  floor = "C floor: libcurl easy, 1 reused handle (keep-alive)",
  floor_multi = "C floor: libcurl multi, 16 reused easy handles",
  decode = "cjson.decode alone (C; the same cjson as pxlua)",
  base = "C floor + cjson.decode (baseline)",
  px_pxlua = "proxyapi in pxlua",
  px_require = "proxyapi via require (lua5.4)",
  lcurlv3 = "Lua-cURLv3 + cjson (lua5.4)",
  luasocket = "LuaSocket socket.http + cjson (new connection per call)",
  luacurl51 = "Debian lua-curl 0.3 + cjson (Lua 5.1; not Lua-cURLv3)",
}

local BIG = 100000000 -- "calls" for the loops bounded by seconds

--- The environment of every client: the server, the key, Lua's paths.
function C.env(ctx, server)
  return format("env NO_PROXY='*' no_proxy='*' PROXYAPI_BASE_URL=%s PROXYAPI_APP_KEY=%s %s",
    server and server.base or "http://127.0.0.1:1", ctx.key, ctx.lua_env)
end

local function contender(ctx, server, key, argv, limit, name)
  local env = C.env(ctx, server)
  return { key = key, name = name or C.NAMES[key], env = env, argv = argv, cmd = env .. " " .. argv, limit = limit }
end

local function skipped(key, why, name)
  return { key = key, name = name or C.NAMES[key], skip = why }
end

--- The command line of the proxyapi contender in `host` ("pxlua" or "require").
function C.px_argv(ctx, host, mode, calls, seconds, journal)
  local script = quote(ctx.scripts .. "/proxyapi.lua")
  local tail = format("%s %s %d %g%s", host, mode, calls, seconds, journal and " " .. quote(journal) or "")
  if host == "pxlua" then
    return format("%s%s %s %s", quote(ctx.pxlua), ctx.pxlua_flags, script, tail)
  end
  return format("lua5.4 %s %s", script, tail)
end

--- The JSON body of one enable_accounts call, as proxyapi sends it.
function C.post_body(ctx)
  return cjson.encode { app_key = ctx.key, accounts = { "bench1" } }
end

function C.lcurl_argv(ctx, mode, url, calls, seconds, expect)
  return format("lua5.4 %s %s %s %d %g%s", quote(ctx.scripts .. "/lcurlv3.lua"), mode, quote(url), calls, seconds,
    expect and " " .. expect or "")
end

--- The contenders of one sequential work row: spec = { kind = "get"|"post",
-- path =, mode = (proxyapi's), expect =, seconds =, decode_file = }.
function C.work_row(ctx, server, spec)
  local post = spec.kind == "post"
  local url = server.base .. spec.path .. (post and "" or "?app_key=" .. ctx.key)
  local s, limit = spec.seconds, math.ceil(spec.seconds) + 60
  local loop = quote(ctx.bin .. "/curl_loop")
  local post_opt = post and " --post " .. quote(C.post_body(ctx)) or ""
  local expect = spec.expect and " " .. spec.expect or ""
  local peer = post and "post" or "get"
  local row = {
    contender(ctx, server, "floor", format("%s%s --seconds %g %s %d", loop, post_opt, s, quote(url), BIG), limit),
    contender(ctx, server, "decode", format("%s --decode-file %s --seconds %g %d", loop, quote(spec.decode_file), s,
      BIG), limit),
    contender(ctx, server, "base", format("%s --decode%s --seconds %g %s %d", loop, post_opt, s, quote(url), BIG),
      limit),
    contender(ctx, server, "px_pxlua", C.px_argv(ctx, "pxlua", spec.mode, BIG, s), limit),
    contender(ctx, server, "px_require", C.px_argv(ctx, "require", spec.mode, BIG, s), limit),
  }
  if ctx.lcurl_skip then
    row[#row + 1] = skipped("lcurlv3", ctx.lcurl_skip)
  else
    row[#row + 1] = contender(ctx, server, "lcurlv3", C.lcurl_argv(ctx, peer, url, BIG, s, spec.expect), limit)
  end
  row[#row + 1] = contender(ctx, server, "luasocket", format("lua5.4 %s %s %s %d %g%s",
    quote(ctx.scripts .. "/luasocket.lua"), peer, quote(url), BIG, s, expect), limit)
  row[#row + 1] = contender(ctx, server, "luacurl51", format("lua5.1 %s %s %s %d %g%s",
    quote(ctx.scripts .. "/luacurl.lua"), peer, quote(url), BIG, s, expect), limit)
  return row
end

--- The 16-way batch against the slow server: POST enable, 16 in flight;
-- and the same calls one at a time, for the speed-up.
function C.batch_rows(ctx, slow, calls, seq_calls, seconds)
  local url = slow.base .. "/openapi/whitelist-account/enable"
  local loop = quote(ctx.bin .. "/curl_loop")
  local body = quote(C.post_body(ctx))
  local limit = math.ceil(seconds) + 60
  local none = "no concurrent interface: not run"
  local concurrent = {
    contender(ctx, slow, "floor", format("%s --concurrency 16 --post %s --seconds %g %s %d", loop, body, seconds,
      quote(url), calls), limit, C.NAMES.floor_multi),
    contender(ctx, slow, "base", format("%s --decode --concurrency 16 --post %s --seconds %g %s %d", loop, body,
      seconds, quote(url), calls), limit, C.NAMES.floor_multi .. " + cjson.decode (baseline)"),
    contender(ctx, slow, "px_pxlua", C.px_argv(ctx, "pxlua", "map", calls, seconds), limit,
      C.NAMES.px_pxlua .. ": api:map, concurrency 16"),
    contender(ctx, slow, "px_require", C.px_argv(ctx, "require", "map", calls, seconds), limit,
      C.NAMES.px_require .. ": api:map, concurrency 16"),
    ctx.lcurl_skip and skipped("lcurlv3", ctx.lcurl_skip) or
      contender(ctx, slow, "lcurlv3", C.lcurl_argv(ctx, "multi", url, calls, seconds), limit,
        C.NAMES.lcurlv3 .. ": multi, 16 in flight"),
    skipped("luasocket", none),
    skipped("luacurl51", none),
  }
  local sequential = {
    contender(ctx, slow, "base", format("%s --decode --post %s --seconds %g %s %d", loop, body, seconds, quote(url),
      seq_calls), limit, C.NAMES.base),
    contender(ctx, slow, "px_pxlua", C.px_argv(ctx, "pxlua", "enable", seq_calls, seconds), limit),
    contender(ctx, slow, "px_require", C.px_argv(ctx, "require", "enable", seq_calls, seconds), limit),
    ctx.lcurl_skip and skipped("lcurlv3", ctx.lcurl_skip) or
      contender(ctx, slow, "lcurlv3", C.lcurl_argv(ctx, "post", url, seq_calls, seconds), limit),
  }
  return concurrent, sequential
end

--- Start-up: what each contender pays before its first request.
function C.startup(ctx)
  local list = {
    { key = "base", name = "C: a program that only initialises libcurl (curl_init)",
      cmd = quote(ctx.bin .. "/curl_init") },
    { key = "px_pxlua", name = "build/pxlua" .. ctx.pxlua_flags .. " -e ''",
      cmd = quote(ctx.pxlua) .. ctx.pxlua_flags .. " -e ''" },
    { key = "px_require", name = "lua5.4 -e 'require \"proxyapi\"'", cmd = "lua5.4 -e 'require \"proxyapi\"'" },
    { key = "lua", name = "lua5.4 -e '' (the interpreter alone)", cmd = "lua5.4 -e ''" },
  }
  if ctx.lcurl_skip then
    table.insert(list, 4, skipped("lcurlv3", ctx.lcurl_skip, "lua5.4 + Lua-cURLv3 + cjson require"))
  else
    table.insert(list, 4, { key = "lcurlv3", name = "lua5.4 -e 'require \"cURL\"; require \"cjson\"'",
      cmd = "lua5.4 -e 'require \"cURL\" require \"cjson\"'" })
  end
  return list
end

--- Per-call instruction counts: { key, name, argv_of(n) } for one work (get or post).
function C.glue(ctx, server, kind)
  local post = kind == "post"
  local path = post and "/openapi/whitelist-account/enable" or "/openapi/whitelist-account/list"
  local url = server.base .. path .. (post and "" or "?app_key=" .. ctx.key)
  local loop = quote(ctx.bin .. "/curl_loop")
  local post_opt = post and " --post " .. quote(C.post_body(ctx)) or ""
  local mode = post and "enable" or "list_accounts"
  local list = {
    { key = "base", argv_of = function(n)
      return format("%s --decode%s %s %d", loop, post_opt, quote(url), n)
    end },
    { key = "px_pxlua", argv_of = function(n)
      return C.px_argv(ctx, "pxlua", mode, n, 600)
    end },
    { key = "px_require", argv_of = function(n)
      return C.px_argv(ctx, "require", mode, n, 600)
    end },
  }
  if ctx.lcurl_skip then
    list[#list + 1] = skipped("lcurlv3", ctx.lcurl_skip)
  else
    list[#list + 1] = { key = "lcurlv3", argv_of = function(n)
      return C.lcurl_argv(ctx, post and "post" or "get", url, n, 600, not post and 5 or nil)
    end }
  end
  for _, g in ipairs(list) do
    g.name = g.name or C.NAMES[g.key]
  end
  return list
end

--- Peak memory of one fetch + decode of `file` (served as list_accounts),
-- and of decoding it from the file alone, in each host.
function C.peak(ctx, server, file)
  local decode = quote(ctx.scripts .. "/decode.lua") .. " " .. quote(file)
  local url = server.base .. "/openapi/whitelist-account/list?app_key=" .. ctx.key
  local list = {
    contender(ctx, server, "decode_lua", "lua5.4 " .. decode, 120, "lua5.4: cjson.decode of the file alone"),
    contender(ctx, server, "px_require", C.px_argv(ctx, "require", "peak", 1, 60), 120),
    contender(ctx, server, "decode_pxlua", quote(ctx.pxlua) .. ctx.pxlua_flags .. " " .. decode, 120,
      "pxlua: cjson.decode of the file alone"),
    contender(ctx, server, "px_pxlua", C.px_argv(ctx, "pxlua", "peak", 1, 60), 120),
  }
  if ctx.lcurl_skip then
    list[#list + 1] = skipped("lcurlv3", ctx.lcurl_skip)
  else
    list[#list + 1] = contender(ctx, server, "lcurlv3", C.lcurl_argv(ctx, "peak", url, 1, 60), 120)
  end
  return list
end

--- The journal's cost: POST enable through proxyapi.new without and with
-- `journal = PATH` (a fresh file per host), in both hosts.
function C.journal(ctx, server, seconds, dir)
  local limit = math.ceil(seconds) + 60
  local list = {}
  for _, host in ipairs { "pxlua", "require" } do
    local key = "px_" .. host
    list[#list + 1] = contender(ctx, server, key, C.px_argv(ctx, host, "enable", BIG, seconds, "-"), limit,
      C.NAMES[key] .. ", no journal")
    local path = format("%s/journal-%s.sqlite", dir, host)
    local c = contender(ctx, server, key .. "_journal", C.px_argv(ctx, host, "enable", BIG, seconds, path), limit,
      C.NAMES[key] .. ", journal = <tmpfile>")
    c.journal_file = path
    list[#list + 1] = c
  end
  return list
end

return C
