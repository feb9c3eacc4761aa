--- `help` at the pxlua prompt: the client's methods from the endpoint
-- table (proxyapi.endpoints), and the few methods that are not endpoints.
-- @module proxyapi.repl_help

local endpoints = require "proxyapi.endpoints"
local core = require "proxyapi.core"

local type, pairs, ipairs, tostring = type, pairs, ipairs, tostring
local format, rep, concat, sort = string.format, string.rep, table.concat, table.sort

local help = {}

-- The methods that are not endpoints, documented here.
local OTHERS = {
  { name = "call", sig = "api:call(method, path, params)",
    summary = "Calls any endpoint: the escape hatch (retried only for GET).",
    args = { { "method", '"GET" or "POST"' }, { "path", 'e.g. "/openapi/ip/v3"' },
             { "params", "optional table: string keys; string, number or boolean values" } },
    returns = "the decoded data, or true when it is null", fails = true,
    usage = 'assert(api:call("GET", "/openapi/ip/dynamic-states/search", { country_code = "US" }))' },
  { name = "map", sig = "api:map(items, fn, {concurrency =, progress =})",
    summary = "Runs fn(api, item, i) for every item; the API calls inside run concurrently.",
    args = { { "items", "an array" }, { "fn", "function(api, item, i)" },
             { "concurrency", "parallel transfers (default: the client's)" },
             { "progress", "function(done, total)" } },
    returns = "results (results[i] for items[i], results.n == #items) and errs (errs[i] for failures)",
    usage = "local results, errs = api:map(names, function(api, name) return api:change_limit(name, 10) end)" },
  { name = "check_proxies", sig = "api:check_proxies(addrs, {url =, timeout =, username =, password =})",
    summary = "Fetches a URL through each proxy, concurrently.",
    args = { { "addrs", '"host:port" or "scheme://[user:pass@]host:port" strings' },
             { "url", "an http(s) URL" }, { "timeout", "seconds (default 5)" },
             { "username", "proxy user" }, { "password", "proxy password" } },
    returns = "one {addr =, ok =, status =, latency_ms =, err =} per address, in order",
    usage = 'for _, r in ipairs(api:check_proxies(ips, { url = "https://example.com/" })) do print(r.addr, r.ok) end' },
  { name = "settings", sig = "api:settings()",
    summary = "The client's settings, without the key.",
    returns = "base_url, timeout, connect_timeout, retries, ..., dry_run, paths",
    usage = "if api:settings().dry_run then print(\"nothing will change\") end" },
  { name = "close", sig = "api:close()",
    summary = "Frees the client's connections at once; later calls raise.",
    returns = "nothing", usage = "api:close()" },
}

local EFFECTS = {
  change = "Changes the accounts: --dry-run prints it instead of sending it.",
  hand_out = "Hands out IPs the provider counts: --dry-run prints it instead of sending it.",
}

-- The call as it is written: positional arguments by wire name, an
-- options table as {field =, ...}.
local function signature(name, ep)
  local by_pos, last = {}, 0
  for _, a in ipairs(ep.args or {}) do
    local slot = by_pos[a.pos] or {}
    by_pos[a.pos] = slot
    slot[#slot + 1] = a
    last = a.pos > last and a.pos or last
  end
  local parts = {}
  for pos = 1, last do
    local slot = by_pos[pos] or {}
    if slot[1] and slot[1].field then
      local fields = {}
      for _, a in ipairs(slot) do
        fields[#fields + 1] = a.field .. " ="
      end
      parts[#parts + 1] = "{" .. concat(fields, ", ") .. "}"
    else
      parts[#parts + 1] = slot[1] and slot[1].wire or "_"
    end
  end
  return format("api:%s(%s)", name, concat(parts, ", "))
end

-- Every method's entry: {name, sig, summary, args = {{name, doc}}, returns, usage, note}.
local function entries()
  local list = {}
  for name, ep in pairs(endpoints) do
    local args = {}
    for _, a in ipairs(ep.args or {}) do
      args[#args + 1] = { a.field or a.wire, (a.required and "(required) " or "") .. (a.doc or "") }
    end
    local note = EFFECTS[ep.effect]
    if ep.irreversible then
      note = "Irreversible. " .. (note or "")
    end
    list[#list + 1] = { name = name, sig = signature(name, ep), summary = ep.summary, args = args,
                        returns = ep.returns, usage = ep.usage, note = note, fails = true }
    if ep.paged then
      local it = ep.paged.iterator
      local iter_args = {}
      for _, a in ipairs(args) do
        if a[1] ~= ep.paged.page then
          iter_args[#iter_args + 1] = a
        end
      end
      list[#list + 1] = { name = it, sig = (signature(it, ep):gsub(ep.paged.page .. " =, ", "")),
                          summary = format("Every item of %s, page after page (an iterator; it "
                            .. "raises on a failure).", name), args = iter_args, returns = "an iterator",
                          usage = ep.paged.usage }
    end
  end
  sort(list, function(a, b) return a.name < b.name end)
  for _, other in ipairs(OTHERS) do
    list[#list + 1] = other
  end
  return list
end

local function find_entry(name)
  if type(name) == "function" then -- help(api.list_accounts)
    for key, value in pairs(core.Client) do
      if value == name then
        name = key
      end
    end
  end
  if type(name) ~= "string" then
    return nil
  end
  name = name:gsub("^api[:.]", "")
  for _, entry in ipairs(entries()) do
    if entry.name == name then
      return entry
    end
  end
end

--- The text `help(name)` prints: the list of methods without a name, a
-- method's arguments, result and example with one.
-- @param[opt] name a method's name ("list_accounts", "api:list_accounts") or the method
-- @treturn string
-- @usage print(help.text "list_accounts")
function help.text(name)
  local out = {}
  if name == nil then
    local list = entries()
    local width = 0
    for _, entry in ipairs(list) do
      width = #entry.name > width and #entry.name or width
    end
    out[1] = "The client `api` (call its methods as api:NAME(...)):"
    for _, entry in ipairs(list) do
      -- one line each: the summary up to its first parenthesis
      local summary = entry.summary:gsub(" %(.*$", ""):gsub("([^.])$", "%1.")
      out[#out + 1] = format("  %s%s  %s", entry.name, rep(" ", width - #entry.name), summary)
    end
    out[#out + 1] = "The module `proxyapi`: proxyapi.new{...}, proxyapi.product, proxyapi.is_error(v), ..."
    out[#out + 1] = 'help "NAME" (or help(api.NAME)) shows a method\'s arguments, result and an example.'
    out[#out + 1] = "Tab completes globals, fields and methods; Ctrl-C stops a statement, Ctrl-D leaves."
    return concat(out, "\n")
  end
  local entry = find_entry(name)
  if entry == nil then
    return format("no help for %s: help() lists the methods", type(name) == "string" and name or tostring(type(name)))
  end
  out[1] = entry.sig
  out[2] = "  " .. entry.summary
  if entry.args and #entry.args > 0 then
    out[#out + 1] = "Arguments:"
    local width = 0
    for _, a in ipairs(entry.args) do
      width = #a[1] > width and #a[1] or width
    end
    for _, a in ipairs(entry.args) do
      out[#out + 1] = format("  %s%s  %s", a[1], rep(" ", width - #a[1]), a[2])
    end
  end
  out[#out + 1] = "Returns: " .. entry.returns .. (entry.fails and "; nil, err on a failure" or "")
  if entry.note then
    out[#out + 1] = entry.note
  end
  out[#out + 1] = "Example: " .. entry.usage
  return concat(out, "\n")
end

--- The global `help` of the prompt: prints `help.text(name)`.
-- @usage help "list_accounts"
function help.help(name)
  io.stdout:write(help.text(name), "\n")
end

return help
