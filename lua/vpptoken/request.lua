--- The request path every operation takes: a call (or many at once) over the client's Session, with its access
-- token; a rejected token fetched anew once; the outcome reported to on_request and VPPTOKEN_DEBUG; a status
-- >= 400 or a broken body turned into an error object. The operation modules (client, many, batch, automation)
-- use it; it knows no operation. Not a public API.
local cjson = require "cjson.safe"
local core = require "vpptoken.core"
local errors = require "vpptoken.error"
local json = require "vpptoken.json"
local schema = require "vpptoken.schema"
local safe_text = require "vpptoken.text"

local M = {}

-- The collection every operation works on, relative to the version root.
M.COLLECTION = "/deviceAppManagement/vppTokens"

-- Bounds on a walk over the pages of a list (each, list and what uses them). Read when a walk starts. A streaming
-- walk (each, and expiring, find, sync_all built on it) holds one page at a time: each page is bounded, and the
-- walk by pages and time, never by the total of pages it has let go. list() keeps every page: it has a total too.
M.LIMITS = {
  -- Pages per walk: a tenant's VPP tokens fill a few pages; even at one token per page this is far above any.
  max_pages = 10000,
  -- Bytes in one @odata.nextLink (Graph's are a few hundred).
  max_next_link = 8192,
  -- One page: its bytes, and the JSON values (keys included) it may decode to (a 999-token Graph page is about
  -- 1 MiB and 31,000 values); over either, PageTooLarge. Its depth is the decoder's own bound, core.JSON_MAX_DEPTH
  -- (deeper: InvalidResponse, as any answer).
  max_page_bytes = 16 * 1024 * 1024,
  max_page_values = core.JSON_MAX_VALUES,
  -- What list() keeps, all its pages together (Intune allows some thousands of tokens per tenant, about 20 values
  -- and 1 KiB each): over either, ListTooLarge.
  max_list_values = core.JSON_MAX_VALUES,
  max_list_bytes = 64 * 1024 * 1024,
  -- Seconds one walk may take, all its pages, waits and retries together (a tenant's list takes seconds).
  max_walk_seconds = 3600,
}

-- Credentials live here, not in the client table, so no dump of a client shows a secret.
local credentials = setmetatable({}, { __mode = "k" })

--- Gives a new client its credential (vpptoken.auth).
function M.bind(client, credential)
  credentials[client] = credential
end

--- Tells the on_request hook and VPPTOKEN_DEBUG about one finished call (never a header or a body).
function M.observe(self, method, url, resp, err)
  if not self.on_request and not self.debug then return end
  local info = { method = method, url = url, status = resp and resp.status or (err and err.status),
                 attempts = (resp or err or {}).attempts, elapsed = resp and resp.elapsed,
                 waited = resp and resp.waited,
                 -- an error's request id has been through redaction (error.from_response): the header may echo
                 request_id = err and err.request_id or (resp and resp.headers["request-id"]),
                 client_request_id = (resp or err or {}).client_request_id,
                 error = err and (err.kind .. ":" .. tostring(err.code)) or nil }
  if self.debug then
    io.stderr:write(safe_text.printable(string.format( -- one line; request ids and codes come from servers
      "vpptoken: %s %s -> %s (%s attempt(s), %.3f s, request-id %s, client-request-id %s)%s", method, url,
      tostring(info.status or "-"), tostring(info.attempts or 1), info.elapsed or 0,
      tostring(info.request_id or "-"), tostring(info.client_request_id or "-"),
      info.error and (" " .. info.error) or "")), "\n")
  end
  if self.on_request then
    local ok, herr = pcall(self.on_request, info)
    if not ok and self.debug then io.stderr:write("vpptoken: on_request failed: ", tostring(herr), "\n") end
  end
end
local observe = M.observe

-- The client's on_retry and on_tick hooks as the core calls them (one function per client), or nil without
-- either: each told its own events, without the core's own fields; a raise in a hook dropped (they only observe).
local wait_hooks = setmetatable({}, { __mode = "k" })
local function call_hook(self, name, info)
  local ok, herr = pcall(self[name], info)
  if not ok and self.debug then io.stderr:write("vpptoken: ", name, " failed: ", tostring(herr), "\n") end
end
local function wait_hook(self)
  if not self.on_retry and not self.on_tick then return nil end
  local h = wait_hooks[self]
  if not h then
    h = function(ev)
      if ev.event == "retry" and self.on_retry then
        call_hook(self, "on_retry", { method = ev.method, url = ev.url, attempt = ev.attempt,
          max_attempts = ev.max_attempts, delay = ev.delay, status = ev.status, kind = ev.kind, code = ev.code })
      elseif ev.event == "tick" and self.on_tick then
        call_hook(self, "on_tick", { method = ev.method, url = ev.url, elapsed = ev.elapsed, waiting = ev.waiting })
      end
    end
    wait_hooks[self] = h
  end
  return h
end

-- The observer given to the credential, so token-endpoint calls are reported like Graph calls.
local reporters = setmetatable({}, { __mode = "k" })
local function reporter(self)
  local r = reporters[self]
  if not r then
    r = function(method, url, resp, err) observe(self, method, url, resp, err) end
    reporters[self] = r
  end
  return r
end

-- The access token each client last sent: a Graph error that echoes it (a message quoting the Authorization
-- header) has it redacted (M.error_of).
local sent_tokens = setmetatable({}, { __mode = "k" })

-- The client's access token: tok, or nil and an error object.
local function access_token(self, force)
  local tok, err = credentials[self]:token(self.session, force, reporters[self] or reporter(self))
  if tok and sent_tokens[self] ~= tok then sent_tokens[self] = tok end -- a write to a weak table costs more
  return tok, err
end

--- The error object of a Graph answer with status >= 400 (resp as the session returns it), with the access token
-- the client sent redacted wherever the server echoed it.
function M.error_of(self, resp, method, url)
  return errors.from_response(resp, method, url, { sent_tokens[self] })
end
local error_of = M.error_of

-- The request headers of every Graph call, built once per access token as C header sets (core.headers): with and
-- without a JSON body. Kept here, not in the client table, as the credentials are.
local header_sets = setmetatable({}, { __mode = "k" })
local function header_table(tok, json_body)
  return { Authorization = "Bearer " .. tok, Accept = "application/json",
           ["Content-Type"] = json_body and "application/json" or nil }
end
local function graph_headers(self, tok, json_body)
  local sets = header_sets[self]
  if not sets or sets.token ~= tok then
    sets = { token = tok }
    header_sets[self] = sets
  end
  local key = json_body and "json" or "plain"
  local hs = sets[key]
  if not hs then
    hs = core.headers(header_table(tok, json_body))
    sets[key] = hs
  end
  return hs
end

-- Whether Graph rejected the access token of this answer, and a new one may be fetched.
local function token_rejected(self, resp, method, url)
  return resp.status == 401 and credentials[self]:can_refresh()
    and error_of(self, resp, method, url).code == "InvalidAuthenticationToken"
end

-- The end of one call, single or concurrent: the core's response (or its transport failure, or an error object)
-- becomes resp or nil, err, and is reported.
local function settle(self, method, url, resp, err)
  if not resp then
    if not errors.is(err) then err = errors.from_transport(err) end
    observe(self, method, url, nil, err)
    return nil, err
  end
  if resp.status >= 400 then
    err = error_of(self, resp, method, url)
    observe(self, method, url, resp, err)
    return nil, err
  end
  if self.on_request or self.debug then observe(self, method, url, resp) end -- (a Lua call less when neither is set)
  return resp
end

local function send(self, method, url, body, extra, force_token)
  local tok, terr = access_token(self, force_token)
  if not tok then
    terr.method, terr.url = terr.method or method, terr.url or url
    return nil, terr
  end
  local headers
  if extra then -- rare (PATCH's Prefer): a table for this call
    headers = header_table(tok, body ~= nil)
    for k, v in pairs(extra) do headers[k] = v end
  else
    headers = graph_headers(self, tok, body ~= nil)
  end
  -- (the test before wait_hook: one Lua call less on every request of a client without hooks)
  local on_wait = (self.on_retry or self.on_tick) and wait_hook(self) or nil
  return self.session:request(method, url, headers, body, nil, on_wait)
end

--- One logical call: the core retries; a rejected access token is fetched anew once; a status >= 400 becomes an
-- error object. resp, or nil, err.
function M.call(self, method, url, body, extra)
  local resp, err = send(self, method, url, body, extra)
  if resp and resp.status == 401 and token_rejected(self, resp, method, url) then
    resp, err = send(self, method, url, body, extra, true)
  end
  return settle(self, method, url, resp, err)
end
local call = M.call

--- Many calls at once (items: { method, url, body? }), at most `concurrency` under way; returns out[i] = { resp }
-- or { nil, err }, in order. One access token for all; calls whose token was rejected are sent again once with a
-- new one. on_each(i, ok), if given, is called as call i ends (ok: a 2xx answer; a call sent again may end twice).
function M.call_many(self, items, concurrency, on_each)
  local out = {}
  local on_wait = wait_hook(self)
  local function on_event(ev)
    if ev.event ~= "done" then
      if on_wait then on_wait(ev) end
    elseif on_each then
      local r = ev.result
      on_each(ev.index, r.kind == nil and r.status < 400)
    end
  end
  local function run(indices, force)
    local tok, terr = access_token(self, force)
    if not tok then
      for _, i in ipairs(indices) do out[i] = { nil, terr } end
      return
    end
    local reqs = {}
    for k, i in ipairs(indices) do
      local it = items[i]
      reqs[k] = { method = it.method, url = it.url, body = it.body, headers = graph_headers(self, tok, it.body ~= nil) }
    end
    local results = self.session:request_many(reqs, { concurrency = concurrency,
      on_event = (on_wait or on_each) and function(ev)
        if ev.index then ev.index = indices[ev.index] end
        on_event(ev)
      end or nil })
    local again = {}
    for k, i in ipairs(indices) do
      local r, it = results[k], items[i]
      if r.kind then -- a transport failure
        out[i] = { settle(self, it.method, it.url, nil, r) }
      elseif not force and token_rejected(self, r, it.method, it.url) then
        again[#again + 1] = i
      else
        out[i] = { settle(self, it.method, it.url, r) }
      end
    end
    if #again > 0 then run(again, true) end
  end
  local all = {}
  for i = 1, #items do all[i] = i end
  if #all > 0 then run(all, false) end
  return out
end

-- JSON null becomes an absent property: `if tok.lastSyncDateTime then` must mean what it says (in C: it runs on
-- every decoded page that holds the bytes "null", core.has_null).
local NULL = cjson.null
M.NULL = NULL

--- Strips JSON nulls from a decoded document, in place; returns it.
function M.strip_nulls(v)
  if type(v) ~= "table" then return v end
  return core.strip_nulls(v, NULL)
end
local strip_nulls = M.strip_nulls

--- A response's body as a JSON object without nulls, nil, and the number of JSON values it held when they were
-- counted (`count`, or a body too long for its length alone to bound them); or nil, a protocol error and, when a
-- bound refused the body, which (json.decode's "values", "depth", "unbalanced"). `max_values` lowers the bound on
-- its values (json.MAX_VALUES).
function M.decode(resp, method, url, max_values, count)
  local doc, msg, values = json.decode(resp.body, max_values, count)
  if type(doc) ~= "table" then
    return nil, errors.new{ kind = "protocol", code = "InvalidResponse", status = resp.status, method = method,
      url = url, message = "the response is not a JSON object: " .. tostring(msg or (doc == NULL and "null"
      or type(doc))), request_id = resp.headers["request-id"], client_request_id = resp.client_request_id,
      attempts = resp.attempts }, values
  end
  if core.has_null(resp.body) then doc = strip_nulls(doc) end
  return doc, nil, values
end
local decode = M.decode

--- A call whose answer is a JSON object: the document, or nil, err.
function M.call_json(self, method, url, body, extra)
  local resp, err = call(self, method, url, body, extra)
  if not resp then return nil, err end
  return decode(resp, method, url)
end

--- For answers that carry no result (delete, actions): true when the body is empty or JSON, else a protocol error
-- (a 2xx with a broken body is no proof the work was done).
function M.call_no_result(self, method, url, body, extra)
  local resp, err = call(self, method, url, body, extra)
  if not resp then return nil, err end
  if resp.body:find("%S") and json.decode(resp.body) == nil then
    return nil, errors.new{ kind = "protocol", code = "InvalidResponse", status = resp.status, method = method,
      url = url, outcome_unknown = method ~= "DELETE" or nil, request_id = resp.headers["request-id"],
      client_request_id = resp.client_request_id, attempts = resp.attempts,
      message = "the answer has a body that is not JSON, so the outcome is not known" }
  end
  return true
end

--- The token a syncLicenses answer carries: Graph sends it bare or as {"value": ...}.
function M.synced_token(doc)
  if doc.id == nil and type(doc.value) == "table" then return doc.value end
  return doc
end

--- The URL of one token (and a suffix such as "/syncLicenses"); raises at the operation's caller on a bad id.
function M.item_url(self, id, suffix)
  local escaped, msg = schema.check_id(id)
  if not escaped then error(msg, 3) end
  return self.collection_url .. "/" .. escaped .. (suffix or "")
end

--- The OData query string of opts (select, filter, ...); raises at the operation's caller on a bad option.
function M.query(self, opts)
  local q, msg = schema.query_string(opts, self.beta)
  if not q then error(msg, 3) end
  return q
end

--- A request body as JSON text; raises at the operation's caller when it cannot be encoded.
function M.encode(body)
  local text, msg = cjson.encode(body)
  if not text then error("cannot encode the request body as JSON: " .. tostring(msg), 3) end
  return text
end

return M
