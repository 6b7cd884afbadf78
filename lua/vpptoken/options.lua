--- The one checker for the options tables of the public API: an unknown key raises, naming the known ones and the
-- one probably meant (a misspelt `concurency` must not be ignored silently).
local compat = require "vpptoken.compat"
local M = {}

-- Edit distance between two short names (insertions, deletions, substitutions, adjacent swaps), capped at 3.
local function distance(a, b)
  if math.abs(#a - #b) > 2 then return 3 end
  local prev2, prev = {}, {}
  for j = 0, #b do prev[j] = j end
  for i = 1, #a do
    local cur = { [0] = i }
    for j = 1, #b do
      local cost = a:byte(i) == b:byte(j) and 0 or 1
      cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
      if i > 1 and j > 1 and a:byte(i) == b:byte(j - 1) and a:byte(i - 1) == b:byte(j) then
        cur[j] = math.min(cur[j], prev2[j - 2] + 1)
      end
    end
    prev2, prev = prev, cur
  end
  return math.min(prev[#b], 3)
end

--- The known name closest to `name` (at most two edits away), or nil.
function M.suggest(name, known)
  local best, best_d
  for k in pairs(known) do
    local d = distance(name:lower(), k:lower())
    if d <= 2 and (not best_d or d < best_d or (d == best_d and k < best)) then best, best_d = k, d end
  end
  return best
end

-- The article-and-type words for a type check's message.
local function a_type(t)
  return (t == "integer" and "an " or "a ") .. t
end

--- What is wrong with an options table, or nil: not a table, a key not in `known`, or a value of the wrong type.
-- `known` maps each name to true (the caller checks the value) or a type name ("boolean", "number", "string",
-- "function", "table", "integer"). `fname` (may be nil) starts the message.
function M.problem(opts, fname, known)
  local head = fname and (fname .. ": ") or ""
  if opts == nil then return nil end
  if type(opts) ~= "table" then return head .. "options must be a table (got " .. type(opts) .. ")" end
  for k, v in pairs(opts) do
    local want = type(k) == "string" and known[k]
    if not want then
      local names = {}
      for n in pairs(known) do names[#names + 1] = n end
      table.sort(names)
      local hint = type(k) == "string" and M.suggest(k, known)
      return string.format("%sunknown option '%s' (%sknown: %s)", head, tostring(k),
        hint and ("did you mean '" .. hint .. "'? ") or "", table.concat(names, ", "))
    end
    local got = want == "integer" and compat.math_type(v) or type(v)
    if type(want) == "string" and got ~= want then
      return string.format("%s%s must be %s (got %s)", head, k, a_type(want), got or type(v))
    end
  end
  return nil
end

--- Checks an options table (see M.problem) and raises with the problem: nil gives {}. `fname` starts the message;
-- `level` is the error() level the public function itself would give to point at its caller's line (default 2: the
-- public function calls check directly).
function M.check(opts, fname, known, level)
  local problem = M.problem(opts, fname, known)
  if problem then error(problem, (level or 2) + 1) end
  return opts or {}
end

return M
