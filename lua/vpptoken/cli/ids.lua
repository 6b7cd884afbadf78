--- The vpptoken command line: short token ids. Tables show the start of each id, like a short commit hash (at
-- least SHORT characters, more where two ids shown would otherwise look alike); every command that takes an ID
-- takes such a prefix and finds the one token it starts.
local M = {}

--- The fewest characters of an id that tables show, and that a prefix given as an ID must have.
M.SHORT = 8
-- How many candidates an "ambiguous" message names.
M.CANDIDATES_SHOWN = 10

local GUID = "^%x%x%x%x%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$"

--- Whether text is a whole GUID (what Graph's token ids are): it goes to Graph as it is.
function M.is_guid(text)
  return type(text) == "string" and text:match(GUID) ~= nil
end

--- Whether text is taken as the start of an id: SHORT or more hex digits, with or without a GUID's dashes (not a
-- whole GUID). Anything else is taken as a whole id.
function M.is_prefix(text)
  if type(text) ~= "string" or #text >= 36 or not text:match("^%x[%x%-]*$") then return false end
  local _, digits = text:gsub("%x", "")
  return digits >= M.SHORT
end

--- Whether text looks like the start of an id but is shorter than a prefix may be (1 to SHORT - 1 hex digits).
function M.too_short(text)
  if type(text) ~= "string" or not text:match("^%x[%x%-]*$") then return false end
  local _, digits = text:gsub("%x", "")
  return digits < M.SHORT
end

--- The short form of each id in `ids` (a list): { [id] = short }. A GUID is shortened to the fewest characters
-- (SHORT or more) that tell it apart from every other id in `ids` (and in `others`, ids not shown but that a
-- prefix could also name); any other id is shown whole.
function M.shorten(ids, others)
  local all, seen = {}, {}
  for _, list in ipairs{ ids, others or {} } do
    for _, id in ipairs(list) do
      local low = id:lower()
      if not seen[low] then
        seen[low] = true
        all[#all + 1] = low
      end
    end
  end
  table.sort(all)
  local out = {}
  for _, id in ipairs(ids) do
    if M.is_guid(id) then
      local low = id:lower()
      -- the neighbours in sorted order share the longest prefixes with it
      local need = M.SHORT
      local lo, hi = 1, #all
      while lo < hi do -- the first index whose id is >= low
        local mid = math.floor((lo + hi) / 2)
        if all[mid] < low then lo = mid + 1 else hi = mid end
      end
      for _, j in ipairs{ lo - 1, lo + 1 } do
        local other = all[j]
        if other and other ~= low then
          local common = 0
          while common < #low and low:byte(common + 1) == other:byte(common + 1) do common = common + 1 end
          need = math.max(need, common + 1)
        end
      end
      local short = id:sub(1, math.min(need, #id))
      if short:sub(-1) == "-" then short = id:sub(1, #short + 1) end
      out[id] = short
    else
      out[id] = id
    end
  end
  return out
end

--- The ids in `ids` that start with `prefix` (case and dashes aside), each once (a server that lists a token twice,
-- or its id in another case, still names one token: ids differing only in case are one GUID); an id equal to it
-- wins alone.
function M.matching(prefix, ids)
  local p = prefix:lower()
  local bare = p:gsub("%-", "")
  local found, seen = {}, {}
  for _, id in ipairs(ids) do
    local low = id:lower()
    if low == p then return { id } end
    if not seen[low] and low:gsub("%-", ""):sub(1, #bare) == bare then
      seen[low] = true
      found[#found + 1] = id
    end
  end
  return found
end

return M
