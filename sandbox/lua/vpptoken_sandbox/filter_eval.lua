-- Types and evaluation for the trees of filter.lua: compile() checks a $filter tree against the
-- vppToken schema of an API version and returns a predicate over a token's properties;
-- sort_key() and compare() give $orderby the same value semantics.
--
-- Values are compared as what they mean: DateTimeOffsets as instants (integer 100 ns ticks since
-- the epoch, so "2025-01-01T01:00:00+01:00" eq "2025-01-01T00:00:00Z"), enum members by their
-- order in the enum (as Microsoft.OData does), strings by bytes (ordinal, case-sensitive), false
-- before true. null equals only null; lt/le/gt/ge with a null operand are false; $orderby puts
-- nulls first. An enum may be written as 'valid' or microsoft.graph.vppTokenState'valid'; a
-- DateTimeOffset may be written bare or, leniently, quoted. Collections (roleScopeTagIds,
-- tokenActionResults) cannot be compared: any/all are not supported.
local schema = require "vpptoken_sandbox.schema"
local validate = require "vpptoken_sandbox.validate"
local errors = require "vpptoken_sandbox.errors"

local eval = {}

local bad = errors.bad_request

local KIND = { string = "string", boolean = "boolean", datetime = "datetime", enum = "enum", int32 = "number",
               strings = "collection", actions = "collection" }

local EDM = { string = "Edm.String", boolean = "Edm.Boolean", datetime = "Edm.DateTimeOffset",
              number = "Edm.Int32", null = "null", collection = "Collection" }

-- Days from 1970-01-01 to the civil date y-m-d (proleptic Gregorian).
local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = (y >= 0 and y or y - 399) // 400
  local yoe = y - era * 400
  local doy = (153 * (m + (m > 2 and -3 or 9)) + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  return era * 146097 + doe - 719468
end

-- The instant of a DateTimeOffset text as integer 100 ns ticks since the epoch (UTC), or nil.
-- Seconds may be left out ("2025-01-31T10:00Z"), as OData literals allow.
function eval.ticks(text)
  if type(text) ~= "string" then return nil end
  local head, rest = text:match("^(%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d)(.*)$")
  if head and not rest:match("^:") then text = head .. ":00" .. rest end
  if not validate.is_datetime(text) then return nil end
  local y, mo, d, h, mi, s, tail = text:match("^(%d+)%-(%d+)%-(%d+)T(%d+):(%d+):(%d+)(.*)$")
  local frac, zone = tail:match("^%.(%d+)(.*)$")
  if not frac then frac, zone = "", tail end
  local offset = 0
  if zone ~= "Z" then
    local sign, zh, zm = zone:match("^([+-])(%d%d):(%d%d)$")
    offset = (tonumber(zh) * 60 + tonumber(zm)) * 60 * (sign == "-" and -1 or 1)
  end
  local secs = days_from_civil(tonumber(y), tonumber(mo), tonumber(d)) * 86400
    + tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(s) - offset
  return secs * 10000000 + math.tointeger(tonumber((frac .. "0000000"):sub(1, 7)))
end

-- A property value as the comparisons see it (nil for null or a value of the wrong type).
local function normalize(kind, v, members)
  if kind == "string" or kind == "boolean" then
    if type(v) == kind then return v end
    return nil
  end
  if kind == "number" then return math.type(v) and v or nil end
  if kind == "datetime" then return eval.ticks(v) end
  if kind == "enum" then return members.index[v] end
  return nil
end

-- { list = members, index = { member = position } } per enum, for both versions' lists.
local MEMBERS = {}
for name, list in pairs(schema.ENUMS) do
  local index = {}
  for i, m in ipairs(list) do index[m] = i end
  MEMBERS[name] = { list = list, index = index }
end

local function property(version, name, what)
  local def = schema.property(version, name)
  if not def then
    bad(string.format("Could not find a property named '%s' on type 'microsoft.graph.vppToken' (in '%s').%s",
                      name, what, schema.beta_hint(version, name)))
  end
  return def
end

local function enum_type_name(def)
  return "microsoft.graph." .. def.enum:gsub("Beta$", "")
end

-- An operand: { kind, get = function(props) -> normalized value, def?, lit? }
local compile

local function constant(v)
  return function() return v end
end

local function operand_type(o)
  if o.kind == "enum" then return enum_type_name(o.def) end
  if o.kind == "enumlit" then return o.lit.enum end
  if o.lit and o.lit.kind == "number" and math.type(o.lit.value) == "float" then return "Edm.Double" end
  return EDM[o.kind] or o.kind
end

local OP_NAMES = { eq = "Equal", ne = "NotEqual", lt = "LessThan", le = "LessThanOrEqual", gt = "GreaterThan",
                   ge = "GreaterThanOrEqual", ["in"] = "In" }

local function incompatible(a, b, op)
  bad(string.format("A binary operator with incompatible types was detected. Found operand types '%s' and '%s' "
                    .. "for operator kind '%s' in '$filter'.", operand_type(a), operand_type(b), OP_NAMES[op] or op))
end

-- The getter of literal operand lit read as the type of the property operand target, or nil.
local function coerce(lit, target)
  if target.kind == "enum" and (lit.kind == "string" or lit.kind == "enumlit") then
    local want = enum_type_name(target.def)
    if lit.kind == "enumlit" and lit.lit.enum ~= want then
      bad(string.format("The enum type '%s' does not match '%s' of property '%s' in '$filter'.", lit.lit.enum,
                        want, target.def.name))
    end
    local members = MEMBERS[target.def.enum]
    local i = members.index[lit.lit.value]
    if not i then
      bad(string.format("The string '%s' is not a valid enumeration type constant for '%s'; allowed values: %s.",
                        lit.lit.value, want, table.concat(members.list, ", ")))
    end
    return constant(i)
  end
  if target.kind == "datetime" and lit.kind == "string" then
    local t = eval.ticks(lit.lit.value)
    if not t then
      bad(string.format("'%s' is not a valid Edm.DateTimeOffset in '$filter' (property '%s').", lit.lit.value,
                        target.def.name))
    end
    return constant(t)
  end
  return nil
end

-- Getters for the two operands of a comparison, once their types agree.
local function unify(a, b, op)
  for _, o in ipairs({ a, b }) do
    if o.kind == "collection" then
      bad(string.format("The property '%s' is a collection: the sandbox's $filter cannot compare it "
                        .. "(any/all are not supported).", o.def.name))
    end
  end
  if a.kind == "null" or b.kind == "null" then
    if a.kind == "enumlit" or b.kind == "enumlit" then incompatible(a, b, op) end
    return a.get, b.get
  end
  if a.kind == b.kind and a.kind ~= "enumlit" and (a.kind ~= "enum" or a.def.enum == b.def.enum) then
    return a.get, b.get
  end
  local g = a.lit and coerce(a, b)
  if g then return g, b.get end
  g = b.lit and coerce(b, a)
  if g then return a.get, g end
  incompatible(a, b, op)
end

local function order(x, y)
  if x == true or x == false then x, y = x and 1 or 0, y and 1 or 0 end
  if x < y then return -1 end
  if x > y then return 1 end
  return 0
end

local function equal(x, y)
  if x == nil or y == nil then return x == y end
  return order(x, y) == 0
end

local TESTS = {
  eq = equal,
  ne = function(x, y) return not equal(x, y) end,
  lt = function(x, y) return x ~= nil and y ~= nil and order(x, y) < 0 end,
  le = function(x, y) return x ~= nil and y ~= nil and order(x, y) <= 0 end,
  gt = function(x, y) return x ~= nil and y ~= nil and order(x, y) > 0 end,
  ge = function(x, y) return x ~= nil and y ~= nil and order(x, y) >= 0 end,
}

local function boolean(o, what)
  if o.kind ~= "boolean" and o.kind ~= "null" then
    bad(string.format("%s needs a Boolean operand in '$filter', got '%s'.", what, operand_type(o)))
  end
  return o.get
end

local STRING_FUNCTIONS = {
  startswith = function(s, x) return s:sub(1, #x) == x end,
  endswith = function(s, x) return x == "" or s:sub(-#x) == x end,
  contains = function(s, x) return s:find(x, 1, true) ~= nil end,
}

local function compile_call(node, version)
  local test = STRING_FUNCTIONS[node.name]
  if #node.args ~= 2 then
    bad(string.format("The function '%s' takes 2 arguments in '$filter', got %d.", node.name, #node.args))
  end
  local a, b = compile(node.args[1], version), compile(node.args[2], version)
  for _, o in ipairs({ a, b }) do
    if o.kind ~= "string" and o.kind ~= "null" then
      bad(string.format("The function '%s' needs Edm.String arguments in '$filter', got '%s'.", node.name,
                        operand_type(o)))
    end
  end
  local ga, gb = a.get, b.get
  return { kind = "boolean", get = function(p)
    local s, x = ga(p), gb(p)
    return s ~= nil and x ~= nil and test(s, x)
  end }
end

local function compile_in(node, version)
  local a = compile(node.a, version)
  local getters = {}
  for i, item in ipairs(node.list) do
    local _, g = unify(a, compile(item, version), "in")
    getters[i] = g
  end
  local ga = a.get
  return { kind = "boolean", get = function(p)
    local x = ga(p)
    for _, g in ipairs(getters) do
      if equal(x, g(p)) then return true end
    end
    return false
  end }
end

compile = function(node, version)
  local tag = node.tag
  if tag == "prop" then
    local def = property(version, node.name, "$filter")
    local kind, name = KIND[def.kind], def.name
    local members = def.enum and MEMBERS[def.enum]
    return { kind = kind, def = def, get = function(p) return normalize(kind, p[name], members) end }
  elseif tag == "lit" then
    if node.kind == "enum" then return { kind = "enumlit", lit = node } end
    local v = node.value
    if node.kind == "datetime" then
      v = eval.ticks(v)
      if not v then bad(string.format("'%s' is not a valid Edm.DateTimeOffset in '$filter'.", node.value)) end
    end
    return { kind = node.kind, lit = node, get = constant(v) }
  elseif tag == "not" then
    local g = boolean(compile(node.a, version), "'not'")
    return { kind = "boolean", get = function(p) return not g(p) end }
  elseif tag == "and" or tag == "or" then
    local ga = boolean(compile(node.a, version), "'" .. tag .. "'")
    local gb = boolean(compile(node.b, version), "'" .. tag .. "'")
    if tag == "and" then
      return { kind = "boolean", get = function(p) return (ga(p) and gb(p)) and true or false end }
    end
    return { kind = "boolean", get = function(p) return (ga(p) or gb(p)) and true or false end }
  elseif tag == "call" then
    return compile_call(node, version)
  elseif tag == "in" then
    return compile_in(node, version)
  end
  local test = TESTS[tag]
  local ga, gb = unify(compile(node.a, version), compile(node.b, version), tag)
  return { kind = "boolean", get = function(p) return test(ga(p), gb(p)) end }
end

-- A predicate(props) -> boolean for a filter.parse tree on version ("v1.0" or "beta"). Raises a
-- 400 ApiError for an unknown property or mismatched types.
function eval.compile(tree, version)
  local top = compile(tree, version)
  if top.kind ~= "boolean" then
    bad(string.format("The $filter expression must be a Boolean (a comparison, a function or a Boolean "
                      .. "property), got '%s'.", operand_type(top)))
  end
  local get = top.get
  return function(props) return get(props) == true end
end

-- $orderby key name on version: { name, get = function(props) -> normalized value }. Raises a
-- 400 for an unknown or unorderable (collection) property.
function eval.sort_key(version, name)
  local def = property(version, name, "$orderby")
  local kind = KIND[def.kind]
  if kind == "collection" then
    bad(string.format("The property '%s' is a collection and cannot be used in '$orderby'.", name))
  end
  local members = def.enum and MEMBERS[def.enum]
  return { name = name, get = function(p) return normalize(kind, p[name], members) end }
end

-- -1, 0 or 1 for two normalized values of one key; null first.
function eval.compare(x, y)
  if x == nil or y == nil then
    if x == y then return 0 end
    return x == nil and -1 or 1
  end
  return order(x, y)
end

return eval
