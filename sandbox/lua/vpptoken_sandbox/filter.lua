-- The grammars of $filter and $orderby (OData 4.0 URL conventions, the part Graph serves for
-- vppTokens), written with LPeg. parse() and orderby() turn text into syntax trees; types and
-- evaluation are in filter_eval.lua.
--
-- $filter: or < and < comparison (eq ne lt le gt ge, in) < not < primary, as Microsoft.OData
-- parses it ("not a eq b" is "(not a) eq b"). Primaries: ( expr ), startswith/endswith/contains
-- (a, b), 'text' (quote doubled inside), true, false, null, numbers, DateTimeOffsets
-- (2025-01-31T23:59:59Z, 2016-12-31T23:57:57.2481234-08:00), enum members
-- (microsoft.graph.vppTokenState'valid') and property names. Keywords are lower case.
-- A '+' that arrived unencoded in a URL becomes a space; a zone written " 02:00" right after a
-- time is read as "+02:00" for that reason.
--
-- A syntax error is a 400 "Syntax error at position N in '$filter' (text): expected ...", N
-- counted from 0 as Microsoft.OData does.
local lpeg = require "lpeg"
local errors = require "vpptoken_sandbox.errors"

local P, R, S, V = lpeg.P, lpeg.R, lpeg.S, lpeg.V
local C, Cc, Cp, Ct, Cs, Cf, Cg = lpeg.C, lpeg.Cc, lpeg.Cp, lpeg.Ct, lpeg.Cs, lpeg.Cf, lpeg.Cg
local Cmt, Carg = lpeg.Cmt, lpeg.Carg

local filter = {}

-- expect(label, p): p, noting first where it was tried, so that a failed parse can say how far it
-- got and what would have been accepted there. The state is lpeg.match's extra argument.
local function expect(label, p)
  local note = Cmt(Carg(1), function(_, i, st)
    if i > st.far then
      st.far, st.wanted = i, { [label] = true }
    elseif i == st.far then
      st.wanted[label] = true
    end
    return true
  end)
  return note * p
end

local digit = R "09"
local alpha = R("az", "AZ") + "_"
local idchar = alpha + digit
local ws = S " \t\r\n" ^ 0
local rws = S " \t\r\n" ^ 1

local function kw(word, label)
  return expect(label or ("'" .. word .. "'"), P(word) * -idchar)
end

local function sym(s, label)
  return ws * expect(label or ("'" .. s .. "'"), P(s)) * ws
end

local identifier = alpha * idchar ^ 0

-- 'text' with '' for a quote inside
local quoted = P "'" * Cs(((P "''" / "'") + (1 - P "'")) ^ 0) * P "'"

local d2, d4 = digit * digit, digit * digit * digit * digit
local zone = P "Z" + S "+-" * d2 * ":" * d2 + (P " " / "+") * d2 * ":" * d2
local datetime = Cs(d4 * "-" * d2 * "-" * d2 * "T" * d2 * ":" * d2 * (":" * d2 * ("." * digit ^ 1) ^ -1) ^ -1
                    * zone)
local number = C(P "-" ^ -1 * digit ^ 1 * ("." * digit ^ 1) ^ -1) * -idchar

local function node(tag, fields)
  return Ct(Cg(Cc(tag), "tag") * Cg(Cp(), "pos") * fields)
end

local function literal(kind, value_patt)
  return node("lit", Cg(Cc(kind), "kind") * Cg(value_patt, "value"))
end

local value_label = "a value"
local literals = expect(value_label,
  literal("datetime", datetime)
  + literal("number", number / tonumber)
  + literal("string", quoted)
  + literal("boolean", P "true" * -idchar * Cc(true))
  + literal("boolean", P "false" * -idchar * Cc(false))
  + literal("null", P "null" * -idchar * Cc(nil))
  -- microsoft.graph.vppTokenState'valid'
  + node("lit", Cg(Cc("enum"), "kind") * Cg(C(identifier * ("." * identifier) ^ 1), "enum") * Cg(quoted, "value")))

local property = expect(value_label, node("prop", Cg(C(identifier), "name")))

local FUNCTIONS = { "startswith", "endswith", "contains" }
local function_name = P(false)
for _, f in ipairs(FUNCTIONS) do function_name = function_name + C(P(f)) end

-- Left-associative chains: a op b op c -> op(op(a, b), c)
local function fold(acc, pos, op, rhs)
  return { tag = op, pos = pos, a = acc, b = rhs }
end

local CMP = { "eq", "ne", "lt", "le", "gt", "ge" }
local cmp_op = P(false)
for _, op in ipairs(CMP) do cmp_op = cmp_op + C(P(op)) * -idchar end

local grammar = P {
  "Filter",
  Filter = ws * V "Or" * ws * expect("the end of the expression", -1),
  Or = Cf(V "And" * Cg(ws * Cp() * kw("or", "'and' or 'or'") * Cc("or") * ws * V "And") ^ 0, fold),
  And = Cf(V "Cmp" * Cg(ws * Cp() * kw("and", "'and' or 'or'") * Cc("and") * ws * V "Cmp") ^ 0, fold),
  -- "x in (...)" is tried first: a bare "x" would otherwise end the comparison before "in".
  Cmp = V "In" + Cf(V "Unary" * Cg(ws * Cp() * expect("an operator", cmp_op) * ws * V "Unary") ^ -1, fold),
  In = node("in", Cg(V "Unary", "a") * ws * kw("in", "an operator") * Cg(V "List", "list")),
  List = sym "(" * Ct(V "Unary" * (sym "," * V "Unary") ^ 0) * sym ")",
  Unary = node("not", kw("not", value_label) * ws * Cg(V "Unary", "a")) + V "Primary",
  Primary = sym("(", value_label) * V "Or" * sym ")"
    + node("call", Cg(expect(value_label, function_name), "name") * ws * P "(" * ws
                   * Cg(Ct(V "Unary" * (sym "," * V "Unary") ^ 0), "args") * sym ")")
    + literals
    + property,
}

local function syntax_error(option, text, st)
  local wanted = {}
  for label in pairs(st.wanted or {}) do wanted[#wanted + 1] = label end
  table.sort(wanted)
  local what = #wanted > 0 and (": expected " .. table.concat(wanted, ", ")) or ""
  local near = text:sub(st.far, st.far + 19)
  errors.bad_request(string.format("Syntax error at position %d in '%s' (%s)%s%s.", st.far - 1, option, text, what,
                                   near ~= "" and (", found '" .. near .. "'") or ""))
end

-- The captures of patt on the whole of text, or a 400. Nesting deep enough to fill LPeg's backtrack
-- stack (about 100 parentheses) is a 400 too, as Microsoft.OData answers past its RecursionDepth.
local function match(patt, option, text)
  local st = { far = 0 }
  local ok, result = pcall(lpeg.match, patt, text, 1, st)
  if not ok then
    if tostring(result):find("stack overflow", 1, true) then
      errors.bad_request(string.format("The '%s' expression is nested too deeply for the sandbox.", option))
    end
    error(result, 0)
  end
  if not result then syntax_error(option, text, st) end
  return result
end

-- Parses $filter text into a tree of nodes { tag, pos, ... }:
--   { tag = "or"|"and", a, b }  { tag = "eq"|"ne"|"lt"|"le"|"gt"|"ge", a, b }  { tag = "not", a }
--   { tag = "in", a, list }  { tag = "call", name, args }  { tag = "prop", name }
--   { tag = "lit", kind = "string"|"boolean"|"null"|"number"|"datetime"|"enum", value, enum? }
-- pos is the node's 1-based offset in text. Raises a 400 ApiError on a syntax error.
function filter.parse(text)
  return match(grammar, "$filter", text)
end

local direction = rws * (kw("asc", "'asc' or 'desc'") * Cc(false) + kw("desc", "'asc' or 'desc'") * Cc(true))
local order_item = Ct(Cg(Cp(), "pos") * Cg(expect("a property name", C(identifier)), "name")
                      * Cg(direction + Cc(false), "desc"))
local orderby_grammar = ws * Ct(order_item * (sym "," * order_item) ^ 0) * ws * expect("the end", -1)

-- Parses $orderby text: { { name, desc = bool, pos }, ... }. Raises a 400 on a syntax error.
function filter.orderby(text)
  return match(orderby_grammar, "$orderby", text)
end

return filter
