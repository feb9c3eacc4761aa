--- Delivering a watch round's firings (see proxyapi.watch): each
-- channel of a firing is done, then marked delivered in the history; a
-- failure leaves it unmarked for the next round to retry with the same id.
-- `disable` is one batch call for all the round's accounts, `cap` one
-- change_limit each (concurrently), both through the client and so its
-- journal; `webhook` and `command` through proxyapi.notify.
-- @module proxyapi.watch_act

local rules = require "proxyapi.rules"
local notify = require "proxyapi.notify"

local ipairs, tostring, format = ipairs, tostring, string.format

local act = {}

--- The methods of a round that report and deliver (proxyapi.watch adds the rest).
local Round = {}
act.Round = Round

-- One line of the report: what happened to a firing on a channel.
-- `cause`: the error object behind a failure, for the exit status (else the detail).
function Round:action(item, channel, outcome, detail, cause)
  local f = item.firing
  local list = self.report.actions
  list[#list + 1] = { rule = item.rule.name, action = item.rule.action, channel = channel, outcome = outcome,
                      subject = f.subject.account or tostring(f.subject.trade_no), kind = f.kind, id = f.id,
                      period = f.period_key, retry = item.retry or false, detail = detail }
  if outcome == "failed" then
    self.failures[#self.failures + 1] = cause or detail
  elseif outcome ~= "would" then
    self.successes = self.successes + 1
  end
end

function Round:problem(err)
  local list = self.report.errors
  list[#list + 1] = tostring(err)
  self.failures[#self.failures + 1] = err
end

function Round:delivered(item, channel, detail)
  local ok, err = self.h:delivered(item.firing.id, channel)
  if not ok then -- delivered but not recorded: the next round delivers again (at least once)
    return self:action(item, channel, "failed", "delivered, but not recorded: " .. tostring(err))
  end
  self:action(item, channel, "applied", detail)
end

-- disable: one batch call for every account; a name the API did not fail is delivered.
function Round:disable(items, listed)
  local names, seen = {}, {}
  for _, item in ipairs(items) do
    local name = item.firing.subject.account
    if listed and not listed[name] then
      self:delivered(item, "disable", "account no longer exists")
    elseif not seen[name] then
      seen[name], names[#names + 1] = true, name
    end
  end
  if #names == 0 then
    return
  end
  local ok, err = self.api:disable_accounts(names)
  local failed = {}
  for _, name in ipairs(not ok and (err.failed or names) or {}) do
    failed[name] = true
  end
  for _, item in ipairs(items) do
    local name = item.firing.subject.account
    if seen[name] and failed[name] then
      self:action(item, "disable", "failed", tostring(err), err)
    elseif seen[name] then
      self:delivered(item, "disable")
    end
  end
end

function Round:cap(items, listed)
  local todo = {}
  for _, item in ipairs(items) do
    if listed and not listed[item.firing.subject.account] then
      self:delivered(item, "cap", "account no longer exists")
    else
      todo[#todo + 1] = item
    end
  end
  local _, errs = self.api:map(todo, function(client, item)
    return client:change_limit(item.firing.subject.account, item.rule.limit)
  end)
  for i, item in ipairs(todo) do
    if errs[i] then
      self:action(item, "cap", "failed", tostring(errs[i]), errs[i])
    else
      self:delivered(item, "cap", format("limit %d GB", item.rule.limit))
    end
  end
end

function Round:notify(item, channel)
  local n = self.notifier
  local ok, err
  if channel == "webhook" then
    ok, err = n:webhook(item.rule.webhook, rules.notification(item.firing))
  else
    ok, err = n:command(item.rule.command, rules.command_env(item.firing, n.base_env), self.command_opts)
  end
  if ok then
    self:delivered(item, channel, channel == "webhook" and notify.host_of(item.rule.webhook) or nil)
  else
    self:action(item, channel, "failed", err)
  end
end

local VERB = { disable = "would disable", cap = "would cap", webhook = "would notify", command = "would run" }

-- Delivers every pending channel: batches for the API, then notifications.
function Round:deliver(pending, listed)
  local by_channel = { disable = {}, cap = {}, webhook = {}, command = {} }
  for _, item in ipairs(pending) do
    for _, ch in ipairs(item.channels) do
      local list = by_channel[ch]
      list[#list + 1] = item
    end
  end
  if self.dry then
    for _, ch in ipairs { "disable", "cap", "webhook", "command" } do
      for _, item in ipairs(by_channel[ch]) do
        self:action(item, ch, "would", VERB[ch] .. (item.retry and " (retry)" or ""))
      end
    end
    return
  end
  if #by_channel.disable > 0 then
    self:disable(by_channel.disable, listed)
  end
  if #by_channel.cap > 0 then
    self:cap(by_channel.cap, listed)
  end
  for _, ch in ipairs { "webhook", "command" } do
    for _, item in ipairs(by_channel[ch]) do
      self:notify(item, ch)
    end
  end
end

-- The subjects of the round: accounts (with usage when a rule reads it) and packages.

return act
