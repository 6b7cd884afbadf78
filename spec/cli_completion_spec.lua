-- Shell completion of token ids, as a person at a shell gets it: `vpptoken list` against the sandbox keeps the
-- ids it listed (cli/idcache.lua), and the generated bash, zsh and fish scripts offer exactly those for every
-- command that takes an ID; never another tenant's, never a stale listing's, never anything from a cache file
-- that is not what vpptoken writes, and never a secret kept.
local helper = require "helper"
local cjson = require "cjson"
local cli = require "cli_support"
local args = require "vpptoken.cli.args"
local idcache = require "vpptoken.cli.idcache"

local q = helper.shell_quote

-- Runs a shell command line; returns whether it succeeded, its stdout and its stderr.
local function sh(line)
  local err = os.tmpname()
  local p = assert(io.popen("(" .. line .. ") 2>" .. q(err), "r"))
  local out = p:read("*a")
  local ok = p:close()
  local f = assert(io.open(err, "rb"))
  local stderr = f:read("*a")
  f:close()
  os.remove(err)
  return ok == true, out, stderr
end

local function have(shell)
  return (sh("command -v " .. shell))
end

local function lines(text)
  local out = {}
  for l in text:gmatch("[^\n]+") do out[#out + 1] = l end
  return out
end

local function sorted(list)
  local copy = {}
  for i, v in ipairs(list) do copy[i] = v end
  table.sort(copy)
  return copy
end

-- The commands whose usage starts with an ID (get, update, delete, sync, renew).
local ID_COMMANDS = {}
for _, c in ipairs(args.COMMANDS) do
  if (c.usage or ""):match("^ID") then ID_COMMANDS[#ID_COMMANDS + 1] = c.name end
end

describe("shell completion of token ids #subprocess", function()
  local sb = helper.sandbox_suite{ "--access-token", cli.ACCESS, "--seed-tokens", "5", "--seed", "7" }
  local work, cache_home, bindir, env

  -- Runs the command with the spec's environment (and env's changes).
  local function run(argv, more)
    local e = {}
    for k, v in pairs(env) do e[k] = v end
    for k, v in pairs(more or {}) do e[k] = v end
    return cli.run(argv, { env = e })
  end

  -- `vpptoken list` as JSON: the ids listed, in order, and the tokens.
  local function list(argv)
    local full = { "list", "--output", "json" }
    for _, a in ipairs(argv or {}) do full[#full + 1] = a end
    local code, out, err = run(full)
    assert.equal(0, code, err)
    local ids, tokens = {}, cjson.decode(out)
    for i, t in ipairs(tokens) do ids[i] = t.id end
    return ids, tokens
  end

  local function cache_file() return cache_home .. "/vpptoken/ids.json" end

  local function write_cache(text, mode)
    assert(sh("mkdir -p " .. q(cache_home .. "/vpptoken") .. " && chmod 700 " .. q(cache_home .. "/vpptoken")
      .. " && rm -f " .. q(cache_file())))
    local f = assert(io.open(cache_file(), "wb"))
    f:write(text)
    f:close()
    assert(sh("chmod " .. (mode or "600") .. " " .. q(cache_file())))
  end

  -- What bash's completion of `words` (the last one being completed) offers: COMPREPLY, one a line, as bash
  -- calls the function `complete -p vpptoken` names.
  local function bash_complete(words)
    local script = "PATH=" .. q(bindir) .. ":$PATH; source completion/vpptoken.bash; spec=$(complete -p vpptoken) "
      .. "|| exit 1; fn=${spec#*-F }; fn=${fn%% *}; COMP_WORDS=(\"$@\"); COMP_CWORD=$(( $# - 1 )); "
      .. "COMP_LINE=\"$*\"; COMP_POINT=${#COMP_LINE}; COMPREPLY=(); "
      .. "\"$fn\" vpptoken \"${COMP_WORDS[COMP_CWORD]}\" \"${COMP_WORDS[COMP_CWORD-1]}\"; "
      .. "if (( ${#COMPREPLY[@]} )); then printf '%s\\n' \"${COMPREPLY[@]}\"; fi"
    local quoted = {}
    for i, w in ipairs(words) do quoted[i] = q(w) end
    local ok, out, err = sh("cd " .. q(os.getenv("PWD")) .. " && timeout 30 bash -c " .. q(script) .. " bash "
      .. table.concat(quoted, " "))
    assert(ok, out .. err)
    assert.equal("", err)
    return lines(out)
  end

  setup(function()
    work = helper.temp_dir()
    cache_home, bindir = work .. "/cache", work .. "/bin"
    env = { VPPTOKEN_GRAPH_URL = sb.graph, VPPTOKEN_ACCESS_TOKEN = cli.ACCESS, XDG_CACHE_HOME = cache_home }
    -- `vpptoken` on PATH, as the completion scripts run it: this checkout's, with the spec's environment
    assert(sh("mkdir -p " .. q(bindir)))
    local f = assert(io.open(bindir .. "/vpptoken", "w"))
    f:write("#!/bin/sh\nexec ", cli.command({}, env, "/"), " \"$@\"\n")
    f:close()
    assert(sh("chmod +x " .. q(bindir .. "/vpptoken")))
  end)

  teardown(function()
    if work then helper.remove_tree(work) end
  end)

  before_each(function()
    assert(sh("rm -rf " .. q(cache_home)))
  end)

  it("after 'vpptoken list', bash offers exactly the ids listed for every command that takes an ID", function()
    assert.is_true(#ID_COMMANDS >= 5, table.concat(ID_COMMANDS, " "))
    local ids = list()
    assert.equal(5, #ids)
    for _, name in ipairs(ID_COMMANDS) do
      assert.same(sorted(ids), sorted(bash_complete{ "vpptoken", name, "" }), name)
    end
    -- the start of an id narrows them; the global flags before the command change nothing
    local first = ids[1]:sub(1, 6)
    local want = {}
    for _, id in ipairs(ids) do if id:sub(1, 6) == first then want[#want + 1] = id end end
    assert.same(sorted(want), sorted(bash_complete{ "vpptoken", "-q", "get", first }))
    -- a second id for sync; a flag's value is not an id
    assert.same(sorted(ids), sorted(bash_complete{ "vpptoken", "sync", ids[1], "" }))
    assert.same({}, bash_complete{ "vpptoken", "list", "" })
  end)

  it("bash offers nothing before any listing, and the ids of a --max listing only", function()
    assert.same({}, bash_complete{ "vpptoken", "get", "" })
    assert.same({}, bash_complete{ work .. "/no-such-vpptoken", "get", "" }) -- and says nothing of a missing command
    local ids = list{ "--max", "2" }
    assert.equal(2, #ids)
    assert.same(sorted(ids), sorted(bash_complete{ "vpptoken", "delete", "" }))
  end)

  it("zsh offers the listed ids for get, update, delete, sync and renew", function()
    if not have("zsh") then
      pending("NOT TESTED: zsh is not installed (make test-deps installs it)")
      return
    end
    local ids = list()
    local dir = work .. "/zsh"
    assert(sh("mkdir -p " .. q(dir) .. " && cp completion/vpptoken.zsh " .. q(dir .. "/_vpptoken")))
    for _, name in ipairs(ID_COMMANDS) do
      local ok, out, err = sh("PATH=" .. q(bindir) .. ":$PATH timeout 60 zsh -f spec/support/zsh_complete.zsh "
        .. q(dir) .. " " .. q("vpptoken " .. name .. " "))
      assert(ok, out .. err)
      assert.same(sorted(ids), sorted(lines(out)), name)
    end
  end)

  it("fish offers the listed ids, each described by its Apple ID", function()
    if not have("fish") then
      pending("NOT TESTED: fish is not installed (make test-deps installs it)")
      return
    end
    local ids, tokens = list()
    for _, name in ipairs(ID_COMMANDS) do
      local ok, out, err = sh("PATH=" .. q(bindir) .. ":$PATH timeout 60 fish -N -c "
        .. q("source completion/vpptoken.fish; complete -C" .. q("vpptoken " .. name .. " ")))
      assert(ok, out .. err)
      local got, described = {}, {}
      for l in out:gmatch("[^\n]+") do
        local id, label = l:match("^([^\t]+)\t?(.*)$")
        if not id:match("^%-") then -- fish adds the flags to an empty word's completions
          got[#got + 1] = id
          described[id] = label
        end
      end
      assert.same(sorted(ids), sorted(got), name)
      for _, t in ipairs(tokens) do assert.matches(t.appleId, described[t.id], 1, true) end
    end
  end)

  it("offers no ids listed for another tenant or another Graph URL", function()
    local ids = list{ "--tenant", "contoso.onmicrosoft.com" }
    assert.same(sorted(ids), sorted(bash_complete{ "vpptoken", "--tenant", "contoso.onmicrosoft.com", "get", "" }))
    assert.same(sorted(ids), sorted(bash_complete{ "vpptoken", "get", "--tenant=contoso.onmicrosoft.com", "" }))
    assert.same({}, bash_complete{ "vpptoken", "--tenant", "fabrikam.onmicrosoft.com", "get", "" })
    assert.same({}, bash_complete{ "vpptoken", "get", "" })
    local code, out, err = run{ idcache.COMMAND, "--tenant", "fabrikam.onmicrosoft.com" }
    assert.equal(0, code)
    assert.equal("", out)
    assert.equal("", err)
    code, out = run({ idcache.COMMAND, "--tenant", "contoso.onmicrosoft.com" },
      { VPPTOKEN_GRAPH_URL = "http://127.0.0.1:1/v1.0" })
    assert.equal(0, code)
    assert.equal("", out)
  end)

  it("keeps the listings of several tenants apart", function()
    local a = list{ "--tenant", "contoso.onmicrosoft.com" }
    local b = list{ "--tenant", "fabrikam.onmicrosoft.com", "--max", "1" }
    assert.same(sorted(a), sorted(bash_complete{ "vpptoken", "--tenant", "contoso.onmicrosoft.com", "get", "" }))
    assert.same(b, bash_complete{ "vpptoken", "--tenant", "fabrikam.onmicrosoft.com", "get", "" })
  end)

  it("offers no ids from a listing older than idcache.MAX_AGE, or dated in the future", function()
    local ids = list()
    local f = assert(io.open(cache_file(), "r"))
    local doc = cjson.decode(f:read("*a"))
    f:close()
    assert.same(sorted(ids), sorted(bash_complete{ "vpptoken", "get", "" }))
    for _, shift in ipairs{ -idcache.MAX_AGE - 60, 3600 } do
      for _, p in ipairs(doc.places) do p.saved_at = os.time() + shift end
      write_cache(cjson.encode(doc))
      assert.same({}, bash_complete{ "vpptoken", "get", "" }, tostring(shift))
    end
  end)

  it("a corrupt, huge or hostile cache offers nothing, prints nothing, never hangs and runs nothing", function()
    local ids = list()
    local f = assert(io.open(cache_file(), "r"))
    local good = f:read("*a")
    f:close()
    local place = cjson.decode(good).places[1].place
    local function with_ids(list_of)
      return cjson.encode{ version = 1, places = { { place = place, saved_at = os.time(), ids = list_of } } }
    end
    local pwned = work .. "/pwned"
    local hostile = {
      "not json",
      "",
      string.rep("[", 100000),
      '{"version":1,"places":' .. string.rep("[", 2000) .. string.rep("]", 2000) .. '}',
      string.rep(" ", 2 * 1024 * 1024) .. good, -- over the read cap
      cjson.encode{ version = 2, places = cjson.decode(good).places },
      '{"version":1,"places":{"place":1}}',
      with_ids{ { "$(touch " .. pwned .. ")", "x" }, { "`touch " .. pwned .. "`", "x" } },
      with_ids{ { "a b", "x" }, { "a\nb", "x" }, { "-rf", "x" }, { string.rep("a", 65), "x" }, { 5, "x" },
                { "", "x" }, { "ab;touch " .. pwned, "x" }, { "a*", "x" }, { "~root", "x" } },
      with_ids{ "00000000-0000-0000-0000-000000000000" },
    }
    for i, text in ipairs(hostile) do
      write_cache(text)
      local code, out, err = run{ idcache.COMMAND }
      assert.equal(0, code, i)
      assert.equal("", out, i)
      assert.equal("", err, i)
      assert.same({}, bash_complete{ "vpptoken", "get", "" }, i)
    end
    assert.is_nil(io.open(pwned, "r"))
    -- the good ids next to hostile ones: only the good ones, labels made printable and short
    write_cache(with_ids{ { ids[1], "\27[31mred\7" .. string.rep("x", 200) }, { "$(reboot)", "x" }, { ids[2] } })
    local code, out = run{ idcache.COMMAND, "--labels" }
    assert.equal(0, code)
    assert.equal(ids[1] .. "\n" .. ids[2] .. "\n", out)
    -- a cache group or others may read, a symbolic link, a FIFO nobody writes to: nothing, at once
    write_cache(good, "644")
    assert.same({}, bash_complete{ "vpptoken", "get", "" })
    write_cache(good)
    assert(sh("mv " .. q(cache_file()) .. " " .. q(work .. "/real.json") .. " && ln -s " .. q(work .. "/real.json")
      .. " " .. q(cache_file())))
    assert.same({}, bash_complete{ "vpptoken", "get", "" })
    assert(sh("rm -f " .. q(cache_file()) .. " && mkfifo -m 600 " .. q(cache_file())))
    local t0 = os.time()
    assert.same({}, bash_complete{ "vpptoken", "get", "" })
    assert.is_true(os.time() - t0 < 5)
    -- another user's file (the specs run as root here: a file given to nobody)
    if sh("test \"$(id -u)\" = 0") then
      write_cache(good)
      assert(sh("chown nobody " .. q(cache_file())))
      assert.same({}, bash_complete{ "vpptoken", "get", "" })
    end
  end)

  it("writes the cache 0600 in a 0700 directory, atomically, bounded, and never a secret in it", function()
    local _, tokens = list()
    local ok, modes = sh("stat -c '%a' " .. q(cache_home .. "/vpptoken") .. " " .. q(cache_file()))
    assert(ok, modes)
    assert.equal("700\n600\n", modes)
    local f = assert(io.open(cache_file(), "r"))
    local text = f:read("*a")
    f:close()
    assert.not_matches(cli.ACCESS, text, 1, true)
    local code, out = run{ "list", "--output", "json", "--show-secrets" }
    assert.equal(0, code)
    for _, t in ipairs(cjson.decode(out)) do
      assert.is_string(t.token)
      assert.not_matches(t.token, text, 1, true)
    end
    local doc = cjson.decode(text)
    local keys = {}
    for k in pairs(doc) do keys[#keys + 1] = k end
    assert.same({ "places", "version" }, sorted(keys))
    for _, e in ipairs(doc.places[1].ids) do
      assert.is_true(#e <= 2)
      assert.is_true(#e[2] <= idcache.LIMITS.label_bytes)
    end
    assert.equal(#tokens, #doc.places[1].ids)
    -- no temporary file is left beside it
    local _, listing = sh("ls -a " .. q(cache_home .. "/vpptoken"))
    assert.equal(".\n..\nids.json\n", listing)
  end)

  it("keeps at most idcache.LIMITS.ids ids of a listing and LIMITS.places places", function()
    local function getenv(name) return name == "XDG_CACHE_HOME" and cache_home or nil end
    local many = {}
    for i = 1, idcache.LIMITS.ids + 500 do many[i] = { id = string.format("%08x-0000-0000-0000-000000000000", i) } end
    for i = 1, idcache.LIMITS.places + 3 do assert(idcache.save("place " .. i, many, os.time(), getenv)) end
    local last = "place " .. (idcache.LIMITS.places + 3)
    assert.equal(idcache.LIMITS.ids, #idcache.ids_for(last, os.time(), getenv))
    assert.same({}, idcache.ids_for("place 1", os.time(), getenv))
    local f = assert(io.open(cache_file(), "r"))
    assert.equal(idcache.LIMITS.places, #cjson.decode(f:read("*a")).places)
    f:close()
  end)

  it("a listing whose cache cannot be written still succeeds (an unusable cache directory)", function()
    assert(sh("mkdir -p " .. q(cache_home) .. " && touch " .. q(cache_home .. "/vpptoken")))
    local code, out, err = run{ "list" }
    assert.equal(0, code, err)
    assert.matches("5 tokens", out, 1, true)
    assert.equal("", err)
  end)
end)
