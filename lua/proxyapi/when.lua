--- The `when` language of watch rules: comparisons of variables and
-- numbers joined by `and`, `or`, `not` and parentheses. A small
-- recursive-descent parser builds a tree; nothing is ever run as Lua.
--
--     expr       := conj { "or" conj }
--     conj       := unary { "and" unary }
--     unary      := "not" unary | "(" expr ")" | comparison
--     comparison := operand ( "<" | "<=" | ">" | ">=" | "==" | "~=" | "!=" ) operand
--     operand    := variable | [ "-" ] digits [ "." digits ]
--
-- A comparison names at least one variable; comparisons do not chain.
-- Evaluation is three-valued: a comparison that reads a variable without
-- a number (missing, or `false` as `usage_percent` is for an unlimited
-- account) is unknown; `not` unknown is unknown; `and` is false when
-- either side is false, `or` true when either side is true, and unknown
-- otherwise. A rule holds only when its expression is true, so an unknown
-- never fires a rule and never raises.
-- @module proxyapi.when

local type, setmetatable, tonumber, pairs = type, setmetatable, tonumber, pairs
local format, find, sub, byte = string.format, string.find, string.sub, string.byte
local concat, sort = table.concat, table.sort

local when = {}

--- The variables of each kind of subject: an account's or a package's.
when.VARIABLES = {
  usage_percent = "account", usage_gb = "account", day_gb = "account", month_gb = "account",
  status = "account", package_days_left = "product",
}

local MAX_LENGTH = 1000 -- characters of one expression
local MAX_DEPTH = 32 -- nesting of not and parentheses

local KEYWORDS = { ["and"] = true, ["or"] = true, ["not"] = true }
-- two-character comparison operators, and what each means
local COMPARE2 = { ["<="] = "<=", [">="] = ">=", ["=="] = "==", ["~="] = "~=", ["!="] = "~=" }

local function variable_list()
  local names = {}
  for name in pairs(when.VARIABLES) do
    names[#names + 1] = name
  end
  sort(names)
  return concat(names, ", ")
end

-- The column (1-based, in characters) of byte position pos.
local function column(text, pos)
  return (utf8.len(text, 1, pos - 1, true) or (pos - 1)) + 1
end

-- hint, if any, follows the position: "unknown variable 'x' at column 3 (variables: ...)"
local function fail(p, msg, pos, hint)
  error({ when_error = format("%s at column %d%s", msg, column(p.text, pos), hint and " (" .. hint .. ")" or "") }, 0)
end

-- How a token is shown in a message: its text, or one whole character.
local function shown(text, pos)
  local c = byte(text, pos)
  if c == nil then
    return "end of expression"
  end
  local len = c < 0x80 and 1 or c >= 0xF0 and 4 or c >= 0xE0 and 3 or c >= 0xC0 and 2 or 1
  local ch = sub(text, pos, pos + len - 1)
  if c < 0x20 or c == 0x7F or not utf8.len(ch) then
    ch = format("\\x%02X", c)
  end
  return "'" .. ch .. "'"
end

-- The next token { type, text, pos } from p.pos on; type is "num",
-- "var", "name" (an unknown word), a keyword, "cmp", "(", ")", "-" or
-- "eof". Scanned on demand, so the first problem from the left is the
-- one reported.
local function scan(p)
  local text = p.text
  local _, e = find(text, "^[ \t\r\n]*", p.pos)
  local pos = e + 1
  if pos > #text then
    return { type = "eof", pos = pos, text = "" }
  end
  local tok
  local s
  s, e = find(text, "^%d+", pos)
  if s then
    local fs, fe = find(text, "^%.%d+", e + 1)
    e = fs and fe or e
    if find(text, "^[%w_%.]", e + 1) then
      local _, be = find(text, "^[%w_%.]+", pos)
      fail(p, "malformed number '" .. sub(text, pos, be) .. "'", pos)
    end
    tok = { type = "num", value = tonumber(sub(text, pos, e)) }
  else
    s, e = find(text, "^[%a_][%w_]*", pos)
    if s then
      local word = sub(text, s, e)
      tok = { type = KEYWORDS[word] and word or when.VARIABLES[word] and "var" or "name", name = word }
    else
      local two, one = sub(text, pos, pos + 1), sub(text, pos, pos)
      if COMPARE2[two] then
        tok, e = { type = "cmp", op = COMPARE2[two] }, pos + 1
      elseif one == "<" or one == ">" then
        tok, e = { type = "cmp", op = one }, pos
      elseif one == "(" or one == ")" or one == "-" then
        tok, e = { type = one }, pos
      elseif one == "=" then
        fail(p, "unexpected '='", pos, "compare with '=='")
      else
        fail(p, "unexpected " .. shown(text, pos), pos)
      end
    end
  end
  tok.pos, tok.text = pos, sub(text, pos, e)
  p.pos = e + 1
  return tok
end

local function peek(p)
  local tok = p.list[p.i]
  if not tok then
    tok = scan(p)
    p.list[p.i] = tok
  end
  return tok
end

local function take(p)
  local tok = peek(p)
  p.i = p.i + 1
  return tok
end

local function unexpected(p, tok)
  fail(p, tok.type == "eof" and "unexpected end of expression" or "unexpected '" .. tok.text .. "'", tok.pos)
end

local function operand(p)
  local tok = take(p)
  if tok.type == "name" then
    fail(p, "unknown variable '" .. tok.name .. "'", tok.pos, "variables: " .. variable_list())
  elseif tok.type == "var" then
    p.vars[tok.name] = true
    return { var = tok.name }
  elseif tok.type == "num" then
    return { num = tok.value }
  elseif tok.type == "-" and peek(p).type == "num" then
    return { num = -take(p).value }
  end
  unexpected(p, tok)
end

local expr

local function unary(p, depth)
  if depth > MAX_DEPTH then
    fail(p, "nested deeper than " .. MAX_DEPTH, peek(p).pos)
  end
  local tok = peek(p)
  if tok.type == "not" then
    take(p)
    return { op = "not", unary(p, depth + 1) }
  elseif tok.type == "(" then
    take(p)
    local inner = expr(p, depth + 1)
    local close = take(p)
    if close.type ~= ")" then
      fail(p, "expected ')' for the '(' at column " .. column(p.text, tok.pos) .. ", got " ..
        (close.type == "eof" and "end of expression" or "'" .. close.text .. "'"), close.pos)
    end
    return inner
  end
  local left = operand(p)
  local cmp = take(p)
  if cmp.type ~= "cmp" then
    if cmp.type == "eof" then
      fail(p, "expected a comparison after '" .. p.list[p.i - 2].text .. "'", cmp.pos)
    end
    unexpected(p, cmp)
  end
  local right = operand(p)
  if left.num and right.num then
    fail(p, "a comparison needs a variable", tok.pos)
  end
  if peek(p).type == "cmp" then
    fail(p, "unexpected '" .. peek(p).text .. "'", peek(p).pos, "comparisons do not chain; join them with 'and'")
  end
  return { op = cmp.op, left, right }
end

local function conj(p, depth)
  local node = unary(p, depth)
  while peek(p).type == "and" do
    take(p)
    node = { op = "and", node, unary(p, depth) }
  end
  return node
end

expr = function(p, depth)
  local node = conj(p, depth)
  while peek(p).type == "or" do
    take(p)
    node = { op = "or", node, conj(p, depth) }
  end
  return node
end

-- Three-valued evaluation: true, false, or nil for unknown.
local function value(side, values)
  if side.num then
    return side.num
  end
  local v = values[side.var]
  return type(v) == "number" and v or nil
end

local COMPARATORS = {
  ["<"] = function(a, b) return a < b end, ["<="] = function(a, b) return a <= b end,
  [">"] = function(a, b) return a > b end, [">="] = function(a, b) return a >= b end,
  ["=="] = function(a, b) return a == b end, ["~="] = function(a, b) return a ~= b end,
}

local function eval(node, values)
  local op = node.op
  if op == "and" then
    local a, b = eval(node[1], values), eval(node[2], values)
    if a == false or b == false then return false end
    if a and b then return true end
    return nil
  elseif op == "or" then
    local a, b = eval(node[1], values), eval(node[2], values)
    if a or b then return true end
    if a == false and b == false then return false end
    return nil
  elseif op == "not" then
    local a = eval(node[1], values)
    if a == nil then return nil end
    return not a
  end
  local a, b = value(node[1], values), value(node[2], values)
  if a == nil or b == nil then
    return nil
  end
  return COMPARATORS[op](a, b)
end

local Rule = {}
Rule.__index = Rule
Rule.__name = "proxyapi.when"

--- Whether the condition holds for these values.
-- @tparam table values variable name -> number (missing or non-number: unknown)
-- @treturn boolean true only when the expression is true (unknown is false)
-- @usage if cond:eval(rules.values_for_account(a, days)) then ... end
function Rule:eval(values)
  return eval(self.tree, values or {}) == true
end

--- The variables the expression reads, sorted.
-- @treturn {string,...}
function Rule:variables()
  local list = {}
  for name in pairs(self.vars) do
    list[#list + 1] = name
  end
  sort(list)
  return list
end

--- What the expression is about: `"account"` or `"product"` (a package).
-- @treturn string
function Rule:kind()
  return self.subject
end

function Rule:__tostring()
  return "proxyapi.when (" .. self.source .. ")"
end

--- Parses a `when` expression.
-- @tparam string text the expression, e.g. `"usage_percent >= 90 and status == 1"`
-- @tparam[opt] string name the rule's name, for messages
-- @treturn table a condition with `:eval(values)`, `:variables()`, `:kind()` and the field `source`
-- @treturn[2] nil
-- @treturn[2] string why, e.g. `rule 'near-cap': when: unexpected 'x' at column 17`
-- @usage local cond = assert(when.parse("day_gb >= 5", "daily"))
function when.parse(text, name)
  local prefix = (name and "rule '" .. name .. "': " or "") .. "when: "
  if type(text) ~= "string" then
    return nil, prefix .. "must be a string, got " .. type(text)
  end
  if #text > MAX_LENGTH then
    return nil, prefix .. "longer than " .. MAX_LENGTH .. " characters"
  end
  local p = { text = text, i = 1, pos = 1, list = {}, vars = {} }
  local ok, tree = pcall(function()
    if peek(p).type == "eof" then
      fail(p, "empty expression", 1)
    end
    local node = expr(p, 1)
    if peek(p).type ~= "eof" then
      unexpected(p, peek(p))
    end
    return node
  end)
  if not ok then
    if type(tree) == "table" and tree.when_error then
      return nil, prefix .. tree.when_error
    end
    error(tree, 0)
  end
  local kinds = {}
  for var in pairs(p.vars) do
    local kind = when.VARIABLES[var]
    kinds[kind] = kinds[kind] or {}
    kinds[kind][#kinds[kind] + 1] = var
  end
  if kinds.account and kinds.product then
    sort(kinds.account)
    return nil, prefix .. "mixes account variables (" .. concat(kinds.account, ", ") ..
      ") with package variables (" .. concat(kinds.product, ", ") .. "); use two rules"
  end
  return setmetatable({ tree = tree, vars = p.vars, source = text,
                        subject = kinds.product and "product" or "account" }, Rule)
end

return when
