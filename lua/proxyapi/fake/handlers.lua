-- The provider's endpoints over an in-memory state: routing, the checks
-- every request goes through, and the state (accounts.lua, usage.lua,
-- packages.lua and locations.lua hold the endpoints).
--
-- Guesses about the real service (its reference does not say):
-- - Parameter errors answer HTTP 200 with code 400 and a msg naming the parameter and the problem.
-- - The HTTP status is always 200 for known paths; unknown paths answer HTTP 404, wrong methods HTTP 405.
-- - A POST body that is not a JSON object answers code 400 before the app_key is looked at.
-- - POST parameters are read from the JSON body only, never from the query string.
-- - The app_key is checked before anything else; code 156 (not verified) comes after it, on writes only.
-- - Every endpoint needs the app_key, the location lists too (their reference shows no parameters).
-- - The account list is ordered by id; created_at of new accounts is the fake clock's time
--   (local time, unless moved).
-- - A GET parameter given empty ("username=") counts as absent; a JSON null counts as absent.
-- - Numbers in JSON bodies must be JSON numbers: "9" or "5" as strings are refused.
-- - Usernames are case-sensitive and have no length limit besides being non-empty.
-- - add: an item that is not exactly "username:password" is refused; the whole batch is atomic.
-- - delete/disable/enable: a name given twice in one request is accepted (acted on once).
-- - delete/disable/enable/change-*: an unknown account is refused with code 400 naming it.
-- - Remark: control characters are C0, DEL and C1 (U+0000-U+001F, U+007F-U+009F).
-- - New accounts: status 1, limit_flow 0, usage_flow 0, remark "" when not given, ids count up.
-- - Usage: the default range is the 7 calendar days ending with end_time (default now): 7 entries.
-- - Usage: one entry per day of the range, 0 for idle days, for days before the account
--   existed and for days after today; an unknown or deleted username gives an empty list
--   (a deleted account's history is dropped: a name added again starts with none).
-- - Usage: traffic counts on the day it is used and in usage_flow at once (the reference's
--   "delay of up to 5 minutes" is not modelled); disabled accounts use no traffic.
-- - Usage: with product_type, only accounts of that type count; a username of another type
--   gives an empty list.
-- - Products and static IPs are listed newest first (id descending).
-- - Static IPs: status 3 (expiring soon) means the last 7 days before expired_at; status 2
--   (invalid) from expired_at on.
-- - page >= 1; size 1..100 (size over 100 is refused, not clamped); total_page is 0 when empty.
-- - Extraction: num 1..500 (default 1), life 1..1440 minutes, ep is accepted as any string.
-- - Extraction: cc, state and city are matched case-insensitively; state is the state code
--   as dynamic-states lists it; a state or city given without cc may be in any country.
-- - Extraction: format "json" (any case) answers the envelope; any other format answers
--   text/plain joined by lb (default "\r\n"); errors are still JSON envelopes.
-- - Extraction: ports 1140..1199 on a few gateway IPs, all distinct within a reply; each call
--   hands out new addresses (the sequence is fixed by the seed and restarts at reset).
-- - City/state search: an unknown country or state gives an empty list, not an error;
--   country_code is matched case-insensitively.
-- - Static IPs: country_code is matched case-insensitively; product_type must be 14 or 25.
local json = require "proxyapi.fake.json"
local params = require "proxyapi.fake.params"
local accounts = require "proxyapi.fake.accounts"
local usage = require "proxyapi.fake.usage"
local packages = require "proxyapi.fake.packages"
local locations = require "proxyapi.fake.locations"

local handlers = {}

local envelope, TYPE = json.envelope, json.TYPE
handlers.envelope, handlers.array = envelope, json.array

-- path -> { method =, fn = function(state, params) -> kind, value }; kind
-- "data" (enveloped), "raw" (a body as is) or "text" (plain text).
local routes = {}
handlers.routes = routes

local function route(method, path, fn) routes[path] = { method = method, fn = fn } end
for _, m in ipairs { accounts, usage, packages, locations } do m.routes(route) end

--- opts: app_key, seed, empty, not_verified, clock (see clock.lua).
function handlers.new_state(opts)
  local state = { app_key = opts.app_key, seed = opts.seed or 1, empty = opts.empty, clock = opts.clock,
                  initial_not_verified = opts.not_verified or false, version = 0 }
  handlers.reset(state)
  return state
end

-- Back to the start, the clock's included; a clock without a start setting
-- restarts at the real time.
function handlers.reset(state)
  state.clock:reset()
  accounts.reset(state)
  usage.reset(state)
  packages.reset(state)
  state.extractions = 0
  state.not_verified = state.initial_not_verified
end

-- One provider request -> HTTP status, body, content type, extra headers.
-- params: the query table for GET, the decoded body for POST (false when
-- the body is not a JSON object).
function handlers.handle(state, method, path, p)
  local r = routes[path]
  if not r then return 404, envelope(404, "not found"), TYPE end
  if r.method ~= method then
    return 405, envelope(405, "method not allowed"), TYPE, { Allow = r.method }
  end
  if not p then return 200, envelope(400, "request body must be a JSON object"), TYPE end
  if p.app_key ~= state.app_key then return 200, envelope(3, "invalid app_key"), TYPE end
  if method == "POST" and state.not_verified then
    return 200, envelope(156, "account not real-name verified"), TYPE
  end
  usage.sync(state)
  local ok, kind, value = pcall(r.fn, state, p)
  if not ok then
    if getmetatable(kind) ~= params.Refusal then error(kind, 0) end
    return 200, envelope(400, kind.msg), TYPE
  end
  if kind == "raw" then return 200, value, TYPE end
  if kind == "text" then return 200, value, "text/plain; charset=utf-8" end
  return 200, envelope(200, "success", value), TYPE
end

return handlers
