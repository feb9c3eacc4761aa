-- HTTP/1.1 for the fake: reading requests from a connection and writing
-- response heads. The connection object supplies buf/pos (unread input),
-- receive_chunk() and send(); both may suspend the calling coroutine.
local find, sub, match, gsub, lower, char = string.find, string.sub, string.match, string.gsub, string.lower,
  string.char
local concat = table.concat

local http = {}

local MAX_HEAD = 64 * 1024
local MAX_BODY = 8 * 1024 * 1024

http.reasons = {
  [100] = "Continue", [200] = "OK", [201] = "Created", [204] = "No Content",
  [301] = "Moved Permanently", [302] = "Found", [304] = "Not Modified",
  [400] = "Bad Request", [401] = "Unauthorized", [403] = "Forbidden", [404] = "Not Found",
  [405] = "Method Not Allowed", [408] = "Request Timeout", [409] = "Conflict",
  [413] = "Content Too Large", [418] = "I'm a teapot", [422] = "Unprocessable Content",
  [429] = "Too Many Requests", [500] = "Internal Server Error", [501] = "Not Implemented",
  [502] = "Bad Gateway", [503] = "Service Unavailable", [504] = "Gateway Timeout",
}

local function fill(conn)
  local chunk, err = conn:receive_chunk()
  if not chunk then return nil, err end
  conn.buf = conn.pos > #conn.buf and chunk or sub(conn.buf, conn.pos) .. chunk
  conn.pos = 1
  return true
end

-- Exactly n bytes; large bodies are gathered in a table, not by repeated
-- concatenation.
local function read_exact(conn, n)
  local have = #conn.buf - conn.pos + 1
  if have >= n then
    local s = sub(conn.buf, conn.pos, conn.pos + n - 1)
    conn.pos = conn.pos + n
    return s
  end
  local parts = { sub(conn.buf, conn.pos) }
  while have < n do
    local chunk = conn:receive_chunk()
    if not chunk then return nil end
    parts[#parts + 1] = chunk
    have = have + #chunk
  end
  local all = concat(parts)
  conn.buf, conn.pos = sub(all, n + 1), 1
  return sub(all, 1, n)
end

local function read_line(conn)
  while true do
    local s, e = find(conn.buf, "\r?\n", conn.pos)
    if s then
      local line = sub(conn.buf, conn.pos, s - 1)
      conn.pos = e + 1
      return line
    end
    if #conn.buf - conn.pos > 4096 or not fill(conn) then return nil end
  end
end

local function read_chunked(conn)
  local parts, total = {}, 0
  while true do
    local line = read_line(conn)
    local size = line and match(line, "^(%x+)")
    if not size or #size > 8 then return nil, "bad chunk size" end
    size = tonumber(size, 16)
    if size == 0 then
      repeat line = read_line(conn) until line == nil or line == ""
      if not line then return nil, "bad chunk trailer" end
      return concat(parts)
    end
    total = total + size
    if total > MAX_BODY then return nil, "request body too large" end
    local chunk = read_exact(conn, size)
    if not chunk or read_line(conn) ~= "" then return nil, "bad chunk" end
    parts[#parts + 1] = chunk
  end
end

-- The next request on conn, or nil and "closed" (peer went away) or a
-- reason to answer 400.
function http.read_request(conn)
  local head_end, term_end
  while true do
    local start = find(conn.buf, "[^\r\n]", conn.pos)   -- blank lines before a request are allowed
    if start then
      conn.pos = start
      head_end, term_end = find(conn.buf, "\r?\n\r?\n", start)
      if head_end then break end
      if #conn.buf - start > MAX_HEAD then return nil, "request head too large" end
    else
      conn.buf, conn.pos = "", 1
    end
    if not fill(conn) then return nil, "closed" end
  end
  local buf = conn.buf
  local _, e, method, target, major, minor = find(buf, "^(%u+) ([^ \r\n]+) HTTP/(%d)%.(%d)\r?\n", conn.pos)
  if not e or e > term_end then return nil, "bad request line" end
  if major ~= "1" then return nil, "unsupported HTTP version" end
  local headers, pos = {}, e + 1
  while pos <= head_end do
    local name, value
    _, e, name, value = find(buf, "^([%w!#$%%&'*+%-.^_`|~]+):[ \t]*([^\r\n]-)[ \t]*\r?\n", pos)
    if not e then return nil, "bad header line" end
    name = lower(name)
    headers[name] = headers[name] and headers[name] .. ", " .. value or value
    pos = e + 1
  end
  conn.pos = term_end + 1

  local req = { method = method, headers = headers, minor = minor }
  target = match(target, "^https?://[^/]*(/.*)$") or target
  req.path, req.query = match(target, "^([^?#]*)%??([^#]*)")
  if req.path == "" then req.path = "/" end
  local connection = lower(headers.connection or "")
  if minor == "0" then
    req.keep_alive = find(connection, "keep-alive", 1, true) ~= nil
  else
    req.keep_alive = not find(connection, "close", 1, true)
  end

  local te, cl = headers["transfer-encoding"], headers["content-length"]
  local continue = minor ~= "0" and lower(headers.expect or "") == "100-continue"
  if te then
    if not find(lower(te), "chunked%s*$") then return nil, "unsupported transfer-encoding" end
    if continue and conn.pos > #conn.buf then conn:send "HTTP/1.1 100 Continue\r\n\r\n" end
    local body, err = read_chunked(conn)
    if not body then return nil, err end
    req.body = body
  elseif cl then
    if not find(cl, "^%d+$") or #cl > 12 then return nil, "bad content-length" end
    local n = tonumber(cl)
    if n > MAX_BODY then return nil, "request body too large" end
    if continue and n > #conn.buf - conn.pos + 1 then conn:send "HTTP/1.1 100 Continue\r\n\r\n" end
    req.body = read_exact(conn, n)
    if not req.body then return nil, "closed" end
  else
    req.body = ""
  end
  return req
end

local function unescape(s)
  if not find(s, "[%%+]") then return s end
  s = gsub(s, "+", " ")
  return (gsub(s, "%%(%x%x)", function(h) return char(tonumber(h, 16)) end))
end

-- "a=1&b=x%20y" -> { a = "1", b = "x y" }; the last of repeated keys wins.
function http.parse_query(query)
  local params = {}
  if query and query ~= "" then
    for pair in query:gmatch "[^&]+" do
      local k, v = match(pair, "^([^=]*)=?(.*)$")
      params[unescape(k)] = unescape(v)
    end
  end
  return params
end

-- The status line and headers of a response, ending with the blank line.
function http.head(status, length, content_type, keep_alive, extra)
  local t = { "HTTP/1.1 ", status, " ", http.reasons[status] or "Unknown",
              "\r\nServer: proxyapi-fake\r\nContent-Type: ", content_type,
              "\r\nContent-Length: ", length, keep_alive and "\r\n" or "\r\nConnection: close\r\n" }
  if extra then
    for name, value in pairs(extra) do t[#t + 1] = name .. ": " .. value .. "\r\n" end
  end
  t[#t + 1] = "\r\n"
  return concat(t)
end

return http
