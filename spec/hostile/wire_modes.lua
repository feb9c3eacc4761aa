-- Attacks on the HTTP layer, for spec/hostile/server.lua. Each mode is
-- function(conn, req, param) and returns "close" to drop the connection
-- after it, or nothing to keep it alive. `req.hit` counts the requests
-- its segment has seen, this one included.
local modes = {}

local OK_BODY = '{"code":200,"msg":"success","data":{"list":[]}}'
local OK_RESPONSE = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
  .. #OK_BODY .. "\r\n\r\n" .. OK_BODY

-- the most any endless mode writes on one connection
local MAX_WRITTEN = 64 * 1024 * 1024

--- An answer every endpoint accepts; param (or a `delay` in the query,
-- which wins): seconds to wait first.
function modes.ok(c, req, param)
  local delay = tonumber((req.query or ""):match("delay=([%d.]+)") or param)
  if delay and delay > 0 then
    c:sleep(math.min(delay, 30))
  end
  c:respond(200, OK_BODY)
end
modes.slow = modes.ok

function modes.unknown(c)
  c:respond(404, '{"code":404,"msg":"no such mode"}')
end

--- The defect found first: the start of the headers, then a close.
function modes.half_headers(c)
  c:send("HTTP/1.1 200 OK\r\nContent-Type: appli")
  return "close"
end

--- The first `param` bytes of a good response, then a close.
function modes.cut(c, _, param)
  c:send(OK_RESPONSE:sub(1, tonumber(param) or 10))
  return "close"
end

--- Headers, then a chunked body that never ends (JSON whitespace).
function modes.chunked_endless(c)
  c:send("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
  local opening = '{"code":200,"data":{"list":['
  c:send(string.format("%x\r\n%s\r\n", #opening, opening))
  local chunk = string.format("%x\r\n%s\r\n", 8192, (" "):rep(8192))
  for _ = 1, MAX_WRITTEN // 8192 do
    c:send(chunk)
  end
  return "close"
end

--- A good response (with a long padded body), one byte every `param` ms.
function modes.trickle(c, _, param)
  local body = OK_BODY .. (" "):rep(4096)
  local response = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
    .. #body .. "\r\n\r\n" .. body
  local pause = (tonumber(param) or 50) / 1000
  for i = 1, #response do
    c:send(response:sub(i, i))
    c:sleep(pause)
  end
end

function modes.not_http(c)
  c:send("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")
  return "close"
end

function modes.bad_status(c)
  c:send("HTTP/1.1 2x0 Fine\r\nContent-Length: " .. #OK_BODY .. "\r\n\r\n" .. OK_BODY)
  return "close"
end

--- HTTP/1.0 without a length: the body ends at the close. param "cut":
-- the close comes in the middle of the JSON.
function modes.http10(c, _, param)
  local body = param == "cut" and OK_BODY:sub(1, 20) or OK_BODY
  c:send("HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n" .. body)
  return "close"
end

function modes.two_lengths(c)
  c:send("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 12\r\nContent-Length: "
    .. #OK_BODY .. "\r\n\r\n" .. OK_BODY)
  return "close"
end

--- A Content-Length of `param` (raw), a good body, then a close.
function modes.length(c, _, param)
  c:send("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " .. param .. "\r\n\r\n" .. OK_BODY)
  return "close"
end

--- A Content-Length larger than the body, then a close.
function modes.short_body(c)
  c:send("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
    .. (#OK_BODY + 500) .. "\r\n\r\n" .. OK_BODY)
  return "close"
end

--- Interim 1xx responses, one every 10 ms, forever.
function modes.continue_forever(c)
  for _ = 1, 100000 do
    c:send("HTTP/1.1 100 Continue\r\n\r\n")
    c:sleep(0.01)
  end
  return "close"
end

--- Headers that never end.
function modes.header_flood(c)
  c:send("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
  local block = {}
  for i = 1, 256 do
    block[i] = string.format("X-Flood-%d: %s\r\n", i, ("f"):rep(20))
  end
  block = table.concat(block)
  for _ = 1, MAX_WRITTEN // #block do
    c:send(block)
  end
  return "close"
end

--- One header line of `param` KB (default 200), then a good reply.
function modes.long_header(c, _, param)
  local kb = math.tointeger(tonumber(param)) or 200
  c:send("HTTP/1.1 200 OK\r\nX-Long: " .. ("L"):rep(kb * 1024) .. "\r\nContent-Type: application/json\r\n"
    .. "Content-Length: " .. #OK_BODY .. "\r\n\r\n" .. OK_BODY)
  return "close"
end

--- A success sent before the request body is read (then the body is read).
function modes.early(c, req)
  c:respond(200, OK_BODY, { "Connection: close" })
  if req.length > 0 then
    req.body = c:receive(req.length)
  end
  return "close"
end

--- A refusal sent before the request body is read, then a close.
function modes.early_close(c)
  c:respond(413, '{"code":413,"msg":"too large"}', { "Connection: close" })
  return "close"
end

local gzipped = {}

--- The gzip of `text` (Debian's gzip, through a temporary file).
local function gzip(name, make)
  if gzipped[name] == nil then
    local tmp = os.tmpname()
    local f = assert(io.popen("gzip -c -9 > " .. tmp, "w"))
    make(f)
    f:close()
    f = assert(io.open(tmp, "rb"))
    gzipped[name] = f:read("a")
    f:close()
    os.remove(tmp)
  end
  return gzipped[name]
end

--- Content-Encoding: gzip. param "bomb": a valid reply followed by 32 MB
-- of spaces (about 32 KB on the wire); anything else: the plain reply.
function modes.gzip(c, _, param)
  local body
  if param == "bomb" then
    body = gzip("bomb", function(f)
      f:write(OK_BODY:sub(1, -2))
      local spaces = (" "):rep(1024 * 1024)
      for _ = 1, 32 do
        f:write(spaces)
      end
      f:write("}")
    end)
  else
    body = gzip("plain", function(f) f:write(OK_BODY) end)
  end
  c:respond(200, body, { "Content-Encoding: gzip" })
end

--- A redirect (status `param`, default 302) to an answer that would
-- succeed, with the query (and so the key) in the Location.
function modes.redirect(c, req, param)
  local status = math.tointeger(tonumber(param)) or 302
  c:respond(status, OK_BODY, {
    "Location: /ok~redirected" .. req.path .. "?" .. (req.query or ""),
  }, "Moved")
end

--- Answers, then closes without saying so (no Connection: close).
function modes.close_after(c)
  c:respond(200, OK_BODY)
  return "close"
end

--- On every connection: answers the first request and drops the second
-- without a reply (a keep-alive connection that dies under the client).
function modes.close_second(c)
  c.served = (c.served or 0) + 1
  if c.served > 1 then
    return "close"
  end
  c:respond(200, OK_BODY)
end

--- Answers the first request of a connection with two responses in a
-- row, the second a refusal nobody asked for; later ones normally.
function modes.smuggle(c)
  c.served = (c.served or 0) + 1
  if c.served > 1 then
    c:respond(200, OK_BODY)
    return
  end
  local extra = '{"code":3,"msg":"smuggled"}'
  c:send(OK_RESPONSE .. "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
    .. #extra .. "\r\n\r\n" .. extra)
end

--- A chunked body whose chunk size is not hexadecimal.
function modes.bad_chunk(c)
  c:send("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    .. "zz\r\n" .. OK_BODY .. "\r\n0\r\n\r\n")
  return "close"
end

--- Reads the request, then resets the connection.
function modes.reset(c)
  c:close(true)
end

-- As an outbound proxy: what a CONNECT gets, by the first label of the
-- host it names ("deny-1.example.invalid").
function modes.deny(c)
  c:respond(403, "Forbidden by the proxy\n", { "Content-Type: text/plain", "Connection: close" }, "Forbidden")
  return "close"
end

function modes.auth(c)
  c:respond(407, "", { "Proxy-Authenticate: Basic realm=\"hostile\"", "Connection: close" },
    "Proxy Authentication Required")
  return "close"
end

function modes.hangup()
  return "close"
end

--- Opens the tunnel, then closes it before the TLS handshake.
function modes.tunnel(c)
  c:send("HTTP/1.1 200 Connection established\r\n\r\n")
  return "close"
end

return modes
