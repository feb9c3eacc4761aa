-- What `make bench` prints at the end: the main table (every work, every
-- contender, µs/call and both ratios), instruction counts, peak memory,
-- RSS, the journal, and the targets. `r` is what run.lua measured.

local measure = require "measure"
local report = require "report"

local format = string.format
local say, num, ratio, target = report.say, report.num, report.ratio, report.target

local M = {}

local HOSTS = { { key = "px_pxlua", label = "pxlua" }, { key = "px_require", label = "require" } }
local BOLD = { px_pxlua = true, px_require = true }

local function find(list, key)
  for _, c in ipairs(list or {}) do
    if c.key == key then
      return c
    end
  end
  return nil
end

local function us(list, key)
  local c = find(list, key)
  return c and c.us
end

local function quotient(a, b)
  return a and b and b > 0 and a / b or nil
end

local function header(ctx, S)
  say("proxyapi benchmark — %s", os.date("!%Y-%m-%d %H:%M:%S UTC"))
  say("machine: %s, %d cores, %s; %s", ctx.cpu_model, ctx.ncpu, measure.first_line("uname -sr"), ctx.pinning)
  say("libcurl: %s", measure.first_line(format("%s -e %s", measure.quote(ctx.pxlua),
    measure.quote('print(require("proxyapi.core").curl_version())'))))
  say("lua: %s; %s", measure.first_line("lua5.4 -v"), measure.first_line("lua5.1 -v"))
  say("runs: median of %d per contender, round-robin (the 10 ms rows: %d); server: 1 thread, epoll, canned replies",
    S.reps, S.batch_reps)
  say("pxlua rows run as `pxlua%s`%s; Lua-cURLv3: %s", ctx.pxlua_flags,
    ctx.pxlua_flags == "" and " (this pxlua has no --no-journal)" or "",
    ctx.lcurl_why and "skipped: " .. ctx.lcurl_why or "built from ../shared/peers/ under build/peers/")
end

local function main_table(r)
  report.main_header("All rows (µs per call; per start for start-up). Ratios to the floor + decode and to "
    .. "Lua-cURLv3 + cjson of the same row.")
  for _, w in ipairs(r.works) do
    report.group(w.title, w.row, { bold = BOLD })
  end
  report.group("16-way batch: POST enable, server +10 ms per request", r.batch, { bold = BOLD })
  report.group("the same POSTs one at a time, server +10 ms", r.seq, { bold = BOLD })
  report.group("start-up (hyperfine, mean)", r.startup, { bold = BOLD })
  say("")
  for _, w in ipairs(r.works) do
    say("%s: %s", w.title, w.load or "")
  end
  say("16-way batch and one at a time: %s; start-up: %s", r.batch_load or "", r.startup_how or "")
  say("µs/call: wall time per call, median of the runs (the ratios and targets use it); best: the fastest run;")
  say("cpu: the client's CPU time per call (user + system); server: the server's CPU time per call, on its own CPU.")
  if r.served[1] then
    say("Server totals for the plain rows: %s connections, %s requests.", r.served[1], r.served[2])
  end
end

local function glue_table(g, S)
  say("")
  say("Glue per call, by instruction counts (callgrind, user space: I(2N) - I(N) over N, N = %d; each I the least"
    .. " of %d runs)", S.glue_calls, S.glue_repeats)
  if g.rate then
    say("instruction rate of this machine: %s instructions per µs (%s)", num(g.rate, 0), g.rate_note)
  else
    say("instruction rate: not measured (%s)", (g.rate_error or "?"):gsub("\n", " "))
  end
  say("libcurl: every call into libcurl, inclusive, less its callbacks into the client; cjson: every call into")
  say("lua-cjson, inclusive; own code (the glue): the rest, the Lua VM, the C glue and those callbacks.")
  say("")
  say("| work | contender | instructions/call | libcurl | cjson | own code (glue) | glue µs | minus floor + decode |")
  say("|---|---|---:|---:|---:|---:|---:|---:|")
  for _, w in ipairs(g.works) do
    local base = find(w.list, "base")
    local base_ir = base and base.ir
    for i, c in ipairs(w.list) do
      local label = i == 1 and (w.kind == "get" and "GET list_accounts" or "POST enable_accounts") or ""
      if c.skip then
        say("| %s | %s | skipped: %s | | | | | |", label, c.name, c.skip)
      elseif not c.ir then
        say("| %s | %s | FAILED: %s | | | | | |", label, c.name, (c.error or "?"):gsub("[\n|]", " "):sub(1, 160))
      else
        local sp = c.split or {}
        c.glue_us = sp.own and g.rate and sp.own / g.rate
        local extra = c.key ~= "base" and base_ir and c.ir - base_ir
        say("| %s | %s | %s | %s | %s | %s | %s | %s |", label, c.name, num(c.ir, 0), sp.libcurl and num(sp.libcurl, 0)
          or "-", sp.decode and num(sp.decode, 0) or "-", sp.own and num(sp.own, 0) or "-",
          c.glue_us and format("%.2f", c.glue_us) or "-", extra and num(extra, 0) or "—")
      end
    end
  end
end

local function peak_table(peak)
  say("")
  say("Decode peak memory: VmHWM of one process that fetches one reply and decodes it once, against one that only")
  say("decodes the same text read from a file (same host); MiB. Growth: peak minus VmHWM before the call (before")
  say("reading the file, for decode alone): the host's own start-up memory left out.")
  say("")
  say("| shape | contender | peak MiB | before the call MiB | growth MiB | vs decode alone | growth vs its growth |")
  say("|---|---|---:|---:|---:|---:|---:|")
  for _, s in ipairs(peak) do
    local ref = { px_require = "decode_lua", lcurlv3 = "decode_lua", px_pxlua = "decode_pxlua" }
    for i, c in ipairs(s.list) do
      local label = i == 1 and format("%s, %s MB", s.shape, num(s.bytes / 1e6, 1)) or ""
      if c.skip then
        say("| %s | %s | skipped: %s | | | | |", label, c.name, c.skip)
      elseif not c.hwm then
        say("| %s | %s | FAILED: %s | | | | |", label, c.name, (c.failure or "?"):gsub("[\n|]", " "):sub(1, 160))
      else
        local r = ref[c.key] and find(s.list, ref[c.key])
        c.ratio = r and r.hwm and quotient(c.hwm, r.hwm)
        local growth = r and r.hwm and quotient(c.hwm - c.before, r.hwm - r.before)
        c.growth = growth
        say("| %s | %s | %s | %s | %s | %s | %s |", label, c.name, num(c.hwm / 1024, 1), num(c.before / 1024, 1),
          num((c.hwm - c.before) / 1024, 1), c.ratio and format("%.2f×", c.ratio) or "—",
          growth and format("%.2f×", growth) or "—")
      end
    end
  end
end

local function rss_lines(rss, S)
  say("")
  say("RSS over a long run of list_accounts (VmHWM):")
  for _, e in ipairs(rss) do
    if e.error then
      say("  %-8s FAILED: %s", e.host, e.error)
    else
      say("  %-8s after %d calls %s KiB, after %d calls %s KiB: %+d KiB (%.1f µs/call over the run)", e.host,
        S.rss_calls // 10, num(e.first, 0), S.rss_calls, num(e.last, 0), e.last - e.first, e.us)
    end
  end
end

local function journal_lines(j)
  say("")
  if j.skip then
    say("Journal cost per write (POST enable with journal = <tmpfile> vs without): skipped: %s", j.skip)
    return
  end
  say("Journal cost per write (POST enable, proxyapi.new with and without journal = <tmpfile>):")
  for _, host in ipairs(HOSTS) do
    local off, on = find(j.list, host.key), find(j.list, host.key .. "_journal")
    if on.skip or off.skip then
      say("  %-8s skipped: %s", host.label, on.skip or off.skip)
    elseif on.us and off.us then
      say("  %-8s without %s µs, with %s µs: %+.1f µs per write (%s)", host.label, num(off.us), num(on.us),
        on.us - off.us, ratio(on.us, off.us))
    else
      say("  %-8s FAILED: %s", host.label, ((on.failure or off.failure or "?"):gsub("\n", " ")):sub(1, 200))
    end
  end
end

local function targets(r, S)
  local works = {}
  for _, w in ipairs(r.works) do
    works[w.id] = w.row
  end
  local rows = {
    { "1 KB", works.get1k }, { "200 KB", works.get200k }, { "POST", works.post }, { "batch", r.batch },
    { "start-up", r.startup },
  }
  for _, host in ipairs(HOSTS) do
    local cells = {}
    for i, row in ipairs(rows) do
      cells[i] = { row[1], quotient(us(row[2], host.key), us(row[2], "lcurlv3")) }
    end
    local text, ok = report.all_within(cells, 1.0)
    target(format("%s: proxyapi <= Lua-cURLv3 + cjson on every row: %s", host.label, text), ok)
  end
  local cells = {}
  for i, row in ipairs(rows) do
    cells[i] = { row[1], quotient(us(row[2], "px_pxlua"), us(row[2], "base")) }
  end
  local text, ok = report.all_within(cells, 1.05)
  target("pxlua: <= 1.05x (floor + decode) on every row: " .. text, ok)
  text, ok = report.all_within({
    { "1 KB", quotient(us(works.get1k, "px_require"), us(works.get1k, "base")) },
    { "POST", quotient(us(works.post, "px_require"), us(works.post, "base")) },
  }, 1.10)
  target("require: <= 1.10x (floor + decode) on the 1 KB GET and the POST: " .. text, ok)

  local parts, all, any = {}, true, false
  for _, w in ipairs(r.glue.works) do
    for _, host in ipairs(HOSTS) do
      local c = find(w.list, host.key)
      local v = c and c.glue_us
      parts[#parts + 1] = format("%s %s %s", host.label, w.kind, v and format("%.2f µs", v) or "-")
      any, all = any or v ~= nil, all and v ~= nil and v <= 2
    end
  end
  local glue_ok = nil
  if any then
    glue_ok = all
  end
  target("per-call glue (own code) <= 2 µs (instruction counts): " .. table.concat(parts, ", "), glue_ok)

  local seq_parts, seq_ok = {}, true
  for _, host in ipairs(HOSTS) do
    local v = quotient(us(r.seq, host.key), us(r.batch, host.key))
    seq_parts[#seq_parts + 1] = host.label .. " " .. (v and format("%.1f×", v) or "-")
    seq_ok = seq_ok and v ~= nil and v >= 15
  end
  target("api:map >= 15x sequential at concurrency 16, server +10 ms: " .. table.concat(seq_parts, ", "), seq_ok)

  local rss_parts, rss_ok = {}, true
  for _, e in ipairs(r.rss) do
    local d = not e.error and e.last - e.first
    rss_parts[#rss_parts + 1] = e.host .. " " .. (d and format("%+d KiB", d) or "-")
    rss_ok = rss_ok and d and math.abs(d) <= 1024
  end
  target(format("RSS flat (±1 MiB) from %dk to %dk calls: %s", S.rss_calls // 10000, S.rss_calls // 1000,
    table.concat(rss_parts, ", ")), rss_ok and true or false)

  for _, s in ipairs(r.peak) do
    local px_cells, growth = {}, {}
    for i, host in ipairs(HOSTS) do
      local c = find(s.list, host.key)
      px_cells[i] = { host.label, c and c.ratio }
      growth[i] = host.label .. " " .. (c and c.growth and format("%.2f×", c.growth) or "-")
    end
    text, ok = report.all_within(px_cells, 1.2)
    target(format("decode peak <= 1.2x decode alone, %s: %s", s.shape, text), ok,
      "growth only: " .. table.concat(growth, ", "))
  end
end

function M.print_all(ctx, S, r)
  header(ctx, S)
  main_table(r)
  glue_table(r.glue, S)
  peak_table(r.peak)
  rss_lines(r.rss, S)
  journal_lines(r.journal)
  targets(r, S)
  report.print_targets()
end

return M
