--- vpptoken.Client: the six vppToken operations over one vpptoken.core Session.
-- @module vpptoken

--- A client from vpptoken.new: its methods.
-- @type Client
local auth = require "vpptoken.auth"
local core = require "vpptoken.core"
local clouds = require "vpptoken.clouds"
local errors = require "vpptoken.error"
local request = require "vpptoken.request"
local schema = require "vpptoken.schema"
local options = require "vpptoken.options"
local compat = require "vpptoken.compat"

local Client = { __name = "vpptoken.Client" }
Client.__index = Client
-- A client's hooks and debug flag when it has none: read here, not through the __index of the lazy methods below
-- (a Lua call on every request).
Client.on_request, Client.on_retry, Client.on_tick, Client.debug = false, false, false, false

local LIMITS = request.LIMITS
local call, call_json, call_no_result = request.call, request.call_json, request.call_no_result
local decode, item_url, query, encode = request.decode, request.item_url, request.query, request.encode
local NULL = request.NULL

local function sorted(list)
  local out = { compat.unpack(list) }
  table.sort(out)
  return out
end
local CLOUD_NAMES = table.concat(sorted(clouds.NAMES), ", ") -- for messages: "china, dod, global, usgov"

local SESSION_OPTIONS = core.session_options -- the transport's options, named once in the C core
-- Every option of vpptoken.new: its own (sign-in, where, observing), then the transport's. The README's
-- Configuration table names exactly these (spec/sources_spec.lua).
Client.OPTIONS = { "access_token", "token_provider", "tenant_id", "client_id", "client_secret", "client_certificate",
                   "client_certificate_key", "client_certificate_password", "federated_token_file",
                   "managed_identity", "azure_cli", "authority_url", "on_request", "on_retry", "on_tick", "cloud",
                   "api_version", "base_url", compat.unpack(SESSION_OPTIONS) }
-- Client.KNOWN_OPTIONS: each option -> its type for the options checker (true: checked further on, by the core).
local KNOWN_OPTIONS = { token_provider = "function", on_request = "function", on_retry = "function",
                        on_tick = "function" }
for _, k in ipairs(Client.OPTIONS) do KNOWN_OPTIONS[k] = KNOWN_OPTIONS[k] or true end
Client.KNOWN_OPTIONS = KNOWN_OPTIONS

-- Checks a service URL option against the library's one URL policy (core.check_url); returns it without a
-- trailing slash, its path, and whether its host is a loopback address. `say` names options in messages.
local function check_url(url, name, say)
  if type(url) ~= "string" then error(say.fname .. ": " .. say(name) .. " must be a string", 4) end
  local origin, https_or_why, loopback = core.check_url(url)
  local path = url:match("^[hH][tT][tT][pP][sS]?://[^/?#]*(/?[^?#]*)$")
  if not origin or not path then
    error(say.fname .. ": " .. say(name) .. " must look like https://host[:port]/path (" .. (origin and
      "no query or fragment" or https_or_why) .. ")", 4)
  end
  path = path:gsub("/+$", "")
  return origin .. path, path, loopback
end

-- How messages name an option: by the name in `names` (from_env: the environment variable it came from), else
-- its own; `fname` starts every message.
local function namer(names, fname)
  names = names or {}
  return setmetatable({ fname = fname or "vpptoken.new" }, { __call = function(_, option)
    return names[option] or option
  end })
end

--- Creates a client; raises on a bad option (see vpptoken.new). `names` (from_env's): option -> the name a message
-- gives it (the environment variable it came from); `fname` starts the messages (default "vpptoken.new").
-- @local
function Client.new(opts, names, fname)
  local say = namer(names, fname)
  opts = options.check(opts, say.fname, KNOWN_OPTIONS, 2)
  local version = opts.api_version or "v1.0"
  if version ~= "v1.0" and version ~= "beta" then
    error(say.fname .. ": " .. say("api_version") .. " must be \"v1.0\" or \"beta\" (got " .. tostring(version)
      .. ")", 2)
  end
  local cloud = opts.cloud or clouds.DEFAULT
  local hosts = clouds.HOSTS[cloud]
  if not hosts then
    local hint = type(cloud) == "string" and options.suggest(cloud, clouds.HOSTS)
    error(say.fname .. ": unknown " .. say("cloud") .. " '" .. tostring(cloud) .. "' (" .. (hint and ("did you mean '"
      .. hint .. "'? ") or "") .. "known: " .. CLOUD_NAMES .. ")", 2)
  end
  local base, login, local_graph = hosts.graph .. "/" .. version, hosts.login, false
  if opts.base_url ~= nil then
    local path
    base, path, local_graph = check_url(opts.base_url, "base_url", say)
    if path:match("/beta$") then version = "beta" elseif path:match("/v1%.0$") then version = "v1.0" end
  end
  local origin = base:match("^(https?://[^/]+)")
  -- A local Graph (the sandbox) also serves the token endpoint; real clouds sign in at their login host.
  if opts.authority_url ~= nil then
    login = check_url(opts.authority_url, "authority_url", say)
  elseif local_graph then
    login = origin
  end
  local scope = (local_graph and origin or hosts.graph) .. "/.default"
  local credential = auth.credential(opts, login, scope, say)
  for _, hook in ipairs{ "on_request", "on_retry", "on_tick" } do
    if opts[hook] ~= nil and type(opts[hook]) ~= "function" then
      error(say.fname .. ": " .. hook .. " must be a function", 2)
    end
  end
  local sopts = {}
  for _, k in ipairs(SESSION_OPTIONS) do sopts[k] = opts[k] end
  if sopts.user_agent == nil then sopts.user_agent = "vpptoken/" .. core._VERSION end
  local ok, session = pcall(core.session, sopts)
  if not ok then error(say.fname .. ": " .. tostring(session), 2) end
  if opts.insecure then
    io.stderr:write("vpptoken: warning: TLS certificate verification is OFF (insecure = true)\n")
  end
  local self = setmetatable({
    base_url = base, api_version = version, beta = version == "beta", authority_url = login, scope = scope,
    collection_url = base .. request.COLLECTION, origin = origin, session = session, on_request = opts.on_request,
    on_retry = opts.on_retry, on_tick = opts.on_tick,
    debug = os.getenv("VPPTOKEN_DEBUG") == "1",
  }, Client)
  request.bind(self, credential)
  return self
end

function Client:__tostring()
  return string.format("vpptoken.Client (%s)", self.base_url)
end

--- Closes the client's connections; later calls raise.
function Client:close()
  self.session:close()
end
Client.__close = Client.close

local NAMED = { null = "null", boolean = "a boolean", number = "a number", string = "a string", array = "an array" }

-- Why a page's `value` is not an array of token objects (nil when it is), and its length (core.page_items).
local function page_problem(value)
  local n, at, what = core.page_items(value, NULL)
  if n then return nil, n end
  if at == 0 then
    return what == "missing" and "the list response has no 'value' array"
      or "the list response's 'value' is not an array"
  end
  return string.format("item %d of the page is %s, not a token object", at, NAMED[what])
end

-- A 64-bit FNV-1a digest of a URL (in C, alike on every Lua): a walk remembers the pages it has read in 8 bytes
-- each, not by their text.
local digest = core.fnv1a64

-- Why a nextLink may not be followed (or nil), and its digest. `seen` holds the digests of the URLs read in this
-- walk.
local function next_link_problem(self, link, seen)
  if type(link) ~= "string" then return "@odata.nextLink is a " .. type(link) .. ", not a URL" end
  if #link > LIMITS.max_next_link then
    return string.format("@odata.nextLink is longer than %d bytes", LIMITS.max_next_link)
  end
  local origin, why = core.check_url(link) -- the library's one URL policy; never raises
  if not origin then return "@odata.nextLink is not a URL to follow: " .. why end
  if origin ~= self.origin then
    return "@odata.nextLink points to " .. origin .. ", not to " .. self.origin .. " (a page walk never leaves it)"
  end
  local d = digest(link)
  if seen[d] then
    return "@odata.nextLink points back to a page already read in this walk (the server's paging loops)"
  end
  return nil, d
end

--- Iterates over every token, one page in memory at a time, following @odata.nextLink.
-- `for tok, err in client:each{ select = ..., filter = ... }`: on a failure the loop gets `false, err` once, then ends.
-- A walk ends with an error when a nextLink points back to a page it has read (code InvalidNextLink), after
-- LIMITS.max_pages pages (code TooManyPages), at a page of more than LIMITS.max_page_bytes bytes or
-- LIMITS.max_page_values JSON values (code PageTooLarge), or after LIMITS.max_walk_seconds (kind timeout, code
-- ListTimeout); a page with an item that is not an object is an InvalidResponse. It holds one page at a time, so
-- the pages together have no bound but their number.
function Client:each(opts)
  return self:_walk(self.collection_url .. query(self, opts))
end

-- The iterator of each over the pages from `url` on. `keep`: the caller keeps every page (list), so the pages
-- together are bounded too (LIMITS.max_list_values and max_list_bytes: ListTooLarge).
function Client:_walk(url, keep)
  local page, i, n, done, pages, seen, url_digest = nil, 0, 0, false, 0, {}, nil
  local max_pages, max_page_bytes, max_page_values = LIMITS.max_pages, LIMITS.max_page_bytes, LIMITS.max_page_values
  local values_left, bytes_left -- what list() may still keep
  if keep then values_left, bytes_left = LIMITS.max_list_values, LIMITS.max_list_bytes end
  local deadline = core.monotonic() + LIMITS.max_walk_seconds
  local function fail(code, message, at, kind)
    done = true
    return false, errors.new{ kind = kind or "protocol", code = code, method = "GET", url = at, message = message }
  end
  local function too_large(at, list)
    if list then
      return fail("ListTooLarge", string.format("the list's pages hold more than %d JSON values or %d bytes together: "
        .. "list() stops there (each() holds one page at a time)", LIMITS.max_list_values, LIMITS.max_list_bytes), at)
    end
    return fail("PageTooLarge", string.format("a page of the list holds more than %d JSON values or %d bytes: the walk "
      .. "stops there", max_page_values, max_page_bytes), at)
  end
  local function advance()
    while not done do
      if i < n then
        i = i + 1
        return page[i]
      end
      if not url then break end
      if pages >= max_pages then
        return fail("TooManyPages", string.format("the list has more than %d pages: the walk stops there", max_pages),
          url)
      end
      if core.monotonic() > deadline then
        return fail("ListTimeout", string.format("reading the list took more than %g seconds: the walk stops there",
          LIMITS.max_walk_seconds), url, "timeout")
      end
      seen[url_digest or digest(url)] = true
      pages, page = pages + 1, nil -- the page read is garbage before the next is decoded
      local resp, err = call(self, "GET", url)
      if not resp then
        done = true
        return false, err
      end
      local bytes = #resp.body
      if bytes > max_page_bytes then return too_large(url, false) end
      if bytes_left then
        bytes_left = bytes_left - bytes
        if bytes_left < 0 then return too_large(url, true) end
      end
      local budget = values_left and math.min(values_left, max_page_values) or max_page_values
      local doc, values
      doc, err, values = decode(resp, "GET", url, budget, keep)
      if not doc then
        if values == "values" then return too_large(url, budget < max_page_values) end
        done = true
        return false, err
      end
      if values_left then values_left = values_left - values end
      local problem, items = page_problem(doc.value)
      if problem then return fail("InvalidResponse", problem, url) end
      page, i, n = doc.value, 0, items
      local next_link = doc["@odata.nextLink"]
      if next_link ~= nil then
        problem, url_digest = next_link_problem(self, next_link, seen)
        if problem then return fail("InvalidNextLink", problem, url) end
      end
      url = next_link
    end
    done = true
    return nil
  end
  return function() -- an item of the page read, else advance
    if i < n then
      i = i + 1
      return page[i]
    end
    return advance()
  end
end

--- Every token as one array (all pages), or nil, err. Besides each()'s bounds, the pages together may hold at most
-- LIMITS.max_list_values JSON values and LIMITS.max_list_bytes bytes (code ListTooLarge).
function Client:list(opts)
  local out = {}
  for tok, err in self:_walk(self.collection_url .. query(self, opts), true) do
    if not tok then return nil, err end
    out[#out + 1] = tok
  end
  return out
end

-- Gives every token of a walk (each's, so with each's bounds only) to visit(tok); true, or nil, err. For what is
-- built on each (expiring, find, sync_all).
function Client:_visit(opts, visit)
  for tok, err in self:each(opts) do
    if not tok then return nil, err end
    visit(tok)
  end
  return true
end

--- One token by id (opts.select limits the properties), or nil, err.
function Client:get(id, opts)
  local url = item_url(self, id)
  if opts ~= nil then url = url .. query(self, opts) end -- (no query, no call: a get is often in a loop)
  return call_json(self, "GET", url)
end

--- Uploads a token; returns the created token (with its server id), or nil, err.
function Client:create(fields)
  local body, msg = schema.check_fields(fields, "create", self.beta)
  if not body then error(msg, 2) end
  return call_json(self, "POST", self.collection_url, encode(body))
end

--- Changes properties of a token and returns the updated token (fetched again when the server answers 204),
-- or true when opts.fetch is false and the server sent no body; nil, err on failure.
function Client:update(id, fields, opts)
  local url = item_url(self, id)
  local body, msg = schema.check_fields(fields, "update", self.beta)
  if not body then error(msg, 2) end
  options.check(opts, "update", { fetch = "boolean" }, 2)
  local resp, err = call(self, "PATCH", url, encode(body), { Prefer = "return=representation" })
  if not resp then return nil, err end
  if resp.status ~= 204 and resp.body ~= "" then return decode(resp, "PATCH", url) end
  if opts and opts.fetch == false then return true end
  return call_json(self, "GET", url)
end

--- Deletes a token; true, or nil, err.
function Client:delete(id)
  return call_no_result(self, "DELETE", item_url(self, id))
end

--- Asks Intune to sync the token's licenses with Apple; returns the token (bare or {"value":...} on the wire).
function Client:sync_licenses(id)
  local url = item_url(self, id, "/syncLicenses")
  local doc, err = call_json(self, "POST", url)
  if not doc then return nil, err end
  return request.synced_token(doc)
end

-- Operations defined in other modules, loaded when a client first looks one up: a script that never calls them
-- does not pay at start-up for compiling them (about 40 % of the library's Lua). Each such module returns its
-- functions and changes nothing else; spec/sources_spec.lua checks this table against them both ways.
Client._lazy_methods = { get_many = "vpptoken.many", sync_all = "vpptoken.many", batch = "vpptoken.batch",
  expiring = "vpptoken.automation", wait_for_sync = "vpptoken.automation", renew = "vpptoken.automation",
  find = "vpptoken.automation" }
setmetatable(Client, { __index = function(t, k)
  local module = Client._lazy_methods[k]
  if not module then return nil end
  local v = require(module)[k]
  rawset(t, k, v)
  return v
end })

-- ---- beta only ----

local function need_beta(self, name)
  if not self.beta then
    error(name .. " exists only in the beta API: create the client with api_version = \"beta\"", 3)
  end
end

--- (beta) Revokes every license of the token; opts.notify_managed_devices tells devices. true, or nil, err.
function Client:revoke_licenses(id, opts)
  need_beta(self, "revoke_licenses")
  local url = item_url(self, id, "/revokeLicenses")
  options.check(opts, "revoke_licenses", { notify_managed_devices = "boolean" }, 2)
  local notify = opts and opts.notify_managed_devices
  return call_no_result(self, "POST", url, encode{ notifyManagedDevices = notify or false })
end

--- (beta) Asks Intune to refresh the license counts of every token. true, or nil, err.
function Client:sync_license_counts()
  need_beta(self, "sync_license_counts")
  return call_no_result(self, "POST", self.collection_url .. "/syncLicenseCounts")
end

--- (beta) License counts per token for one app: array of { vppTokenId, appleId, organizationName,
-- availableLicenseCount, usedLicenseCount }, or nil, err.
function Client:licenses_for_app(bundle_id)
  need_beta(self, "licenses_for_app")
  if type(bundle_id) ~= "string" or bundle_id == "" or #bundle_id > 256 or bundle_id:find("[%z\1-\31\127]") then
    error("bundle_id must be a non-empty string without control characters (e.g. \"com.example.app\")", 2)
  end
  local arg = core.escape("'" .. bundle_id:gsub("'", "''") .. "'")
  local url = self.collection_url .. "/getLicensesForApp(bundleId=" .. arg .. ")"
  local doc, err = call_json(self, "GET", url)
  if not doc then return nil, err end
  local problem = page_problem(doc.value)
  if problem then
    return nil, errors.new{ kind = "protocol", code = "InvalidResponse", method = "GET", url = url,
                            message = "getLicensesForApp: " .. problem }
  end
  return doc.value
end

return Client
