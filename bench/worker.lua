-- One measurement in a fresh process (run by bench/run.lua): one implementation doing one workload once.
--   lua5.4 bench/worker.lua IMPL WORK BASE ARG [N [CAFILE]]
-- IMPL: vpptoken | floor (bench/floor.c + cjson) | luasocket (socket.http / ssl.https + cjson) | async (vpptoken.async
-- in a luv loop: get is one task's N gets one after another, sync is ARG tasks sharing the syncs of every token)
-- WORK: get (ARG = token id, N gets) | walk (N walks of the list) | sync (ARG = concurrency) | startup
-- BASE: the Graph root (http[s]://127.0.0.1:PORT/.../v1.0); CAFILE for https.
-- Prints one line: wall=SECONDS cpu=SECONDS hwm_kb=KB count=ITEMS
local build = os.getenv("VPPTOKEN_BUILD_DIR") or "build"
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
package.cpath = build .. "/?.so;" .. build .. "/bench/?.so;" .. package.cpath

local impl, work, base, warg = arg[1], arg[2], arg[3], arg[4]
local n = tonumber(arg[5]) or 1
local cafile = arg[6] ~= "" and arg[6] or nil
local COLL = "/deviceAppManagement/vppTokens"

local gettime = require("socket.core").gettime

local function hwm_kb()
  local f = assert(io.open("/proc/self/status"))
  local kb = tonumber(f:read("a"):match("VmHWM:%s*(%d+)"))
  f:close()
  return kb
end

local function report(wall, cpu, count)
  io.write(string.format("wall=%.6f cpu=%.6f hwm_kb=%d count=%d\n", wall, cpu, hwm_kb(), count))
end

if work == "startup" then
  local t0, c0 = gettime(), os.clock()
  if impl == "vpptoken" then
    local client = require("vpptoken").new{ access_token = "bench", base_url = base }
    assert(client)
  elseif impl == "floor" then
    assert(require("floor").get and require("cjson").decode)
  else
    assert(require("socket.http").request and require("cjson").decode)
  end
  report(gettime() - t0, os.clock() - c0, 1)
  os.exit(0)
end

-- fetch(url) -> decoded document, for the floor and LuaSocket loops
local fetch
if impl == "floor" then
  local floor, cjson = require "floor", require "cjson"
  fetch = function(url) return cjson.decode(assert(floor.get(url, cafile))) end
elseif impl == "luasocket" then
  local ltn12, cjson = require "ltn12", require "cjson"
  local http = base:match("^https:") and require "ssl.https" or require "socket.http"
  local headers = { authorization = "Bearer bench", accept = "application/json" }
  fetch = function(url, method)
    local chunks = {}
    local _, status = http.request{ url = url, method = method, headers = headers, sink = ltn12.sink.table(chunks),
                                    cafile = cafile, verify = cafile and "peer" or nil }
    assert(status == 200, "HTTP " .. tostring(status))
    return cjson.decode(table.concat(chunks))
  end
end

local client, uv, rt, aclient
if impl == "vpptoken" then
  client = require("vpptoken").new{ access_token = "bench", base_url = base, cafile = cafile }
elseif impl == "async" then
  uv = require "luv"
  rt = require("vpptoken.async").new{ loop = "luv" }
  aclient = rt:client{ access_token = "bench", base_url = base, cafile = cafile }
end

local count = 0
local t0, c0 = gettime(), os.clock()
if impl == "async" then
  if work == "get" then
    rt:spawn(function()
      for _ = 1, n do
        local tok = assert(aclient:get(warg))
        if tok.id then count = count + 1 end
      end
    end)
  elseif work == "sync" then
    rt:spawn(function()
      local ids = {}
      for _, tok in ipairs(assert(aclient:list())) do ids[#ids + 1] = tok.id end
      for _ = 1, tonumber(warg) do
        rt:spawn(function()
          while #ids > 0 do
            if assert(aclient:sync_licenses(table.remove(ids))).id then count = count + 1 end
          end
        end)
      end
    end)
  else
    error("no async form of workload " .. tostring(work))
  end
  uv.run()
  aclient:close()
elseif work == "get" then
  if client then
    for _ = 1, n do
      local tok = assert(client:get(warg))
      if tok.id then count = count + 1 end
    end
  else
    local url = base .. COLL .. "/" .. warg
    for _ = 1, n do
      if fetch(url).id then count = count + 1 end
    end
  end
elseif work == "walk" then
  for _ = 1, n do
    if client then
      for tok, err in client:each() do
        assert(tok, err)
        count = count + 1
      end
    else
      local url = base .. COLL
      while url do
        local doc = fetch(url)
        for _, tok in ipairs(doc.value) do
          if tok.id then count = count + 1 end
        end
        url = doc["@odata.nextLink"]
      end
    end
  end
elseif work == "sync" then
  if client then
    local out = assert(client:sync_all{ concurrency = tonumber(warg), skip_in_progress = false })
    for _, o in ipairs(out) do
      assert(o.outcome == "started", o.reason)
      count = count + 1
    end
  elseif impl == "luasocket" then -- sequential: list every page, then one POST per token
    local ids, url = {}, base .. COLL
    while url do
      local doc = fetch(url)
      for _, tok in ipairs(doc.value) do ids[#ids + 1] = tok.id end
      url = doc["@odata.nextLink"]
    end
    for _, id in ipairs(ids) do
      if fetch(base .. COLL .. "/" .. id .. "/syncLicenses", "POST").id then count = count + 1 end
    end
  else
    error("the floor has no POST")
  end
else
  error("unknown workload " .. tostring(work))
end
report(gettime() - t0, os.clock() - c0, count)
