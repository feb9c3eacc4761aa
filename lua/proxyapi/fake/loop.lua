-- The event loop: one thread serves every connection. Non-blocking
-- sockets and socket.select; each connection's coroutine (conn.lua) runs
-- until it waits to read, to write or for a delay, and is resumed when its
-- socket is ready or its delay is over, so a slow reply never holds up the
-- others.
local socket = require "socket"
local conn = require "proxyapi.fake.conn"

local gettime, select = socket.gettime, socket.select
local resume, status_of = coroutine.resume, coroutine.status

local loop = {}

loop.MAX_CONNS = 900        -- select() works on fds below FD_SETSIZE (1024)

local function drop(server, c)
  c.sock:close()
  server.conns[c], server.by_sock[c.sock] = nil, nil
end

local function wake(server, c)
  c.waiting, c.wake_at = nil, nil
  local ok, what, at = resume(c.co)
  if not ok then
    if io.stderr then io.stderr:write("proxyapi-fake: connection ", c.id, ": ", tostring(what), "\n") end
    return drop(server, c)
  end
  if status_of(c.co) == "dead" then return drop(server, c) end
  c.waiting, c.wake_at = what, at
end

local function accept(server)
  while server.count < loop.MAX_CONNS do
    local sock = server.listener:accept()
    if not sock then return end
    sock:settimeout(0)
    sock:setoption("tcp-nodelay", true)
    server.next_conn = server.next_conn + 1
    local c = conn.new(server, sock, server.next_conn)
    server.conns[c], server.by_sock[sock] = true, c
    server.count = server.count + 1
    wake(server, c)
  end
end

-- One turn: wait up to timeout seconds (less when a delay ends sooner),
-- then accept, read, write and wake what is due. Returns false once the
-- fake has been shut down, or nil and an error.
function loop.step(server, timeout)
  local now, wait = gettime(), timeout or 0
  local recvt, sendt, nr, ns, count = server.recvt, server.sendt, 0, 0, 0
  for c in pairs(server.conns) do
    count = count + 1
    local waiting = c.waiting
    if waiting == "read" then
      nr = nr + 1
      recvt[nr] = c.sock
    elseif waiting == "write" then
      ns = ns + 1
      sendt[ns] = c.sock
    elseif waiting == "sleep" and c.wake_at - now < wait then
      wait = math.max(0, c.wake_at - now)
    end
  end
  server.count = count
  if count < loop.MAX_CONNS then
    nr = nr + 1
    recvt[nr] = server.listener
  end
  for i = nr + 1, #recvt do recvt[i] = nil end
  for i = ns + 1, #sendt do sendt[i] = nil end
  local readable, writable, err = select(recvt, sendt, wait)
  if err and err ~= "timeout" then return nil, err end
  for _, sock in ipairs(readable) do
    if sock == server.listener then
      accept(server)
    else
      local c = server.by_sock[sock]
      if c and c.waiting == "read" then wake(server, c) end
    end
  end
  for _, sock in ipairs(writable) do
    local c = server.by_sock[sock]
    if c and c.waiting == "write" then wake(server, c) end
  end
  now = gettime()
  local due = {}
  for c in pairs(server.conns) do
    if c.waiting == "sleep" and c.wake_at <= now then due[#due + 1] = c end
  end
  for _, c in ipairs(due) do wake(server, c) end
  return not server.stopped
end

return loop
