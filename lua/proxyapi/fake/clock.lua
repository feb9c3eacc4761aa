-- The fake's clock: the one "now" behind every date the fake makes or
-- compares (the usage window and "today", created_at of new accounts,
-- package and static IP expiry). It counts naive seconds (see data.lua),
-- starts at the real time or at a given one, runs at real speed unless
-- frozen, and is moved only forward, by the control plane.
local socket = require "socket"
local data = require "proxyapi.fake.data"

local gettime, floor = socket.gettime, math.floor

local clock = {}

-- One move spans at most ten years: usage growth walks the days passed.
clock.MAX_MOVE = 3660 * 86400

local Clock = {}
Clock.__index = Clock

--- start: naive seconds, or nil for the real time at each reset.
function clock.new(start, frozen)
  local self = setmetatable({ start = start, start_frozen = frozen or false }, Clock)
  self:reset()
  return self
end

-- Back to the start setting; a clock without one restarts at the real time.
function Clock:reset()
  self.base, self.real = self.start or data.now(), gettime()
  self.frozen, self.advanced = self.start_frozen, 0
  self.started = self.base
end

-- naive seconds, with the fraction a running clock has
local function exact(self)
  if self.frozen then return self.base end
  return self.base + (gettime() - self.real)
end

function Clock:now() return floor(exact(self)) end

function Clock:day() return floor(exact(self)) // 86400 end

function Clock:freeze(frozen)
  if frozen == self.frozen then return end
  self.base, self.real, self.frozen = exact(self), gettime(), frozen
end

-- seconds >= 0 (checked by the caller)
function Clock:advance(seconds)
  self.base = self.base + seconds
  self.advanced = self.advanced + seconds
end

function Clock:info()
  return { now = data.format_time(self:now()), day = data.format_day(self:day()),
           start = data.format_time(self.started), frozen = self.frozen, advanced = self.advanced }
end

return clock
