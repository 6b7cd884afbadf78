-- JSON output for the sandbox: stable key order (Graph's envelope keys first, then the resource's
-- properties in schema order), empty arrays that stay arrays, no escaped slashes.
-- Input is decoded with cjson (nesting limited to MAX_DEPTH).
local cjson = require "cjson.safe"

local json = {}

json.null = cjson.null
json.MAX_DEPTH = 64 -- nesting of arrays and objects, decoded or encoded; deeper input is refused (400)

local decoder = cjson.new()
decoder.decode_max_depth(json.MAX_DEPTH)

local ARRAY = { __name = "vpptoken_sandbox.json.array" }

-- Marks t (or a new table) as a JSON array, so that an empty one encodes as [].
function json.array(t)
  return setmetatable(t or {}, ARRAY)
end

local RAW = { __name = "vpptoken_sandbox.json.raw" }

-- Text that is already JSON, to be embedded as it is (a $batch response embeds the bodies of its
-- sub-responses this way).
function json.raw(text)
  return setmetatable({ text = text }, RAW)
end

function json.is_array(t)
  return type(t) == "table" and (getmetatable(t) == ARRAY or rawlen(t) > 0)
end

local BASE_RANK = {
  ["@odata.context"] = 1, ["@odata.count"] = 2, ["@odata.nextLink"] = 3, value = 4,
  ["@odata.type"] = 5, id = 6,
  error = 1, code = 2, message = 3, innerError = 4, date = 5,
  ["request-id"] = 6, ["client-request-id"] = 7,
}

local rank = setmetatable({}, { __index = BASE_RANK })

-- Appends property names (in order) to the ranking used for object keys.
function json.rank_keys(names)
  local n = 100
  for _, name in ipairs(names) do
    if rawget(rank, name) == nil and BASE_RANK[name] == nil then
      rank[name] = n
    end
    n = n + 1
  end
end

local ESCAPES = { ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f",
                  ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }

local function encode_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    return ESCAPES[c] or string.format("\\u%04x", c:byte())
  end) .. '"'
end

local function encode_number(v)
  if math.type(v) == "integer" then return tostring(v) end
  if v ~= v or v == math.huge or v == -math.huge then return "null" end
  local i = math.tointeger(v)
  if i and math.abs(v) < 2^53 then return tostring(i) end
  local s = string.format("%.14g", v)
  if tonumber(s) ~= v then s = string.format("%.17g", v) end
  return s
end

local function key_less(a, b)
  local ra, rb = rank[a] or 1000, rank[b] or 1000
  if ra ~= rb then return ra < rb end
  return a < b
end

local encode_value

local function encode_table(t, out, depth)
  if depth > json.MAX_DEPTH then error("json: nesting too deep", 0) end
  if json.is_array(t) then
    out[#out + 1] = "["
    for i = 1, rawlen(t) do
      if i > 1 then out[#out + 1] = "," end
      encode_value(t[i], out, depth + 1)
    end
    out[#out + 1] = "]"
    return
  end
  local keys = {}
  for k in pairs(t) do
    if type(k) ~= "string" then error("json: object key is not a string", 0) end
    keys[#keys + 1] = k
  end
  table.sort(keys, key_less)
  out[#out + 1] = "{"
  for i, k in ipairs(keys) do
    if i > 1 then out[#out + 1] = "," end
    out[#out + 1] = encode_string(k)
    out[#out + 1] = ":"
    encode_value(t[k], out, depth + 1)
  end
  out[#out + 1] = "}"
end

encode_value = function(v, out, depth)
  local tv = type(v)
  if v == nil or v == json.null then
    out[#out + 1] = "null"
  elseif tv == "boolean" then
    out[#out + 1] = v and "true" or "false"
  elseif tv == "number" then
    out[#out + 1] = encode_number(v)
  elseif tv == "string" then
    out[#out + 1] = encode_string(v)
  elseif tv == "table" and getmetatable(v) == RAW then
    out[#out + 1] = v.text
  elseif tv == "table" then
    encode_table(v, out, depth)
  else
    error("json: cannot encode a " .. tv, 0)
  end
end

function json.encode(v)
  local out = {}
  encode_value(v, out, 0)
  return table.concat(out)
end

-- Decodes text; returns value or nil, message.
function json.decode(text)
  local ok, v, err = pcall(decoder.decode, text) -- a cjson.safe instance: nil, message on bad input
  if ok then return v, err end
  return nil, tostring(v)
end

-- The first member name found twice in one object of text (JSON that cjson accepted), decoded; nil when none.
-- Walks the structural characters only: numbers and literals hold none, strings are skipped to their end.
local function duplicate_member(text)
  local stack, top = {}, nil -- top: { keys = {...}, want_key = bool } for an object, false for an array
  local pos = 1
  while true do
    local i, _, c = text:find('(["{}%[%],:])', pos)
    if not i then return nil end
    pos = i + 1
    if c == '"' then
      local j = pos
      repeat
        local k, _, q = text:find('(["\\])', j)
        if not k then return nil end
        j = k + (q == "\\" and 2 or 1)
      until q == '"'
      if top and top.want_key then
        local raw = text:sub(i, j - 1)
        local name = raw:find("\\", 1, true) and decoder.decode(raw) or raw:sub(2, -2)
        if top.keys[name] then return name end
        top.keys[name] = true
      end
      pos = j
    elseif c == "{" or c == "[" then
      stack[#stack + 1] = top
      top = c == "{" and { keys = {}, want_key = true }
    elseif c == "}" or c == "]" then
      top = stack[#stack]
      stack[#stack] = nil
    elseif top then
      top.want_key = c == ","
    end
  end
end

-- The first string (member name or value) in v that is not valid UTF-8 or holds NUL; what is wrong with it.
local function bad_string(v, depth)
  if type(v) == "string" then
    if not utf8.len(v) then return "text that is not valid UTF-8" end
    if v:find("\0", 1, true) then return "a string holding the NUL character (\\u0000)" end
  elseif type(v) == "table" and getmetatable(v) ~= RAW and depth <= json.MAX_DEPTH then
    for k, x in pairs(v) do
      local why = bad_string(k, depth + 1) or bad_string(x, depth + 1)
      if why then return why end
    end
  end
  return nil
end

-- Decodes a request body as Graph's OData reader reads it: also refused (nil, message) are a member twice in one
-- object, text that is not UTF-8 and a NUL character in a string, which plain decode lets through.
function json.decode_request(text)
  local v, err = json.decode(text)
  if v == nil then return nil, err end
  local why = bad_string(v, 0)
  if why then return nil, why end
  local name = type(v) == "table" and duplicate_member(text)
  if name then
    return nil, string.format("the property '%s' appears more than once in one object; OData allows each "
                              .. "property name once", name)
  end
  return v
end

return json
