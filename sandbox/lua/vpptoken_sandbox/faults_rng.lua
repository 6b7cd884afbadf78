-- A seeded pseudo-random generator for the fault profile (xorshift64*, seeded through splitmix64),
-- so a run with the same seed and the same requests injects the same faults. It keeps its own
-- state: math.random is left alone.
local rng = {}

local Rng = { __name = "vpptoken_sandbox.Rng" }
Rng.__index = Rng

local function splitmix64(x)
  x = x + 0x9E3779B97F4A7C15
  x = (x ~ (x >> 30)) * 0xBF58476D1CE4E5B9
  x = (x ~ (x >> 27)) * 0x94D049BB133111EB
  return x ~ (x >> 31)
end

-- seed: an integer (any other value: a seed from the clock and math.random).
function rng.new(seed)
  local s = math.tointeger(seed)
  if not s then s = math.floor(os.time()) ~ math.random(0, 0x7fffffff) end
  local x = splitmix64(s)
  if x == 0 then x = 0x2545F4914F6CDD1D end
  return setmetatable({ x = x }, Rng)
end

-- The next 64-bit value.
function Rng:next()
  local x = self.x
  x = x ~ (x >> 12)
  x = x ~ (x << 25)
  x = x ~ (x >> 27)
  self.x = x
  return x * 0x2545F4914F6CDD1D
end

-- A float in [0, 1).
function Rng:float()
  return (self:next() >> 11) / 9007199254740992.0
end

-- An integer in [a, b].
function Rng:int(a, b)
  return a + math.floor(self:float() * (b - a + 1))
end

return rng
